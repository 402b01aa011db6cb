import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
/** Git-ignored virtualenv for the Python readers that are not in the standard library. */
const VENV_DIR = path.join(REPO_ROOT, '.tools', 'readers-venv');
const VENV_PYTHON = path.join(VENV_DIR, 'bin', 'python');
/** stream-unzip: a streaming ZIP reader (it sees only the bytes as they come). Pinned. */
const PYTHON_PACKAGES = ['stream-unzip==0.0.101'];

function importsWork(): boolean {
  return (
    fs.existsSync(VENV_PYTHON) &&
    spawnSync(VENV_PYTHON, ['-c', 'import stream_unzip'], { stdio: 'ignore' }).status === 0
  );
}

/** The venv's python, created and given the readers' packages with pip when missing. */
export function ensureReadersVenv(): string {
  if (importsWork()) return VENV_PYTHON;
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
    if (run.status !== 0)
      throw new Error(
        `${command} ${args.join(' ')} failed (exit ${run.status}); the stream-unzip reader needs python3 with venv and pip`,
      );
  }
  if (!importsWork()) throw new Error(`${VENV_PYTHON} cannot import stream_unzip`);
  return VENV_PYTHON;
}
