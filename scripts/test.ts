/**
 * `npm test`: brings up the real local stack (Temporal dev server, MinIO and SeaweedFS, built
 * once per machine), runs every test file against it with node's test runner, and always stops the
 * stack, also when tests fail or the run is interrupted.
 *
 *   npm test                 unit + integration + slow tiers
 *   npm test -- --fast       unit + integration only
 *   npm test -- FILE...      only these files
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  startStack,
  stopStack,
  storeEnvNames,
  STORES,
  type StackState,
} from '../src/client/dev/stack';
import { ENV } from '../src/runtime/config';
import { createS3Client } from '../src/s3/client';
import { leftoversEverywhere } from '../test/support/leftovers';
import { STORE_MATRIX } from '../test/support/stores';
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

/** Open multipart uploads and state objects in any bucket of every store, once the tests ended. */
async function leftovers(env: Record<string, string>): Promise<string[]> {
  const found: string[] = [];
  for (const store of STORES) {
    const names = storeEnvNames(store);
    if (!env[names.endpoint]) continue;
    // The one S3 client factory reads the store from here.
    Object.assign(process.env, env, {
      [ENV.s3Endpoint]: env[names.endpoint],
      [ENV.accessKeyId]: env[names.accessKeyId],
      [ENV.secretAccessKey]: env[names.secretAccessKey],
    });
    found.push(...(await leftoversEverywhere(await createS3Client())).map((l) => `${store}: ${l}`));
  }
  return found;
}

/**
 * The failed tests in a TAP report, one line each with where and why. The run's own output is
 * long (worker logs), and a CI log may keep only its end: the summary is printed last.
 */
function failuresIn(tapFile: string): string[] {
  if (!fs.existsSync(tapFile)) return [`no report at ${tapFile}`];
  const failed: string[] = [];
  let current: { name: string; location?: string; error?: string; leaf: boolean } | undefined;
  const flush = (): void => {
    if (current?.leaf) {
      failed.push(`${current.name} (${current.location ?? 'no location'}): ${current.error ?? ''}`);
    }
    current = undefined;
  };
  for (const line of fs.readFileSync(tapFile, 'utf8').split('\n')) {
    const notOk = /^\s*not ok \d+ - (.*)$/.exec(line);
    if (notOk) {
      flush();
      current = { name: notOk[1] ?? '', leaf: true };
      continue;
    }
    if (!current) continue;
    if (current.error === '|-') {
      // A message of several lines is a YAML block: its first line says what failed.
      current.error = line.trim().slice(0, 300);
      continue;
    }
    const field = /^\s*(location|error|failureType): (.*)$/.exec(line);
    if (field?.[1] === 'location') current.location = field[2];
    if (field?.[1] === 'error') current.error = field[2]?.slice(0, 300);
    // A suite or file fails because a test inside it did: that test is listed itself.
    if (field?.[1] === 'failureType' && field[2] === "'subtestsFailed'") current.leaf = false;
    if (/^\s*\.\.\.$/.test(line)) flush();
  }
  flush();
  return failed;
}

/** Runs test files with node's test runner, in a process group of their own. */
function runTests(
  files: string[],
  env: Record<string, string>,
  report: string,
  started: (child: ChildProcess) => void,
): Promise<number> {
  fs.mkdirSync(path.dirname(report), { recursive: true });
  // A report left by an earlier run would name its failures if this run wrote none.
  fs.rmSync(report, { force: true });
  return new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        '--test-timeout=900000',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${report}`,
        ...files,
      ],
      { cwd: root, stdio: 'inherit', detached: true, env: { ...process.env, ...env, TZ: 'UTC' } },
    );
    started(child);
    child.on('exit', (c, s) => resolve(c ?? (s ? 128 : 1)));
  });
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
    stack = await startStack({ log, stores: STORES });
    log(`stack ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const files = testFiles(process.argv.slice(2));
    const report = path.join(root, 'test-artifacts', 'minio.tap');
    let code = await runTests(files, { ...stack.env, ZIPFLOW_TEST_STORE: 'minio' }, report, (c) => {
      runner = c;
    });
    const failed = code === 0 ? [] : failuresIn(report).map((f) => `minio: ${f}`);
    // The store matrix: the files that touch S3 behaviour run again against SeaweedFS.
    const matrix = files.filter((f) =>
      STORE_MATRIX.includes(path.relative(root, path.resolve(root, f))),
    );
    if (matrix.length > 0 && stack.seaweedfs) {
      log(`store matrix: ${matrix.length} file(s) again against SeaweedFS`);
      const names = storeEnvNames('seaweedfs');
      const seaweedfs = {
        ...stack.env,
        [ENV.s3Endpoint]: stack.env[names.endpoint],
        [ENV.accessKeyId]: stack.env[names.accessKeyId],
        [ENV.secretAccessKey]: stack.env[names.secretAccessKey],
        ZIPFLOW_TEST_STORE: 'seaweedfs',
      };
      const matrixReport = path.join(root, 'test-artifacts', 'seaweedfs.tap');
      const again = await runTests(matrix, seaweedfs, matrixReport, (c) => {
        runner = c;
      });
      if (again !== 0) failed.push(...failuresIn(matrixReport).map((f) => `seaweedfs: ${f}`));
      if (code === 0) code = again;
    }
    log(`tests finished in ${((Date.now() - started) / 1000).toFixed(0)} s (exit ${code})`);
    if (failed.length > 0) log(`failed tests:\n  ${failed.join('\n  ')}`);
    const left = await leftovers(stack.env);
    if (left.length > 0) {
      log(`runs left ${left.length} things behind (DESIGN invariant 5):\n  ${left.join('\n  ')}`);
      return code === 0 ? 1 : code;
    }
    log('no multipart upload and no .zipflow/state/ object left in any bucket of any store');
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
