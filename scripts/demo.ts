/**
 * `npm run demo`: brings up the local stack, seeds a demo bucket, runs a real archive
 * workflow on a real worker, prints where the archive is with its size and checksums and the
 * Web UI link, then stops the stack (`npm run demo -- --keep` leaves it running; stop it
 * with `npx zipflow dev down`).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startStack, stopStack, exportLines } from '../src/client/dev/stack';
import { devStackDir } from '../src/client/dev/commands';
import { connect, isNoNewObjects, startArchive } from '../src/client';
import { createS3Client } from '../src/s3/client';
import { createWorker } from '../src/worker';

const log = (line: string): void => console.error(`[zipflow] ${line}`);
const SOURCE = 'zipflow-demo-source';
const DESTINATION = 'zipflow-demo-archives';

async function seed(client: S3Client): Promise<number> {
  for (const bucket of [SOURCE, DESTINATION])
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  let count = 0;
  const put = async (key: string, body: Buffer | string): Promise<void> => {
    await client.send(new PutObjectCommand({ Bucket: SOURCE, Key: key, Body: body }));
    count += 1;
  };
  for (let day = 1; day <= 20; day++) {
    const lines = Array.from(
      { length: 2000 },
      (_, i) =>
        `2026-11-${String(day).padStart(2, '0')}T12:00:${String(i % 60).padStart(2, '0')}Z GET /api/items/${i} 200 ${(i * 7) % 997}ms`,
    );
    await put(`reports/logs/day-${String(day).padStart(2, '0')}.log`, lines.join('\n'));
  }
  for (let i = 0; i < 5; i++)
    await put(`reports/media/clip-${i}.bin`, crypto.randomBytes(3 * 1024 * 1024));
  await put('reports/empty.txt', Buffer.alloc(0));
  await put('reports/ünïcödé/résumé.txt', 'names in UTF-8 survive\n');
  return count;
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const dir = keep ? devStackDir() : undefined;
  if (dir) fs.mkdirSync(dir, { recursive: true });
  const stack = await startStack({ dir, log });
  Object.assign(process.env, stack.env);
  try {
    const s3 = await createS3Client();
    log(`seeded ${await seed(s3)} objects in s3://${SOURCE}/reports/`);
    const { worker, connection } = await createWorker();
    const client = await connect();
    try {
      const result = await worker.runUntil(async () => {
        const handle = await startArchive(client, {
          source: { bucket: SOURCE, prefix: 'reports/' },
          destination: { bucket: DESTINATION, key: 'reports.zip' },
          compression: { method: 'auto' },
        });
        log(`started workflow ${handle.workflowId}`);
        return { result: await handle.result(), workflowId: handle.workflowId };
      });
      const r = result.result;
      if (isNoNewObjects(r)) throw new Error('the demo archive is not incremental');
      console.log(`archive:   s3://${r.bucket}/${r.key}  (MinIO ${stack.minio.endpoint})`);
      console.log(`size:      ${r.size} bytes in ${r.parts} part(s), ${r.entries} entries`);
      console.log(`sha256:    ${r.sha256}`);
      console.log(`crc32:     ${r.crc32}`);
      console.log(`etag:      ${r.etag ?? '-'}`);
      console.log(`took:      ${r.durationMs} ms`);
      console.log(
        `web ui:    ${stack.temporal.uiUrl}/namespaces/default/workflows/${encodeURIComponent(result.workflowId)}`,
      );
      if (keep) {
        console.log('\nThe stack keeps running. To use it from a shell:');
        console.log(exportLines(stack.env));
        console.log('Stop it with: npx zipflow dev down');
      }
    } finally {
      await client.close();
      await connection.close();
    }
  } finally {
    if (!keep) await stopStack(stack);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
