import fs from 'node:fs';
import path from 'node:path';
import {
  exportLines,
  isAlive,
  readStackState,
  startStack,
  stopStack,
  type StackState,
  type StoreName,
} from './stack';

/** Where `zipflow dev up` keeps the stack it started (git-ignored). */
export function devStackDir(): string {
  return process.env.ZIPFLOW_DEV_DIR || path.join(process.cwd(), '.zipflow', 'dev');
}

function running(dir: string): StackState | undefined {
  const state = readStackState(dir);
  const pids = [state?.temporal.pid, state?.minio.pid, state?.seaweedfs?.pid];
  return state && pids.every((pid) => pid === undefined || isAlive(pid)) ? state : undefined;
}

/**
 * Starts the local stack in the background (or finds the running one with the same store);
 * returns export lines. With store "seaweedfs", SeaweedFS runs too and the AWS_* settings
 * point at it.
 */
export async function devUp(
  log: (line: string) => void,
  store: StoreName = 'minio',
): Promise<string> {
  const dir = devStackDir();
  const existing = running(dir);
  if (existing && (existing.store ?? 'minio') === store) return exportLines(existing.env);
  const stale = readStackState(dir);
  if (stale) await stopStack(stale);
  fs.mkdirSync(dir, { recursive: true });
  const state = await startStack({ dir, log, stores: [store] });
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
