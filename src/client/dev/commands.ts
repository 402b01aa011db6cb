import fs from 'node:fs';
import path from 'node:path';
import {
  exportLines,
  isAlive,
  readStackState,
  startStack,
  stopStack,
  type StackState,
} from './stack';

/** Where `zipflow dev up` keeps the stack it started (git-ignored). */
export function devStackDir(): string {
  return process.env.ZIPFLOW_DEV_DIR || path.join(process.cwd(), '.zipflow', 'dev');
}

function running(dir: string): StackState | undefined {
  const state = readStackState(dir);
  return state && isAlive(state.temporal.pid) && isAlive(state.minio.pid) ? state : undefined;
}

/** Starts the local stack in the background (or finds the running one); returns export lines. */
export async function devUp(log: (line: string) => void): Promise<string> {
  const dir = devStackDir();
  const existing = running(dir);
  if (existing) return exportLines(existing.env);
  const stale = readStackState(dir);
  if (stale) await stopStack(stale);
  fs.mkdirSync(dir, { recursive: true });
  const state = await startStack({ dir, log });
  return exportLines(state.env);
}

export async function devDown(): Promise<boolean> {
  const state = readStackState(devStackDir());
  if (!state) return false;
  await stopStack(state);
  return true;
}

export function devStatus(): { running: boolean; state?: StackState } {
  const dir = devStackDir();
  const state = running(dir);
  return state ? { running: true, state } : { running: false };
}
