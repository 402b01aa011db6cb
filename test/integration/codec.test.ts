import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { temporal } from '@temporalio/proto';
import type { Payload } from '@temporalio/common';
import { connect, isNoNewObjects, startArchive } from '../../src/client';
import type { JsonPayload } from '../../src/client/codecServer';
import { ENV } from '../../src/runtime/config';
import type { ArchiveRequest } from '../../src/shared/request';
import { archiveBuckets, s3, temporalClient, uniqueName, withWorker } from '../support/env';
import { getObject, readZip } from '../support/archive';

// Payload encryption end to end: a client from connect() and a worker from createWorker(),
// both with ZIPFLOW_CODEC_KEYS; the history as the server stores it, read by a client that
// has no codec; and the codec endpoint (`zipflow codec-server`) decoding it back over HTTP.

const bin = path.resolve(__dirname, '../../bin/zipflow.js');
const KEY_ID = 'int-2026';
const KEYS = `${KEY_ID}:${crypto.randomBytes(32).toString('base64')}`;
const TOKEN = crypto.randomBytes(16).toString('hex');

let client: S3Client;
let buckets: { source: string; destination: string; remove(): Promise<void> };
let codecServer: ChildProcess | undefined;

before(async () => {
  client = await s3();
  buckets = await archiveBuckets(
    client,
    new Map([['docs/a.txt', 'payloads are sealed']]),
    'private-src',
  );
  process.env[ENV.codecKeys] = KEYS;
  process.env[ENV.codecKeyId] = KEY_ID;
});

after(async () => {
  codecServer?.kill('SIGTERM');
  await buckets.remove();
});

/** Starts `zipflow codec-server` on a free port and returns its URL. */
async function startCodecCli(): Promise<string> {
  const child = spawn(process.execPath, [bin, 'codec-server', '--port', '0'], {
    env: { ...process.env, [ENV.codecAuthToken]: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  codecServer = child;
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve(url);
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`codec-server exited ${code}: ${out}`)));
  });
}

function toJson(p: temporal.api.common.v1.IPayload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {}))
    metadata[k] = Buffer.from(v).toString('base64');
  return { metadata, data: Buffer.from(p.data ?? new Uint8Array()).toString('base64') };
}

/**
 * Encodings of every payload in a history, except search attributes: those stay readable
 * by design (the server indexes them; codecs never see them).
 */
function payloadEncodings(value: unknown, key = ''): string[] {
  if (key === 'searchAttributes' || value === null || typeof value !== 'object') return [];
  if (value instanceof Uint8Array) return [];
  if (Array.isArray(value)) return value.flatMap((v) => payloadEncodings(v));
  const record = value as Record<string, unknown>;
  const metadata = record.metadata as Record<string, Uint8Array> | undefined;
  if (metadata?.encoding instanceof Uint8Array && 'data' in record) {
    return [Buffer.from(metadata.encoding).toString()];
  }
  return Object.entries(record).flatMap(([k, v]) => payloadEncodings(v, k));
}

test('with the codec on, history holds only ciphertext, and the codec endpoint decodes it back', async () => {
  const request: ArchiveRequest = {
    source: { bucket: buckets.source, prefix: 'docs/' },
    destination: { bucket: buckets.destination, key: `${uniqueName('sealed')}.zip` },
  };
  const workflowId = await withWorker({}, async (taskQueue) => {
    const zipflow = await connect({ taskQueue });
    try {
      const handle = await startArchive(zipflow, request);
      const result = await handle.result();
      assert.ok(!isNoNewObjects(result));
      assert.equal(result.entries, 1, 'the client decodes the result with the codec');
      return handle.workflowId;
    } finally {
      await zipflow.close();
    }
  });
  const zip = await readZip(await getObject(client, buckets.destination, request.destination.key));
  assert.equal(zip.get('a.txt')?.toString(), 'payloads are sealed');

  // The history as stored, through a client without the codec.
  const { client: plain, close } = await temporalClient();
  let history: temporal.api.history.v1.IHistory;
  try {
    history = await plain.workflow.getHandle(workflowId).fetchHistory();
    await assert.rejects(
      plain.workflow.getHandle(workflowId).result(),
      /binary\/encrypted|[Uu]nknown encoding/,
      'without the codec the result cannot be read',
    );
  } finally {
    await close();
  }
  const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
  assert.ok(raw.length > 0);
  assert.ok(!raw.includes(buckets.source), 'the source bucket does not appear in the history');
  assert.ok(!raw.includes('payloads are sealed'));
  const encodings = payloadEncodings(history);
  assert.ok(encodings.length >= 4, `input, activity inputs and results: ${encodings.length}`);
  assert.deepEqual(new Set(encodings), new Set(['binary/encrypted']), 'no payload in the clear');
  const started = history.events!.find((e) => e.workflowExecutionStartedEventAttributes)!;
  const input = started.workflowExecutionStartedEventAttributes!.input!.payloads!;
  assert.equal(input.length, 1);
  assert.equal(Buffer.from(input[0].metadata!.encoding!).toString(), 'binary/encrypted');
  assert.equal(Buffer.from(input[0].metadata!['encryption-key-id']!).toString(), KEY_ID);

  // The codec endpoint, as the Web UI calls it.
  const url = await startCodecCli();
  const decode = (token?: string): Promise<Response> =>
    fetch(`${url}/decode`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Namespace': 'default',
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ payloads: input.map(toJson) }),
    });
  assert.equal((await decode()).status, 401, 'no token, no plaintext');
  const response = await decode(TOKEN);
  assert.equal(response.status, 200);
  const { payloads } = (await response.json()) as { payloads: JsonPayload[] };
  const decoded: Payload = {
    metadata: Object.fromEntries(
      Object.entries(payloads[0].metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
    ),
    data: Buffer.from(payloads[0].data ?? '', 'base64'),
  };
  assert.equal(Buffer.from(decoded.metadata!.encoding!).toString(), 'json/plain');
  assert.deepEqual(JSON.parse(Buffer.from(decoded.data!).toString()), request);
});
