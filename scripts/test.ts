/**
 * `npm test`: brings up the real local stack (Temporal dev server + MinIO, built once per
 * machine), runs every test file against it with node's test runner, and always stops the
 * stack, also when tests fail or the run is interrupted.
 *
 *   npm test                 unit + integration + slow tiers
 *   npm test -- --fast       unit + integration only
 *   npm test -- FILE...      only these files
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, stopStack, type StackState } from '../src/client/dev/stack';
import { createS3Client } from '../src/s3/client';
import { leftoversEverywhere } from '../test/support/leftovers';
import { ensureSystemPackages } from './system';

const root = path.resolve(__dirname, '..');
const log = (line: string): void => console.error(`[zipflow] ${line}`);

function testFiles(args: string[]): string[] {
  const named = args.filter((a) => !a.startsWith('--'));
  if (named.length > 0) return named;
  const tiers = ['unit', 'integration', ...(args.includes('--fast') ? [] : ['slow'])];
  return tiers.flatMap((tier) => {
    const dir = path.join(root, 'test', tier);
    return fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => f.endsWith('.test.ts'))
          .sort()
          .map((f) => path.join('test', tier, f))
      : [];
  });
}

/** Open multipart uploads and state objects in any bucket of the stack, once the tests ended. */
async function leftovers(env: Record<string, string>): Promise<string[]> {
  Object.assign(process.env, env); // the one S3 client factory reads the stack from here
  return leftoversEverywhere(await createS3Client());
}

async function main(): Promise<number> {
  const started = Date.now();
  ensureSystemPackages(log);
  let stack: StackState | undefined;
  let runner: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    // The runner leads its own process group: its test files and the workers they spawned.
    if (runner?.pid !== undefined) {
      try {
        process.kill(-runner.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    const s = stack;
    stack = undefined;
    if (s) await stopStack(s);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => void stop().finally(() => process.exit(130)));
  }
  try {
    stack = await startStack({ log });
    log(`stack ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const files = testFiles(process.argv.slice(2));
    const code = await new Promise<number>((resolve) => {
      const child = (runner = spawn(
        process.execPath,
        ['--import', 'tsx', '--test', '--test-timeout=900000', ...files],
        {
          cwd: root,
          stdio: 'inherit',
          detached: true,
          env: { ...process.env, ...stack!.env, TZ: 'UTC' },
        },
      ));
      child.on('exit', (c, s) => resolve(c ?? (s ? 128 : 1)));
    });
    log(`tests finished in ${((Date.now() - started) / 1000).toFixed(0)} s (exit ${code})`);
    const left = await leftovers(stack.env);
    if (left.length > 0) {
      log(`runs left ${left.length} things behind (DESIGN invariant 5):\n  ${left.join('\n  ')}`);
      return code === 0 ? 1 : code;
    }
    log('no multipart upload and no .zipflow/state/ object left in any bucket');
    return code;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
