import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const bin = path.resolve(__dirname, '../../bin/zipflow.js');

/** A worker in its own process (`zipflow worker`), so a test can SIGKILL it like a crash. */
export function startWorkerProcess(
  taskQueue: string,
  nodeOptions: string[] = [],
  env: Record<string, string> = {},
): ChildProcess {
  return spawn(process.execPath, [...nodeOptions, bin, 'worker'], {
    env: { ...process.env, ...env, ZIPFLOW_TASK_QUEUE: taskQueue },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
