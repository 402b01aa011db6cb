import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * The Python baselines' virtualenvs (git-ignored), one per baseline since both packages are
 * imported as `zipstream`, with their packages pinned so figures stay comparable between runs.
 */
export const PYTHON_VENVS = {
  // zipstream-ng, maintained (the older `zipstream` has had no release since 2016).
  zipstream: {
    dir: path.join(REPO_ROOT, '.tools', 'bench-venv'),
    packages: ['zipstream-ng==1.9.3', 'boto3==1.44.8'],
  },
  // The seed recipe's own versions, as it names them: zipstream 1.1.4 and boto3 1.38.19.
  seed: {
    dir: path.join(REPO_ROOT, '.tools', 'bench-venv-seed'),
    packages: ['zipstream==1.1.4', 'boto3==1.38.19'],
  },
} as const;
export type PythonVenv = keyof typeof PYTHON_VENVS;

function pythonOf(venv: PythonVenv): string {
  return path.join(PYTHON_VENVS[venv].dir, 'bin', 'python');
}

/** Whether the venv has exactly the pinned versions installed. */
function pinned(venv: PythonVenv): boolean {
  const python = pythonOf(venv);
  const pins = PYTHON_VENVS[venv].packages.map((p) => p.split('=='));
  const check = `import importlib.metadata as m, sys; sys.exit(any(m.version(n) != v for n, v in ${JSON.stringify(pins)}))`;
  return (
    fs.existsSync(python) && spawnSync(python, ['-c', check], { stdio: 'ignore' }).status === 0
  );
}

/** Creates a Python baseline's venv and installs its pinned packages with pip when missing. */
export function ensurePythonVenv(venv: PythonVenv, log: (line: string) => void): string {
  const python = pythonOf(venv);
  if (pinned(venv)) return python;
  const { dir, packages } = PYTHON_VENVS[venv];
  log(`creating ${path.relative(REPO_ROOT, dir)} with ${packages.join(', ')}`);
  const steps: string[][] = [
    ['python3', '-m', 'venv', '--clear', dir],
    [python, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...packages],
  ];
  for (const [command, ...args] of steps) {
    const run = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (run.status !== 0) {
      throw new Error(
        `${command} ${args.join(' ')} failed (exit ${run.status}); the Python baselines need python3 with venv and pip`,
      );
    }
  }
  if (!pinned(venv)) throw new Error(`${python} does not have ${packages.join(', ')}`);
  return python;
}
