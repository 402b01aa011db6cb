import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** Git-ignored virtualenv for the Python baseline. */
export const VENV_DIR = path.join(REPO_ROOT, '.tools', 'bench-venv');
export const VENV_PYTHON = path.join(VENV_DIR, 'bin', 'python');
/**
 * zipstream-ng (maintained; the older `zipstream` package has had no release since 2016) and
 * boto3, pinned so figures stay comparable between runs.
 */
export const PYTHON_PACKAGES = ['zipstream-ng==1.9.3', 'boto3==1.44.8'];

function importsWork(): boolean {
  return (
    fs.existsSync(VENV_PYTHON) &&
    spawnSync(VENV_PYTHON, ['-c', 'import zipstream, boto3'], { stdio: 'ignore' }).status === 0
  );
}

/** Creates the venv and installs the Python baseline's packages with pip when missing. */
export function ensurePythonVenv(log: (line: string) => void): string {
  if (importsWork()) return VENV_PYTHON;
  log(`creating ${path.relative(REPO_ROOT, VENV_DIR)} with ${PYTHON_PACKAGES.join(', ')}`);
  const steps: string[][] = [
    ['python3', '-m', 'venv', VENV_DIR],
    [
      VENV_PYTHON,
      '-m',
      'pip',
      'install',
      '--quiet',
      '--disable-pip-version-check',
      ...PYTHON_PACKAGES,
    ],
  ];
  for (const [command, ...args] of steps) {
    const run = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (run.status !== 0) {
      throw new Error(
        `${command} ${args.join(' ')} failed (exit ${run.status}); the Python baseline needs python3 with venv and pip`,
      );
    }
  }
  if (!importsWork()) throw new Error(`${VENV_PYTHON} cannot import zipstream and boto3`);
  return VENV_PYTHON;
}
