import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createS3Client } from '../../src/s3/client';
import {
  temporalSettings,
  workerActivities,
  workerReadConcurrency,
  workerReadRangeSize,
  s3DirectRequests,
} from '../../src/runtime/config';

const saved = { ...process.env };
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});

function clearAws(): void {
  for (const k of Object.keys(process.env))
    if (k.startsWith('AWS_') || k.startsWith('ZIPFLOW_')) delete process.env[k];
}

test('Temporal settings come from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and ZIPFLOW_TASK_QUEUE, with local defaults', () => {
  assert.deepEqual(temporalSettings({}), {
    address: 'localhost:7233',
    namespace: 'default',
    taskQueue: 'zipflow',
  });
  assert.deepEqual(
    temporalSettings({
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_NAMESPACE: 'prod',
      ZIPFLOW_TASK_QUEUE: 'zips',
    }),
    { address: 'temporal:7233', namespace: 'prod', taskQueue: 'zips' },
  );
});

test('a custom endpoint from AWS_ENDPOINT_URL_S3 gets path-style addressing; AWS S3 does not', async () => {
  clearAws();
  process.env.AWS_CONFIG_FILE = path.join(os.tmpdir(), 'zipflow-no-such-config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = process.env.AWS_CONFIG_FILE;
  process.env.AWS_REGION = 'eu-west-1';
  const aws = await createS3Client();
  assert.equal(aws.config.forcePathStyle, false);
  assert.equal(await aws.config.region(), 'eu-west-1');
  process.env.AWS_ENDPOINT_URL_S3 = 'http://127.0.0.1:9000';
  const custom = await createS3Client();
  assert.equal(custom.config.forcePathStyle, true);
  assert.equal(await custom.config.requestChecksumCalculation(), 'WHEN_REQUIRED');
});

test('a named profile with endpoint_url and region is honoured', async () => {
  clearAws();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-profile-'));
  try {
    fs.writeFileSync(
      path.join(dir, 'config'),
      '[profile archive]\nregion = ap-south-1\nendpoint_url = http://127.0.0.1:9555\n',
    );
    fs.writeFileSync(
      path.join(dir, 'credentials'),
      '[archive]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n',
    );
    process.env.AWS_CONFIG_FILE = path.join(dir, 'config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'credentials');
    const client = await createS3Client({ profile: 'archive' });
    assert.equal(await client.config.region(), 'ap-south-1');
    assert.equal(client.config.forcePathStyle, true);
    const credentials = await client.config.credentials();
    assert.equal(credentials.accessKeyId, 'AKIDEXAMPLE');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('ZIPFLOW_WORKER_ACTIVITIES caps the activities a worker runs at once; a bad value names the variable', () => {
  assert.equal(workerActivities({}), undefined);
  assert.equal(workerActivities({ ZIPFLOW_WORKER_ACTIVITIES: '2' }), 2);
  assert.throws(
    () => workerActivities({ ZIPFLOW_WORKER_ACTIVITIES: '0' }),
    /ZIPFLOW_WORKER_ACTIVITIES must be a whole number of at least 1/,
  );
  assert.throws(() => workerActivities({ ZIPFLOW_WORKER_ACTIVITIES: 'many' }), /"many"/);
});

test('ZIPFLOW_READ_RANGE_SIZE fixes the range size of requests without readRangeSize; a bad value names the variable', () => {
  assert.equal(workerReadRangeSize({}), undefined);
  assert.equal(workerReadRangeSize({ ZIPFLOW_READ_RANGE_SIZE: '16777216' }), 16 * 1024 * 1024);
  for (const bad of ['1048575', '67108865', '16MiB', '2.5'])
    assert.throws(
      () => workerReadRangeSize({ ZIPFLOW_READ_RANGE_SIZE: bad }),
      /ZIPFLOW_READ_RANGE_SIZE must be a whole number of bytes from 1048576 \(1 MiB\) to 67108864 \(64 MiB\)/,
    );
});

test('ZIPFLOW_READ_CONCURRENCY sets the ranged GETs of requests without readConcurrency; a bad value names the variable', () => {
  assert.equal(workerReadConcurrency({}), undefined);
  assert.equal(workerReadConcurrency({ ZIPFLOW_READ_CONCURRENCY: '16' }), 16);
  for (const bad of ['0', '65', '1.5', 'many'])
    assert.throws(
      () => workerReadConcurrency({ ZIPFLOW_READ_CONCURRENCY: bad }),
      /ZIPFLOW_READ_CONCURRENCY must be a whole number from 1 to 64/,
    );
});

test('ZIPFLOW_S3_DIRECT "off" turns direct requests off; on by default; a bad value names the variable', () => {
  assert.equal(s3DirectRequests({}), true);
  assert.equal(s3DirectRequests({ ZIPFLOW_S3_DIRECT: 'on' }), true);
  assert.equal(s3DirectRequests({ ZIPFLOW_S3_DIRECT: 'off' }), false);
  assert.throws(
    () => s3DirectRequests({ ZIPFLOW_S3_DIRECT: 'no' }),
    /ZIPFLOW_S3_DIRECT must be "on" or "off", not "no"/,
  );
});
