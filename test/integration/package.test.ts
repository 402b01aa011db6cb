import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { connect, isNoNewObjects, startArchive, waitForArchive } from '../../src/client';
import { s3, tempBucket, uniqueName } from '../support/env';
import { killHard } from '../support/workerProcess';

// The package as an app gets it: `npm pack`, installed from the tarball into a fresh app
// (offline, from the npm cache), used once from plain JavaScript and once from TypeScript
// type-checked against the shipped declarations, each driving a real run on the real stack.

const root = path.resolve(__dirname, '../..');
const run = promisify(execFile);
const npm = (args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> =>
  run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
const version = (name: string): string =>
  (
    JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
let app: string;

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (let i = 0; i < 3; i++)
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: `in/${i}.txt`,
        Body: crypto.randomBytes(1000 + i),
      }),
    );
  app = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-app-'));
  const packed = await npm(['pack', '--pack-destination', app], root);
  const tarball = path.join(app, packed.stdout.trim().split('\n').pop()!);
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'zipflow-app', version: '1.0.0', private: true }),
  );
  await npm(['install', tarball], app);
});

after(async () => {
  if (app) fs.rmSync(app, { recursive: true, force: true });
  await source?.remove();
  await destination?.remove();
});

// The app's worker runs zipflow's workflows and activities next to a workflow and an activity
// of its own, and its client starts an archive run, watches it, verifies the archive and
// runs its own workflow too. The same program in both languages (types stripped for .js).
const workflowsTs = `export * from 'zipflow/workflows';
import { proxyActivities } from '@temporalio/workflow';
import type { shout as Shout } from './activities';

const { shout } = proxyActivities<{ shout: typeof Shout }>({ startToCloseTimeout: '1 minute' });

export async function greet(name: string): Promise<string> {
  return shout(\`hello \${name}\`);
}
`;
const activitiesTs = `export async function shout(text: string): Promise<string> {
  return text.toUpperCase();
}
`;
const appTs = `import { NativeConnection, Worker } from '@temporalio/worker';
import {
  connect,
  startArchive,
  waitForArchive,
  verifyArchive,
  isNoNewObjects,
  type ArchiveProgress,
  type ArchiveRequest,
} from 'zipflow';
import { createActivities, recommendedWorkerOptions } from 'zipflow/worker';
import { shout } from './activities';

async function main(): Promise<void> {
  const [sourceBucket, destinationBucket, key, taskQueue] = process.argv.slice(2);
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: require.resolve('./workflows'),
    activities: { ...createActivities(), shout },
    ...recommendedWorkerOptions(),
  });
  const client = await connect({ taskQueue });
  const seen: ArchiveProgress[] = [];
  try {
    const out = await worker.runUntil(async () => {
      const request: ArchiveRequest = {
        source: { bucket: sourceBucket, prefix: 'in/' },
        destination: { bucket: destinationBucket, key },
      };
      const handle = await startArchive(client, request);
      const result = await waitForArchive(client, handle.workflowId, (p) => seen.push(p), 200);
      if (isNoNewObjects(result)) throw new Error('no archive made');
      const report = await verifyArchive({ bucket: result.bucket, key: result.key });
      const greeting = await client.temporal.workflow.execute('greet', {
        taskQueue,
        workflowId: \`greet-\${key}\`,
        args: ['zipflow'],
      });
      return { entries: result.entries, verified: report.ok, greeting, phases: seen.map((p) => p.phase) };
    });
    console.log(JSON.stringify(out));
  } finally {
    await client.close();
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
`;

// The same program as an app would write it in plain JavaScript.
const workflowsJs = `const { proxyActivities } = require('@temporalio/workflow');

const { shout } = proxyActivities({ startToCloseTimeout: '1 minute' });

module.exports = {
  ...require('zipflow/workflows'),
  async greet(name) {
    return shout(\`hello \${name}\`);
  },
};
`;
const activitiesJs = `exports.shout = async (text) => text.toUpperCase();
`;
/** The app in JavaScript: the TypeScript one with its type annotations taken out. */
const appJs = appTs
  .replace(/^import \{([^}]*)\} from '([^']+)';$/gm, (_, names: string, from: string) => {
    const values = names
      .split(',')
      .map((n) => n.trim())
      .filter((n) => n && !n.startsWith('type '));
    return `const { ${values.join(', ')} } = require('${from}');`;
  })
  .replace(': Promise<void>', '')
  .replace('(err: unknown)', '(err)')
  .replace('const seen: ArchiveProgress[] = []', 'const seen = []')
  .replace('const request: ArchiveRequest = ', 'const request = ');

async function runApp(dir: string, main: string, key: string): Promise<unknown> {
  const taskQueue = uniqueName('tq-app');
  const { stdout } = await run(
    process.execPath,
    [main, source.name, destination.name, key, taskQueue],
    { cwd: dir, env: process.env, maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

const expected = (phases: unknown): object => ({
  entries: 3,
  verified: true,
  greeting: 'HELLO ZIPFLOW',
  phases,
});

test('the installed package has compiled JavaScript and declarations, and no TypeScript or tsx to run', () => {
  const pkg = path.join(app, 'node_modules', 'zipflow');
  for (const file of ['dist/client/index.js', 'dist/client/index.d.ts', 'dist/worker.d.ts'])
    assert.ok(fs.existsSync(path.join(pkg, file)), file);
  assert.ok(!fs.existsSync(path.join(pkg, 'src')), 'no sources');
  assert.ok(!fs.existsSync(path.join(app, 'node_modules', 'tsx')), 'tsx is not installed');
  assert.ok(!fs.existsSync(path.join(app, 'node_modules', 'typescript')), 'nor TypeScript');
});

test('a plain JavaScript app: its own worker with zipflow next to its own workflow, and a run through the client', async () => {
  const dir = path.join(app, 'js');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'workflows.js'), workflowsJs);
  fs.writeFileSync(path.join(dir, 'activities.js'), activitiesJs);
  fs.writeFileSync(path.join(dir, 'app.js'), appJs);
  const out = (await runApp(dir, 'app.js', `${uniqueName('js')}.zip`)) as { phases: string[] };
  assert.deepEqual(out, expected(out.phases));
  assert.ok(out.phases.length > 0, 'progress was reported while it ran');
  // The CLI of the package runs its compiled code.
  const { stdout } = await run(process.execPath, [
    path.join(app, 'node_modules', '.bin', 'zipflow'),
    '--help',
  ]);
  assert.match(stdout, /Usage: zipflow/);
});

test('a TypeScript app type-checks against the declarations and runs the same', async () => {
  await npm(
    ['install', `typescript@${version('typescript')}`, `@types/node@${version('@types/node')}`],
    app,
  );
  const dir = path.join(app, 'ts');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'workflows.ts'), workflowsTs);
  fs.writeFileSync(path.join(dir, 'activities.ts'), activitiesTs);
  fs.writeFileSync(path.join(dir, 'app.ts'), appTs);
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'Node16',
        moduleResolution: 'Node16',
        strict: true,
        // As apps do: @temporalio/common's own declarations import 'ms' without its types.
        skipLibCheck: true,
        types: ['node'],
        outDir: 'out',
      },
      include: ['*.ts'],
    }),
  );
  const tsc = path.join(app, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [tsc, '-p', dir]).catch((err: { stdout?: string }) => {
    throw new Error(`tsc failed:\n${err.stdout ?? String(err)}`);
  });
  // A type error is caught: the declarations are what the check used.
  fs.writeFileSync(
    path.join(dir, 'wrong.ts'),
    "import { startArchive } from 'zipflow';\nexport const x: number = startArchive;\n",
  );
  await assert.rejects(
    run(process.execPath, [tsc, '-p', dir, '--noEmit']),
    (err: { stdout?: string }) => /wrong\.ts.*TS2322/.test(err.stdout ?? ''),
  );
  fs.rmSync(path.join(dir, 'wrong.ts'));
  const out = (await runApp(path.join(dir, 'out'), 'app.js', `${uniqueName('ts')}.zip`)) as {
    phases: string[];
  };
  assert.deepEqual(out, expected(out.phases));
  assert.ok(out.phases.length > 0, 'progress was reported while it ran');
});

/** The Dockerfile's last CMD (exec form) and its ENV settings. */
function dockerfile(): { cmd: string[]; env: Record<string, string> } {
  const lines = fs
    .readFileSync(path.join(root, 'Dockerfile'), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim());
  const cmd = lines.filter((l) => l.startsWith('CMD ')).pop();
  assert.ok(cmd, 'the Dockerfile has a CMD');
  const env: Record<string, string> = {};
  for (const l of lines.filter((l) => l.startsWith('ENV ')))
    for (const m of l.slice(4).matchAll(/(\w+)=("([^"]*)"|\S+)/g)) env[m[1]] = m[3] ?? m[2];
  return { cmd: JSON.parse(cmd.slice(4)) as string[], env };
}

test("the Docker image's worker: the Dockerfile's CMD runs from the package's compiled files and archives", async () => {
  // The image is the package's files (package.json, bin/, dist/) with its production
  // dependencies in WORKDIR: the installed package is the same, its dependencies beside it.
  const { cmd, env } = dockerfile();
  assert.equal(cmd[0], 'node');
  const pkg = path.join(app, 'node_modules', 'zipflow');
  for (const arg of cmd.slice(1).filter((a) => /\.js$/.test(a)))
    assert.ok(fs.existsSync(path.join(pkg, arg)), `${arg} (the image's CMD) is in the build`);
  const taskQueue = uniqueName('tq-image');
  const worker = spawn(process.execPath, cmd.slice(1), {
    cwd: pkg,
    env: { ...process.env, ...env, ZIPFLOW_TASK_QUEUE: taskQueue },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  worker.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const zipflow = await connect({ taskQueue });
  try {
    const key = `${uniqueName('image')}.zip`;
    const handle = await startArchive(zipflow, {
      source: { bucket: source.name, prefix: 'in/' },
      destination: { bucket: destination.name, key },
    });
    const result = await Promise.race([
      waitForArchive(zipflow, handle.workflowId, () => {}),
      new Promise<never>((_, reject) =>
        worker.once('exit', (code) => reject(new Error(`the worker exited (${code}): ${stderr}`))),
      ),
    ]);
    assert.ok(!isNoNewObjects(result));
    assert.equal(result.entries, 3);
    assert.equal(worker.exitCode, null, 'the worker keeps running');
  } finally {
    await zipflow.close();
    await killHard(worker);
  }
});
