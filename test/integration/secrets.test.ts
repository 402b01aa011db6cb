/**
 * No secrets in Temporal (DESIGN invariant 7): runs that succeed, fail and heartbeat on a
 * worker process whose output is captured, then every byte Temporal keeps of them — full
 * histories with decoded payloads, pending activities' heartbeat details, results and
 * failures — and everything the worker printed is searched for each credential value.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ENV } from '../../src/runtime/config';
import { MiB } from '../../src/shared/limits';
import { type ArchiveRequest } from '../../src/shared/request';
import { slowText } from '../support/archive';
import { s3, tempBucket, temporalClient, uniqueName } from '../support/env';
import { killHard, startWorkerProcess } from '../support/workerProcess';

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
let temporal: Client;
let closeTemporal: () => Promise<void>;
let worker: ChildProcess;
let workerOutput = '';
let profileDir: string;
const taskQueue = uniqueName('tq-secrets');
const random = (n: number): string => crypto.randomBytes(n).toString('base64url');

/** Every credential value the worker can see; none may leave it. */
const secrets: Record<string, string> = {
  AWS_ACCESS_KEY_ID: process.env[ENV.accessKeyId] ?? '',
  AWS_SECRET_ACCESS_KEY: process.env[ENV.secretAccessKey] ?? '',
  // Set in the worker's environment only: the runs use profiles, so the SDK never sends it.
  AWS_SESSION_TOKEN: `ZFSESSION${random(24)}`,
  'profile zf-refused secret': random(30),
  'profile zf-spare key id': `ZFSPARE${crypto.randomBytes(6).toString('hex').toUpperCase()}`,
  'profile zf-spare secret': random(30),
  'profile zf-spare session token': random(48),
};

before(async () => {
  assert.ok(
    secrets.AWS_ACCESS_KEY_ID && secrets.AWS_SECRET_ACCESS_KEY,
    'the stack sets credentials',
  );
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  await client.send(
    new PutObjectCommand({ Bucket: source.name, Key: 'small/a.txt', Body: 'alpha\n' }),
  );
  for (let i = 0; i < 3; i++) {
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: `slow/${i}.log`,
        Body: slowText(i, 6 * MiB),
      }),
    );
  }
  // The runs name profiles; the profile files hold the credentials, as on a real worker.
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-secrets-'));
  fs.writeFileSync(
    path.join(profileDir, 'config'),
    '[profile zf-store]\nregion = us-east-1\n[profile zf-refused]\nregion = us-east-1\n[profile zf-spare]\nregion = us-east-1\n',
  );
  fs.writeFileSync(
    path.join(profileDir, 'credentials'),
    [
      `[zf-store]\naws_access_key_id = ${secrets.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${secrets.AWS_SECRET_ACCESS_KEY}`,
      `[zf-refused]\naws_access_key_id = ZFREFUSED${crypto.randomBytes(6).toString('hex').toUpperCase()}\naws_secret_access_key = ${secrets['profile zf-refused secret']}`,
      `[zf-spare]\naws_access_key_id = ${secrets['profile zf-spare key id']}\naws_secret_access_key = ${secrets['profile zf-spare secret']}\naws_session_token = ${secrets['profile zf-spare session token']}`,
      '',
    ].join('\n'),
  );
  worker = startWorkerProcess(taskQueue, [], {
    pipeOutput: true,
    env: {
      AWS_CONFIG_FILE: path.join(profileDir, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(profileDir, 'credentials'),
      AWS_SESSION_TOKEN: secrets.AWS_SESSION_TOKEN,
    },
  });
  worker.stdout!.on('data', (chunk: Buffer) => (workerOutput += chunk.toString('utf8')));
  worker.stderr!.on('data', (chunk: Buffer) => (workerOutput += chunk.toString('utf8')));
  ({ client: temporal, close: closeTemporal } = await temporalClient());
});

after(async () => {
  await killHard(worker);
  await closeTemporal();
  await source.remove();
  await destination.remove();
  fs.rmSync(profileDir, { recursive: true, force: true });
});

/** All text in a value: strings, and byte arrays (payload data) decoded as UTF-8. */
function textOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) for (const v of value) textOf(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) textOf(v, out);
  }
  return out;
}

function request(key: string, change: (r: ArchiveRequest) => void = () => {}): ArchiveRequest {
  const r: ArchiveRequest = {
    source: { bucket: source.name, prefix: 'small/', profile: 'zf-store' },
    destination: { bucket: destination.name, key, profile: 'zf-store' },
  };
  change(r);
  return r;
}

async function start(req: ArchiveRequest): Promise<WorkflowHandle> {
  return temporal.workflow.start('archive', {
    taskQueue,
    workflowId: uniqueName('zipflow-secrets'),
    args: [req],
  });
}

/** Its outcome (result or failure) as kept by Temporal, with its full history. */
async function outcomeAndHistory(handle: WorkflowHandle): Promise<string[]> {
  const outcome = await handle.result().then(
    (result: unknown) => JSON.stringify(result),
    (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      return `${err.cause?.message} ${JSON.stringify(err.cause)}`;
    },
  );
  const history = await handle.fetchHistory();
  return [outcome, ...textOf(history)];
}

test('no credential value is in any run’s history, heartbeat details, result, failure or the worker’s output', async () => {
  const kept: string[] = [];

  // A run that succeeds (and reads its archive back).
  const ok = await start(request(`${uniqueName('ok')}.zip`, (r) => (r.verify = true)));
  kept.push(...(await outcomeAndHistory(ok)));

  // Runs that fail: an object that is not there, and credentials the store refuses.
  const missing = await start(
    request(`${uniqueName('missing')}.zip`, (r) => (r.source.keys = ['small/none.txt'])),
  );
  kept.push(...(await outcomeAndHistory(missing)));
  const refused = await start(
    request(`${uniqueName('refused')}.zip`, (r) => (r.source.profile = 'zf-refused')),
  );
  kept.push(...(await outcomeAndHistory(refused)));

  // A run long enough to heartbeat: its pending activity's details, as describe shows them.
  const slow = await start(
    request(`${uniqueName('slow')}.zip`, (r) => {
      r.source.prefix = 'slow/';
      r.compression = { method: 'deflate', level: 9 };
      r.partSize = 5 * MiB;
      r.uploadConcurrency = 1;
    }),
  );
  let heartbeats = 0;
  for (;;) {
    const description = await slow.describe();
    if (description.status.name !== 'RUNNING') break;
    for (const activity of description.raw.pendingActivities ?? []) {
      if (activity.heartbeatDetails?.payloads?.length) {
        heartbeats += 1;
        kept.push(...textOf(activity));
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  kept.push(...(await outcomeAndHistory(slow)));
  assert.ok(heartbeats > 0, 'heartbeat details were seen while the stream ran');

  const temporalText = kept.join('\n');
  // The search finds what is there: profile names and the heartbeat checkpoint.
  assert.ok(temporalText.includes('zf-store'), 'requests (decoded payloads) are searched');
  assert.ok(temporalText.includes('uploadId'), 'heartbeat details are searched');
  assert.match(temporalText, /AccessDenied/);
  assert.ok(workerOutput.length > 0, 'the worker printed something');

  for (const [name, value] of Object.entries(secrets)) {
    assert.ok(!temporalText.includes(value), `${name} is in what Temporal keeps`);
    assert.ok(!workerOutput.includes(value), `${name} is in the worker's output`);
  }
});
