import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ENV } from '../../src/runtime/config';
import type { ArchiveRequest } from '../../src/shared/request';
import { runArchive, s3, tempBucket, uniqueName } from '../support/env';

// Each activity makes its own S3 clients. A client left alive keeps its kept-alive sockets to
// the store open until the store closes them, so a worker paging through millions of keys (two
// clients per page) would hold connections it never uses again.

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (let i = 0; i < 6; i++)
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: `in/${i}.bin`,
        // 24 MiB: read in ranges, the later ones sent once the first have answered, so direct.
        Body: crypto.randomBytes(i === 0 ? 24 * 1024 * 1024 : 4096),
      }),
    );
});

after(async () => {
  client = await s3();
  await source.remove();
  await destination.remove();
});

/** TCP connections this process holds open to `port` on loopback, from /proc (Linux). */
function connectionsTo(port: number): number {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // The fd closed while listed (the readdir's own).
    }
  }
  let n = 0;
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6'])
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const remotePort = parseInt(f[2].split(':')[1], 16);
      // st 01: ESTABLISHED.
      if (remotePort === port && f[3] === '01' && inodes.has(f[9])) n++;
    }
  return n;
}

async function settled(port: number): Promise<number> {
  // A destroyed socket's descriptor closes within a tick or two.
  for (let i = 0; i < 20 && connectionsTo(port) > 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  return connectionsTo(port);
}

test('no connection to the store is left open once an archive run has ended: each activity closes the sockets of its S3 clients', async () => {
  const port = Number(new URL(process.env[ENV.s3Endpoint]!).port);
  // The test's own client is closed first, so every connection counted is the run's.
  client.destroy();
  assert.equal(await settled(port), 0, 'no connection before the run');
  const request: ArchiveRequest = {
    source: { bucket: source.name, prefix: 'in/' },
    destination: { bucket: destination.name, key: `${uniqueName('conn')}.zip` },
    compression: { method: 'store' },
  };
  const result = await runArchive(request);
  assert.equal(result.entries, 6);
  assert.equal(await settled(port), 0, 'connections to the store still open after the run');
});
