/**
 * Bad input, one table: every way a request (or a command line) can be wrong fails fast,
 * with the failure named, the field and the fix in the message, without retries, and with
 * nothing left behind. Rows that need no service are in test/unit/request.test.ts; duplicate
 * names after flattening and globs that do not parse are in selection.test.ts.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { HeadBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { ENV } from '../../src/runtime/config';
import { GiB, MiB, TiB } from '../../src/shared/limits';
import { type ArchiveRequest } from '../../src/shared/request';
import type { PlanState } from '../../src/workflows/archive';
import { createWorker } from '../../src/worker';
import { keysUnder } from '../support/archive';
import { leftoversIn } from '../support/leftovers';
import { s3, tempBucket, temporalClient, uniqueName } from '../support/env';

const bin = path.resolve(__dirname, '../../bin/zipflow.js');
/** A run refused for bad input ends in seconds; retries (backoff 1 s, 2 s, 4 s, …) would not. */
const FAST_MS = 20_000;

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
let temporal: Client;
let closeTemporal: () => Promise<void>;
let worker: Worker;
let workerDone: Promise<void>;
let closeWorker: () => Promise<void>;
let taskQueue: string;
let profileDir: string;
const saved = {
  config: process.env.AWS_CONFIG_FILE,
  credentials: process.env.AWS_SHARED_CREDENTIALS_FILE,
};
const missingBucket = uniqueName('no-such-bucket');

before(async () => {
  // A real profile whose credentials MinIO does not know: well-formed, refused with
  // InvalidAccessKeyId (403), as an unknown or revoked AWS key is.
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-badinput-'));
  fs.writeFileSync(path.join(profileDir, 'config'), '[profile zf-refused]\nregion = us-east-1\n');
  fs.writeFileSync(
    path.join(profileDir, 'credentials'),
    `[zf-refused]\naws_access_key_id = ZFREFUSED${crypto.randomBytes(6).toString('hex').toUpperCase()}\naws_secret_access_key = ${crypto.randomBytes(30).toString('base64url')}\n`,
  );
  process.env.AWS_CONFIG_FILE = path.join(profileDir, 'config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(profileDir, 'credentials');

  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  const objects: Record<string, string> = {
    'data/a.txt': 'alpha',
    // MinIO keeps a backslash in a key (it refuses "..", "." and "//" segments, and drops a
    // leading "/"), so this is the entry name a real listing can bring that ZIP cannot hold.
    'odd/back\\slash.txt': 'backslash',
    // Keys both stores of the matrix keep as they are, and list back unchanged.
    'drive/C:/boot.ini': 'drive letter',
    'bidi/invoice\u202Etxt.exe': 'bidi override',
    'nfc/caf\u00e9.txt': 'composed',
    'nfc/cafe\u0301.txt': 'decomposed',
  };
  for (const [key, body] of Object.entries(objects)) {
    await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
  }
  await client.send(
    new PutObjectCommand({ Bucket: destination.name, Key: 'lists/keys.txt', Body: 'data/a.txt\n' }),
  );

  ({ client: temporal, close: closeTemporal } = await temporalClient());
  taskQueue = uniqueName('tq-badinput');
  const running = await createWorker({ taskQueue });
  worker = running.worker;
  workerDone = worker.run();
  closeWorker = () => running.connection.close();
});

after(async () => {
  worker.shutdown();
  await workerDone;
  await closeWorker();
  await closeTemporal();
  await source.remove();
  await destination.remove();
  fs.rmSync(profileDir, { recursive: true, force: true });
  for (const [name, value] of [
    ['AWS_CONFIG_FILE', saved.config],
    ['AWS_SHARED_CREDENTIALS_FILE', saved.credentials],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

function request(key: string, change: (r: ArchiveRequest) => void = () => {}): ArchiveRequest {
  const r: ArchiveRequest = {
    source: { bucket: source.name, prefix: 'data/' },
    destination: { bucket: destination.name, key },
  };
  change(r);
  return r;
}

/**
 * Planning state as a continued run receives it (the workflow's second argument), with the
 * sizes of a listing too large to store here: how the size checks after planning are
 * reached against real Temporal and MinIO without writing 50 GiB or 5 TiB of objects.
 */
function largePlan(bytes: number): PlanState {
  return {
    statePrefix: `.zipflow/state/${uniqueName('large')}/`,
    startedAt: Date.now(),
    chunks: 0,
    entries: 1,
    bytes,
    nameBytes: 16,
    pagesPerRun: 1000,
  };
}

interface Row {
  name: string;
  /** The request (unvalidated: the Web UI and any SDK can send anything). */
  request: (key: string) => unknown;
  plan?: PlanState;
  type: string;
  /** The field and the fix, in the failure's message. */
  message: RegExp;
  /** How many activity tasks may start (0 when validation refuses the request). */
  activities?: 'none' | 'some';
}

const rows: Row[] = [
  {
    name: 'a part size over 5 GiB, started without the client (as from the Web UI)',
    request: (key) => ({ ...request(key), partSize: 6 * GiB }),
    type: 'InvalidRequest',
    message: /^partSize: must be a whole number of bytes from 5242880 \(5 MiB\)/,
    activities: 'none',
  },
  {
    name: 'a bucket name S3 rejects, started without the client',
    request: (key) => request(key, (r) => (r.source.bucket = 'Not_A_Bucket')),
    type: 'InvalidRequest',
    message: /^source\.bucket: "Not_A_Bucket" is not a valid S3 bucket name: use 3-63 lowercase/,
    activities: 'none',
  },
  {
    name: 'credentials in the request',
    request: (key) => {
      const r = request(key) as unknown as { source: Record<string, unknown> };
      r.source.secretAccessKey = 'not-a-real-secret';
      return r;
    },
    type: 'InvalidRequest',
    message: /^source\.secretAccessKey: credentials never go in a request.*source\.profile/,
    activities: 'none',
  },
  {
    name: 'a source bucket that does not exist',
    request: (key) => request(key, (r) => (r.source.bucket = missingBucket)),
    type: 'SourceNotFound',
    message:
      /^source\.bucket: bucket "no-such-bucket-\w+" does not exist \(NoSuchBucket\).*fix the bucket name/,
  },
  {
    name: 'a destination bucket that does not exist',
    request: (key) => request(key, (r) => (r.destination.bucket = missingBucket)),
    type: 'DestinationNotFound',
    message: /^destination\.bucket: bucket "no-such-bucket-\w+" does not exist.*create the bucket/,
  },
  {
    name: 'a key list in a bucket that does not exist',
    request: (key) =>
      request(key, (r) => (r.source.keyList = { bucket: missingBucket, key: 'lists/keys.txt' })),
    type: 'SourceNotFound',
    message: /^source\.keyList\.bucket: bucket "no-such-bucket-\w+" does not exist/,
  },
  {
    name: 'source credentials the store refuses',
    request: (key) => request(key, (r) => (r.source.profile = 'zf-refused')),
    type: 'AccessDenied',
    message:
      /^source\.profile: the worker's credentials for profile "zf-refused" were refused for bucket "src-\w+" \(InvalidAccessKeyId\): give source\.profile a profile that may read source\.bucket/,
  },
  {
    name: 'destination credentials the store refuses',
    request: (key) => request(key, (r) => (r.destination.profile = 'zf-refused')),
    type: 'AccessDenied',
    message:
      /^destination\.profile: .*profile "zf-refused" were refused for bucket "dst-\w+" \(InvalidAccessKeyId\): .*may write destination\.bucket/,
  },
  {
    name: 'a source profile the worker does not have',
    request: (key) => request(key, (r) => (r.source.profile = 'no-such-profile')),
    type: 'InvalidRequest',
    message:
      /^source\.profile: profile "no-such-profile" does not exist on the worker.*fix the name/,
  },
  {
    name: 'a destination profile the worker does not have',
    request: (key) => request(key, (r) => (r.destination.profile = 'no-such-profile')),
    type: 'InvalidRequest',
    message: /^destination\.profile: profile "no-such-profile" does not exist on the worker/,
  },
  {
    name: 'a 5 MiB part size for a 60 GiB archive (more than 10,000 parts)',
    request: (key) => ({ ...request(key), partSize: 5 * MiB }),
    plan: largePlan(60 * GiB),
    type: 'InvalidRequest',
    message:
      /^partSize: 5242880 bytes would need \d+ parts .* more than S3's 10000: use at least \d+ \(\d+ MiB\), or leave partSize out/,
  },
  {
    name: 'an archive over S3’s 5 TiB object limit',
    request: (key) => request(key),
    plan: largePlan(5 * TiB),
    type: 'InvalidRequest',
    message:
      /^source: the archive would be up to \d+ bytes, over S3's 5 TiB .*split them over several archives/,
  },
  {
    name: 'a listed key whose entry name holds a backslash',
    request: (key) => request(key, (r) => (r.source.prefix = 'odd/')),
    type: 'InvalidEntry',
    message:
      /^source object "odd\/back\\\\slash\.txt" would be entry .*contains a backslash.*source\.exclude/,
  },
  {
    name: 'a requested key whose entry name climbs out with ".."',
    request: (key) => request(key, (r) => (r.source.keys = ['data/../../etc/passwd'])),
    type: 'InvalidEntry',
    message:
      /^source object "data\/\.\.\/\.\.\/etc\/passwd" would be entry "\.\.\/\.\.\/etc\/passwd", which contains a "\.\." segment.*leave it out/,
  },
  {
    name: 'a listed key whose entry name starts with a drive letter',
    request: (key) => request(key, (r) => (r.source.prefix = 'drive/')),
    type: 'InvalidEntry',
    message:
      /^source object "drive\/C:\/boot\.ini" would be entry "C:\/boot\.ini", which is absolute/,
  },
  {
    name: 'a listed key holding a bidirectional override',
    request: (key) => request(key, (r) => (r.source.prefix = 'bidi/')),
    type: 'InvalidEntry',
    message:
      /^source object "bidi\/invoice\u202etxt\.exe" .*bidirectional formatting character U\+202E/,
  },
  {
    name: 'two listed keys whose names are equal in Unicode NFC',
    request: (key) => request(key, (r) => (r.source.prefix = 'nfc/')),
    type: 'DuplicateEntryName',
    message: /^entry name "caf.*\.txt" would come from both nfc\/caf.* and nfc\/caf.*NFC/,
  },
  {
    name: 'a requested key holding a control character',
    request: (key) => request(key, (r) => (r.source.keys = ['data/bell\u0007.txt'])),
    type: 'InvalidEntry',
    message: /^source object "data\/bell\\u0007\.txt" .*control character U\+0007/,
  },
  {
    name: 'a requested key with a "." segment',
    request: (key) => request(key, (r) => (r.source.keys = ['data/./a.txt'])),
    type: 'InvalidEntry',
    message: /^source object "data\/\.\/a\.txt" .*contains a "\." segment/,
  },
  {
    name: 'a requested key with an empty segment',
    request: (key) => request(key, (r) => (r.source.keys = ['data/x//a.txt'])),
    type: 'InvalidEntry',
    message: /^source object "data\/x\/\/a\.txt" .*empty segment/,
  },
];

/** The destination holds no archive, no multipart upload and no state objects. */
async function assertNothingLeft(bucket: string, key: string): Promise<void> {
  const exists = await client.send(new HeadBucketCommand({ Bucket: bucket })).then(
    () => true,
    () => false,
  );
  if (!exists) return;
  assert.deepEqual(await keysUnder(client, bucket, key), [], 'no object at the destination key');
  assert.deepEqual(await leftoversIn(client, bucket), [], 'no multipart upload or state object');
  assert.deepEqual(
    (await keysUnder(client, bucket, '.zipflow/')).filter(
      (k) => !k.startsWith('.zipflow/watermarks/'),
    ),
    [],
  );
}

describe('a workflow run with bad input fails at once with a named, non-retryable failure and leaves nothing', () => {
  for (const row of rows) {
    test(`${row.name} → ${row.type}`, async () => {
      const key = `${uniqueName('bad')}.zip`;
      const req = row.request(key);
      const workflowId = uniqueName('zipflow-badinput');
      const started = Date.now();
      const handle = await temporal.workflow.start('archive', {
        taskQueue,
        workflowId,
        args: row.plan ? [req, row.plan] : [req],
      });
      await assert.rejects(handle.result(), (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError, String(err));
        assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
        assert.equal(err.cause.type, row.type, err.cause.message);
        assert.match(err.cause.message, row.message);
        assert.equal(err.cause.nonRetryable, true);
        return true;
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed < FAST_MS, `failed after ${elapsed} ms`);

      const history = await handle.fetchHistory();
      const attempts = (history.events ?? []).flatMap((e) =>
        e.activityTaskStartedEventAttributes
          ? [e.activityTaskStartedEventAttributes.attempt ?? 1]
          : [],
      );
      if (row.activities === 'none') assert.deepEqual(attempts, [], 'no activity ran');
      else assert.ok(attempts.length > 0, 'an activity ran');
      assert.ok(
        attempts.every((a) => a === 1),
        `every activity ran once, not retried (attempts ${attempts.join(', ')})`,
      );

      const bucket = (req as { destination?: { bucket?: unknown } }).destination?.bucket;
      if (typeof bucket === 'string' && /^[a-z0-9][a-z0-9.-]+$/.test(bucket)) {
        await assertNothingLeft(bucket, key);
      }
      await assertNothingLeft(destination.name, key);
    });
  }
});

interface CliRow {
  name: string;
  args: (key: string) => string[];
  code: number;
  /** The field and the fix, on stderr. */
  stderr: RegExp;
}

const cliRows: CliRow[] = [
  {
    name: 'a source bucket name S3 rejects',
    args: (key) => [`s3://Bad_Bucket/data/`, `s3://${destination.name}/${key}`],
    code: 2,
    stderr: /source\.bucket: "Bad_Bucket" is not a valid S3 bucket name: use 3-63 lowercase/,
  },
  {
    name: 'no destination key',
    args: () => [`s3://${source.name}/data/`, `s3://${destination.name}`],
    code: 2,
    stderr: /destination/,
  },
  {
    name: 'a part size under 5 MiB',
    args: (key) => [
      `s3://${source.name}/data/`,
      `s3://${destination.name}/${key}`,
      '--part-size',
      '4MiB',
    ],
    code: 2,
    stderr:
      /partSize: must be a whole number of bytes from 5242880 \(5 MiB\) to 5368709120 \(5 GiB\)/,
  },
  {
    name: 'a part size over 5 GiB',
    args: (key) => [
      `s3://${source.name}/data/`,
      `s3://${destination.name}/${key}`,
      '--part-size',
      '6GiB',
    ],
    code: 2,
    stderr: /partSize: must be a whole number of bytes/,
  },
  {
    name: 'a part size that is not a size',
    args: (key) => [
      `s3://${source.name}/data/`,
      `s3://${destination.name}/${key}`,
      '--part-size',
      'big',
    ],
    code: 2,
    stderr: /--part-size.*16MiB/,
  },
  {
    name: 'a glob that does not parse',
    args: (key) => [
      `s3://${source.name}/data/`,
      `s3://${destination.name}/${key}`,
      '--include',
      '[a',
    ],
    code: 2,
    stderr: /source\.include\[0\]: "\[a" is not a glob picomatch can read/,
  },
  {
    name: 'a source bucket that does not exist (--wait)',
    args: (key) => [`s3://${missingBucket}/data/`, `s3://${destination.name}/${key}`, '--wait'],
    code: 5,
    stderr:
      /archive failed \(SourceNotFound\): source\.bucket: bucket "no-such-bucket-\w+" does not exist/,
  },
  {
    name: 'a source profile the worker does not have (--wait)',
    args: (key) => [
      `s3://${source.name}/data/`,
      `s3://${destination.name}/${key}`,
      '--source-profile',
      'no-such-profile',
      '--wait',
    ],
    code: 2,
    stderr: /^zipflow: source\.profile: profile "no-such-profile" does not exist on the worker/m,
  },
  {
    name: 'destination credentials the store refuses (--wait)',
    args: (key) => [
      `s3://${source.name}/data/`,
      `s3://${destination.name}/${key}`,
      '--destination-profile',
      'zf-refused',
      '--wait',
    ],
    code: 5,
    stderr: /archive failed \(AccessDenied\): destination\.profile: .*refused/,
  },
];

describe('the CLI with bad input exits with its documented code and names the field', () => {
  for (const row of cliRows) {
    test(`${row.name} → exit ${row.code}`, async () => {
      const key = `${uniqueName('cli')}.zip`;
      const env = { ...process.env, [ENV.taskQueue]: taskQueue };
      const run = await promisify(execFile)(process.execPath, [bin, 'archive', ...row.args(key)], {
        env,
      }).then(
        (out) => ({ code: 0, ...out }),
        (err: { code?: number; stdout?: string; stderr?: string }) => ({
          code: err.code ?? -1,
          stdout: err.stdout ?? '',
          stderr: err.stderr ?? '',
        }),
      );
      assert.equal(run.code, row.code, run.stderr);
      assert.match(run.stderr, row.stderr);
      await assertNothingLeft(destination.name, key);
    });
  }
});
