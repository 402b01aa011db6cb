import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import * as yazl from 'yazl';
import zlib from 'node:zlib';
import { content, defaultSpecs, sourceObjects, WORKLOADS } from '../../bench/e2e/data';
import { IMPLEMENTATIONS, runsOn, type E2eResult } from '../../bench/e2e/harness';
import { verifyZip, type Verification } from '../../bench/e2e/verify';
import { requireStack, s3, tempBucket } from '../support/env';

const root = path.resolve(__dirname, '..', '..');

test('bench --quick measures every workload with zipflow and every baseline, each result read back and verified', async (t) => {
  requireStack();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-bench-'));
  const out = path.join(dir, 'e2e.json');
  const doc = fs.readFileSync(path.join(root, 'docs', 'benchmarks.md'), 'utf8');
  try {
    // The environment names the test stack, so the harness uses it (fresh buckets) instead
    // of starting its own.
    const code = await new Promise<number>((resolve) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'scripts/bench.ts', '--quick', '--out', out],
        { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      child.on('exit', (c) => resolve(c ?? 1));
    });
    assert.equal(code, 0, 'npm run bench -- --quick exits 0 even with missed e2e targets');
    const result = JSON.parse(fs.readFileSync(out, 'utf8')) as E2eResult;
    assert.equal(result.quick, true);
    // The worker ran compiled JavaScript, as the package does, built by the harness.
    assert.equal(result.options.workerFrom, 'dist');
    assert.ok(fs.existsSync(path.join(root, '.tools', 'bench-dist', 'client', 'cli.js')));
    for (const workload of WORKLOADS) {
      for (const implementation of IMPLEMENTATIONS) {
        if (!runsOn(implementation, result.options.specs[workload])) continue;
        const row = result.rows.find(
          (r) => r.workload === workload && r.implementation === implementation,
        );
        assert.ok(row, `${workload} × ${implementation} measured`);
        const what = `${workload} × ${implementation}`;
        assert.ok(row.entries > 0 && row.inputBytes > 0, `${what}: something archived`);
        assert.ok(row.mbPerSecond > 0 && row.objectsPerSecond > 0, `${what}: positive rates`);
        assert.ok(row.peakRssMiB > 0, `${what}: peak RSS read`);
        // Each process's S3 bytes are counted by itself (/proc/<pid>/io, or Python's sockets):
        // at least what it must have read and sent, and no more than that plus the requests'
        // headers and zipflow's state objects (not modules loaded or logs written meanwhile).
        // Server-side copy reads only what it does not copy; the copies probe reads nothing.
        if (implementation !== 'zipflow-copy' && implementation !== 'copies') {
          assert.ok(row.s3BytesRead >= row.inputBytes, `${what}: source bytes counted`);
          assert.ok(row.s3BytesSent >= row.outputBytes, `${what}: upload bytes counted`);
        }
        if (implementation === 'copies') {
          assert.ok(row.s3BytesRead + row.s3BytesSent < 256 * 1024, `${what}: requests only`);
        }
        if (implementation === 'gets') assert.equal(row.outputBytes, 0, `${what}: writes nothing`);
        const slack = (bytes: number): number => bytes * 1.5 + 256 * 1024;
        assert.ok(row.s3BytesRead <= slack(row.inputBytes), `${what}: read counts S3 only`);
        assert.ok(row.s3BytesSent <= slack(row.outputBytes), `${what}: sent counts S3 only`);
        t.diagnostic(
          `${what}: read ${row.s3BytesRead}, sent ${row.s3BytesSent}, input ${row.inputBytes}, output ${row.outputBytes}`,
        );
        assert.ok(row.s3BytesSent > 0, `${what}: upload bytes counted`);
        assert.equal(row.verification.entries, row.entries, `${what}: every entry checked`);
        assert.ok(row.verification.sampledEntries > 0, `${what}: entry bytes read back`);
        if (implementation !== 'zipflow') assert.ok(row.zipflowRatio > 0, `${what}: ratio`);
      }
    }
    const described = result.targets.map((x) => `${x.workload}: ${x.description}`);
    t.diagnostic(`targets: ${described.join('; ')}`);
    assert.ok(result.targets.some((x) => x.workload === 'mid' && x.description.includes('raw')));
    assert.ok(result.targets.some((x) => x.workload === 'small'));
    // The probes bound the targets they measure: GETs on small, copies on large (--quick mid
    // has no object of 5 MiB).
    const ceiling = (w: string, words: string) =>
      result.targets.find((x) => x.workload === w && x.description.includes(words))?.ceiling;
    assert.ok(ceiling('small', '3× archiver')!.value > 0, 'small: GETs-only ceiling');
    assert.ok(ceiling('mid', '1.5× archiver')!.value > 0, 'mid: raw ceiling');
    const large = result.rows.find((r) => r.workload === 'large' && r.implementation === 'copies')!;
    assert.equal(large.entries, 1, 'copies: the one large object, copied whole');
    assert.ok(ceiling('large', 'bytes through the worker')!.value < 1, 'large: nearly all copied');
    assert.equal(
      fs.readFileSync(path.join(root, 'docs', 'benchmarks.md'), 'utf8'),
      doc,
      '--quick leaves docs/benchmarks.md alone',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bench verification rejects an archive whose entry bytes differ from the source', async () => {
  const client = await s3();
  const bucket = await tempBucket(client, 'bench-verify');
  try {
    const spec = { ...defaultSpecs(true).mid, count: 3 };
    const objects = sourceObjects(spec);
    const expected = objects.map((o) => ({ ...o, crc32: zlib.crc32(content(spec, o)) }));
    const zipOf = async (corrupt: boolean): Promise<Buffer> => {
      const zip = new yazl.ZipFile();
      for (const [i, o] of objects.entries()) {
        const bytes = Buffer.from(content(spec, o));
        if (corrupt && i === 1) bytes[bytes.length >> 1] ^= 0xff;
        zip.addBuffer(bytes, o.name, { compress: false });
      }
      zip.end();
      const chunks: Buffer[] = [];
      for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
      return Buffer.concat(chunks);
    };
    const check = async (key: string, corrupt: boolean): Promise<Verification> => {
      const body = await zipOf(corrupt);
      await client.send(new PutObjectCommand({ Bucket: bucket.name, Key: key, Body: body }));
      const location = { bucket: bucket.name, key };
      return verifyZip({ client, location, spec, expected, samples: 3 });
    };
    assert.equal((await check('good.zip', false)).entries, 3);
    await assert.rejects(check('bad.zip', true), /verification of .*bad\.zip failed/);
  } finally {
    await bucket.remove();
  }
});
