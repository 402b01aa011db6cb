import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ListPartsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { defaultPayloadConverter } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import yauzl from 'yauzl';
import {
  restoreWorkflowId,
  type RestoreRequest,
  type RestoreResult,
} from '../../src/shared/restore';
import type { RestoreCheckpoint } from '../../src/engine/restore/restoreCheckpoint';
import { runArchive, s3, temporalClient, tempBucket, uniqueName } from '../support/env';
import { getObject, openUploads, waitUntil } from '../support/archive';
import { startFaultProxy, type ProxiedRequest } from '../support/faultProxy';
import { killHard, startWorkerProcess } from '../support/workerProcess';

const MiB = 1024 * 1024;
/** restoreEntry.ts streams entries in 8 MiB parts: these are 5 parts each. */
const PART_SIZE = 8 * MiB;
const ENTRY_SIZE = 4 * PART_SIZE + 3 * MiB;
/** Before the kill, the store gets no part from this one on: each entry has parts left. */
const HELD_FROM = 3;
type Phase = 'before' | 'after';

/** Where each entry's data starts in the archive, and how it is stored (yauzl reads the ZIP). */
function entriesOf(zip: Buffer): Promise<Map<string, { dataStart: number; method: number }>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, file) => {
      if (err || !file) return reject(err);
      const out = new Map<string, { dataStart: number; method: number }>();
      file.on('error', reject);
      file.on('end', () => resolve(out));
      file.on('entry', (e: yauzl.Entry) => {
        const at = e.relativeOffsetOfLocalHeader;
        const dataStart = at + 30 + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
        out.set(e.fileName, { dataStart, method: e.compressionMethod });
        file.readEntry();
      });
      file.readEntry();
    });
  });
}

/** The restoreChunk checkpoint the server holds (its last heartbeat's details). */
async function serverCheckpoint(handle: WorkflowHandle): Promise<RestoreCheckpoint | undefined> {
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  const chunk = pending.find((a) => a.activityType?.name === 'restoreChunk');
  const payload = chunk?.heartbeatDetails?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload<RestoreCheckpoint>(payload) : undefined;
}

test('restore resumes inside a large entry after its worker is SIGKILLed: parts S3 held are not sent again, a STORE entry is read on from its checkpoint, both objects byte-identical', async (t) => {
  const client = await s3();
  const bucket = await tempBucket(client, 'rres');
  t.after(() => bucket.remove());
  const originals = new Map<string, Buffer>([
    // By their extensions: .gz is stored, .txt deflated.
    ['big/stored.gz', crypto.randomBytes(ENTRY_SIZE)],
    ['big/deflated.txt', Buffer.from(crypto.randomBytes((ENTRY_SIZE * 3) / 4).toString('base64'))],
  ]);
  for (const [key, body] of originals) {
    await client.send(new PutObjectCommand({ Bucket: bucket.name, Key: `src/${key}`, Body: body }));
  }
  const archiveKey = 'archives/big.zip';
  await runArchive({
    source: { bucket: bucket.name, prefix: 'src/' },
    destination: { bucket: bucket.name, key: archiveKey },
  });
  const entries = await entriesOf(await getObject(client, bucket.name, archiveKey));
  const stored = entries.get('big/stored.gz')!;
  assert.equal(stored.method, 0, 'the .gz entry is stored');
  assert.equal(entries.get('big/deflated.txt')!.method, 8, 'the .txt entry is deflated');

  // The archive is read through another profile (the same MinIO): not the destination's store,
  // so the STORE entry is streamed through the worker rather than copied by the store.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-rres-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'config'), '[profile archive]\nregion = us-east-1\n');
  fs.writeFileSync(
    path.join(dir, 'credentials'),
    `[archive]\naws_access_key_id = ${process.env.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${process.env.AWS_SECRET_ACCESS_KEY}\n`,
  );
  // The workers reach MinIO through a proxy that adds 1 s to each request and records every
  // request, before and after the kill. Before it, parts from HELD_FROM on are held back, so
  // the kill lands with parts left to send however fast each entry got going.
  let phase = 'before' as Phase;
  const seen: Array<ProxiedRequest & { phase: Phase }> = [];
  const proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed: 1,
    rate: 0,
    stallMs: 0,
    latencyMs: 1_000,
    delayFor: (request) => {
      seen.push({ ...request, phase });
      return phase === 'before' && partNumberOf(request) >= HELD_FROM ? 120_000 : 0;
    },
  });
  t.after(() => proxy.close());
  const env = {
    AWS_ENDPOINT_URL_S3: proxy.url,
    AWS_CONFIG_FILE: path.join(dir, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'),
  };

  const prefix = 'restored/';
  const request: RestoreRequest = {
    archive: { bucket: bucket.name, key: archiveKey, profile: 'archive' },
    select: { include: ['big/**'] },
    destination: { bucket: bucket.name, prefix },
  };
  const { client: temporal, close } = await temporalClient();
  t.after(close);
  const taskQueue = uniqueName('tq-rres');
  let worker = startWorkerProcess(taskQueue, [], { env });
  try {
    const handle = await temporal.workflow.start('restore', {
      taskQueue,
      workflowId: restoreWorkflowId(request.destination),
      args: [request],
    });
    // Killed once the server holds a checkpoint with a part of each entry done.
    let atKill: RestoreCheckpoint | undefined;
    await waitUntil(
      'the checkpoint holds a part of each entry',
      async () => {
        atKill = await serverCheckpoint(handle);
        return [...originals.keys()].every(
          (k) => (atKill?.uploads[prefix + k]?.partsDone ?? 0) >= 1,
        );
      },
      45_000,
    );
    await killHard(worker);
    phase = 'after';
    const uploads = atKill!.uploads;
    t.diagnostic(
      `killed with parts done: ${Object.entries(uploads)
        .map(([k, u]) => `${k} ${u.partsDone}`)
        .join(', ')}`,
    );
    // What S3 holds once the dead worker's last requests have settled (the proxy holds each
    // for 1 s): the parts a resumed worker must not send again.
    await new Promise((r) => setTimeout(r, 2_500));
    const heldAtKill = new Map<string, Set<number>>();
    for (const [key, upload] of Object.entries(uploads)) {
      const listed = await client.send(
        new ListPartsCommand({ Bucket: bucket.name, Key: key, UploadId: upload.uploadId }),
      );
      heldAtKill.set(key, new Set((listed.Parts ?? []).map((p) => p.PartNumber!)));
    }
    worker = startWorkerProcess(taskQueue, [], { env });
    const result = (await handle.result()) as RestoreResult;
    assert.equal(result.entries, 2);
    assert.equal(result.copiedEntries, 0, 'nothing copied by the store');

    for (const [name, body] of originals) {
      const key = prefix + name;
      const restored = await getObject(client, bucket.name, key);
      assert.ok(restored.equals(body), `${key} is byte-identical to the original`);
      const parts = Array.from({ length: Math.ceil(body.length / PART_SIZE) }, (_, i) => i + 1);
      const held = heldAtKill.get(key)!;
      const after = [...(partsSent(seen, 'after').get(key) ?? [])].sort((a, b) => a - b);
      t.diagnostic(
        `${key}: checkpoint at part ${uploads[key]!.partsDone}, S3 held [${[...held]}], the new worker sent [${after}]`,
      );
      assert.ok(held.size >= uploads[key]!.partsDone, `${key}: S3 holds the checkpoint's parts`);
      assert.ok(held.size < parts.length, `${key}: killed with parts left to send`);
      assert.deepEqual(
        after,
        parts.filter((n) => !held.has(n)),
        `${key}: the new worker sent exactly the parts S3 did not hold`,
      );
    }

    // The STORE entry is read on from the part after the checkpoint's, not from its start.
    const resumeAt = stored.dataStart + uploads[prefix + 'big/stored.gz']!.partsDone * PART_SIZE;
    const rereads = seen.filter((r) => {
      if (r.phase !== 'after' || r.method !== 'GET' || !r.range) return false;
      const first = Number(/bytes=(\d+)-/.exec(r.range)?.[1]);
      return (
        decodeURIComponent(r.url).includes(archiveKey) &&
        first >= stored.dataStart &&
        first < resumeAt
      );
    });
    assert.deepEqual(
      rereads.map((r) => r.range),
      [],
      'no GET after the kill reads the stored entry before its checkpoint',
    );
    assert.deepEqual(await openUploads(client, bucket.name), []);
  } finally {
    await killHard(worker);
  }
});

/** An UploadPart request's part number, else 0. */
function partNumberOf(request: ProxiedRequest): number {
  if (request.method !== 'PUT') return 0;
  return Number(new URL(request.url, 'http://store').searchParams.get('partNumber') ?? 0);
}

/** Part numbers sent with UploadPart, by key, in one phase. */
function partsSent(
  seen: Array<ProxiedRequest & { phase: string }>,
  phase: string,
): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const r of seen) {
    if (r.phase !== phase || r.method !== 'PUT') continue;
    const part = partNumberOf(r);
    if (!part) continue;
    const url = new URL(r.url, 'http://store');
    const key = decodeURIComponent(url.pathname).split('/').slice(2).join('/');
    const parts = out.get(key) ?? new Set<number>();
    parts.add(part);
    out.set(key, parts);
  }
  return out;
}
