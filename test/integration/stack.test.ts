import assert from 'node:assert/strict';
import { test } from 'node:test';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { GetObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/s3/client';
import { freePort, isAlive, startStack, stopStack } from '../../src/client/dev/stack';
import { runPing, s3, tempBucket } from '../support/env';

test('a workflow runs on the Temporal dev server and calls an activity on a real worker', async () => {
  assert.equal(await runPing('zipflow'), 'ZIPFLOW!');
});

test('an object round-trips through MinIO byte for byte', async () => {
  const client = await s3();
  const bucket = await tempBucket(client);
  try {
    const body = crypto.randomBytes(256 * 1024);
    await client.send(
      new PutObjectCommand({ Bucket: bucket.name, Key: 'dir/ünïcode.bin', Body: body }),
    );
    const out = await client.send(
      new GetObjectCommand({ Bucket: bucket.name, Key: 'dir/ünïcode.bin' }),
    );
    assert.deepEqual(Buffer.from(await out.Body!.transformToByteArray()), body);
  } finally {
    await bucket.remove();
  }
});

test('a named profile with endpoint_url and credentials reaches MinIO through the one S3 client factory', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-profile-'));
  const saved = { ...process.env };
  const client = await s3();
  const bucket = await tempBucket(client);
  try {
    fs.writeFileSync(
      path.join(dir, 'config'),
      `[profile minio]\nregion = us-east-1\nendpoint_url = ${process.env.AWS_ENDPOINT_URL_S3}\n`,
    );
    fs.writeFileSync(
      path.join(dir, 'credentials'),
      `[minio]\naws_access_key_id = ${process.env.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${process.env.AWS_SECRET_ACCESS_KEY}\n`,
    );
    for (const k of [
      'AWS_ENDPOINT_URL_S3',
      'AWS_ENDPOINT_URL',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_REGION',
    ])
      delete process.env[k];
    process.env.AWS_CONFIG_FILE = path.join(dir, 'config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'credentials');
    const viaProfile = await createS3Client({ profile: 'minio' });
    const listed = await viaProfile.send(new ListBucketsCommand({}));
    assert.ok(listed.Buckets?.some((b) => b.Name === bucket.name));
  } finally {
    Object.assign(process.env, saved);
    fs.rmSync(dir, { recursive: true, force: true });
    await bucket.remove();
  }
});

test('when a port it chose is taken before its server binds it, the stack starts again on other ports', async () => {
  // The squatter also accepts the health probes sent to the port it holds.
  const squatter = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  try {
    const taken = (squatter.address() as net.AddressInfo).port;
    let handedOut = 0;
    const lines: string[] = [];
    const state = await startStack({
      log: (line) => lines.push(line),
      // The first port (the Temporal frontend's) is already someone else's.
      choosePort: () => (handedOut++ === 0 ? Promise.resolve(taken) : freePort()),
    });
    try {
      assert.ok(
        lines.some((l) => l.includes('starting again on other ports')),
        lines.join('\n'),
      );
      assert.notEqual(state.temporal.address, `127.0.0.1:${taken}`);
      assert.ok(isAlive(state.temporal.pid) && isAlive(state.minio.pid));
      const connection = await Connection.connect({ address: state.temporal.address });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
    } finally {
      await stopStack(state);
    }
    assert.ok(!fs.existsSync(state.dir), 'the stack folder is removed');
  } finally {
    squatter.close();
  }
});
