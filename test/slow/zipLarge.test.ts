/**
 * Slow tier: real ZIP64 archives on disk, read by every independent reader, and checked
 * byte for byte (SHA-256) against yazl 3.3.1 for the same entries.
 *   - 70,000 entries (> 65,535: ZIP64 end records by entry count)
 *   - an entry of 4 GiB + 1 MiB and entries past the 4 GiB offset (ZIP64 sizes and offsets)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import * as yazl from 'yazl';
import type { EntrySpec } from '../../src/zip';
import { writeArchiveWithSpill } from '../readers/spill';
import { ALL_READERS, expectedReport } from '../readers/support';

const T = Date.UTC(2024, 6, 1, 8, 30, 0);
let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'zipflow-slow-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function yazlSha256(
  build: (zip: yazl.ZipFile) => void,
): Promise<{ sha256: string; size: number }> {
  const zip = new yazl.ZipFile();
  build(zip);
  zip.end();
  const h = createHash('sha256');
  let size = 0;
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
  }
  return { sha256: h.digest('hex'), size };
}

function seconds(since: bigint): string {
  return `${(Number(process.hrtime.bigint() - since) / 1e9).toFixed(1)} s`;
}

async function checkReaders(
  file: string,
  expected: ReturnType<typeof expectedReport>,
  timings: Record<string, string>,
): Promise<void> {
  for (const [name, read] of ALL_READERS) {
    const t0 = process.hrtime.bigint();
    const report = await read(file);
    timings[name] = seconds(t0);
    assert.equal(report.count, expected.count, `${name}: entry count`);
    if (!Number.isNaN(report.bytes)) assert.equal(report.bytes, expected.bytes, `${name}: bytes`);
    if (report.digest !== undefined)
      assert.equal(report.digest, expected.digest, `${name}: names, CRCs, sizes`);
  }
}

describe('slow: large ZIP64 archives', () => {
  it('writes 70,000 entries (ZIP64 end records by count) that every reader accepts and that equal yazl byte for byte', async () => {
    const n = 70_000;
    const spec = (i: number): { spec: EntrySpec; data: Buffer } => {
      const data = Buffer.from(`entry ${i}\n`.repeat(i % 7));
      if (i % 1000 === 0)
        return {
          spec: { name: `dir-${i / 1000}`, mtime: T + i * 1000, directory: true },
          data: Buffer.alloc(0),
        };
      return {
        spec: {
          name: `d${i % 50}/f-${i}.txt`,
          mtime: T + i * 1000,
          compression: i % 3 === 0 ? 'deflate' : 'store',
          size: data.length,
        },
        data,
      };
    };
    const file = path.join(dir, 'many.zip');
    const timings: Record<string, string> = {};
    const t0 = process.hrtime.bigint();
    const result = await writeArchiveWithSpill(
      file,
      path.join(dir, 'many.cd'),
      (function* () {
        for (let i = 0; i < n; i++) {
          const { spec: s, data } = spec(i);
          yield { spec: s, ...(s.directory === true ? {} : { source: [data] }) };
        }
      })(),
    );
    timings.encode = seconds(t0);
    assert.equal(result.totals.entryCount, n);
    assert.equal(statSync(file).size, result.size);

    const t1 = process.hrtime.bigint();
    const oracle = await yazlSha256((zip) => {
      for (let i = 0; i < n; i++) {
        const { spec: s, data } = spec(i);
        if (s.directory === true) zip.addEmptyDirectory(s.name, { mtime: new Date(s.mtime) });
        else
          zip.addReadStream(Readable.from([data]), s.name, {
            mtime: new Date(s.mtime),
            compress: s.compression === 'deflate',
            size: data.length,
          });
      }
    });
    timings.yazl = seconds(t1);
    assert.equal(result.size, oracle.size);
    assert.equal(result.sha256, oracle.sha256, 'archive differs from yazl');

    const expected = expectedReport(
      Array.from({ length: n }, (_, i) => {
        const { spec: s, data } = spec(i);
        return {
          name: s.directory === true ? `${s.name}/` : s.name,
          crc32: zlib.crc32(data),
          size: data.length,
        };
      }),
    );
    await checkReaders(file, expected, timings);
    console.log(`70,000-entry archive: ${result.size} bytes; timings ${JSON.stringify(timings)}`);
  });

  it('writes a 4 GiB + 1 MiB entry and entries past the 4 GiB offset that every reader accepts and that equal yazl byte for byte', async () => {
    const block = Buffer.alloc(8 << 20); // zeros, reused for every chunk
    const bigSize = 4 * 1024 ** 3 + (1 << 20);
    function* bigSource(): Generator<Buffer> {
      let left = bigSize;
      while (left > 0) {
        const n = Math.min(left, block.length);
        yield n === block.length ? block : block.subarray(0, n);
        left -= n;
      }
    }
    let bigCrc = 0;
    for (const c of bigSource()) bigCrc = zlib.crc32(c, bigCrc);
    const small = Buffer.from('small file after the 4 GiB mark\n');
    const entries: Array<{ spec: EntrySpec; data?: Buffer }> = [
      {
        spec: { name: 'before.txt', mtime: T, compression: 'deflate' },
        data: Buffer.from('first\n'.repeat(100)),
      },
      { spec: { name: 'huge/zeros.bin', mtime: T, compression: 'store', size: bigSize } },
      {
        spec: { name: 'after-store.txt', mtime: T, compression: 'store', size: small.length },
        data: small,
      },
      { spec: { name: 'after-deflate.txt', mtime: T, compression: 'deflate' }, data: small },
      { spec: { name: 'after-dir', mtime: T, directory: true } },
    ];
    const file = path.join(dir, 'huge.zip');
    const timings: Record<string, string> = {};
    const t0 = process.hrtime.bigint();
    const result = await writeArchiveWithSpill(
      file,
      path.join(dir, 'huge.cd'),
      entries.map((e) => ({
        spec: e.spec,
        ...(e.spec.directory === true
          ? {}
          : { source: e.data === undefined ? bigSource() : [e.data] }),
      })),
    );
    timings.encode = seconds(t0);
    assert.ok(result.size > 2 ** 32);
    assert.equal(statSync(file).size, result.size);

    const t1 = process.hrtime.bigint();
    const oracle = await yazlSha256((zip) => {
      for (const e of entries) {
        const mtime = new Date(e.spec.mtime);
        if (e.spec.directory === true) zip.addEmptyDirectory(e.spec.name, { mtime });
        else
          zip.addReadStream(
            Readable.from(e.data === undefined ? bigSource() : [e.data]),
            e.spec.name,
            { mtime, compress: e.spec.compression === 'deflate' },
          );
      }
    });
    timings.yazl = seconds(t1);
    assert.equal(result.sha256, oracle.sha256, 'archive differs from yazl');

    const expected = expectedReport(
      entries.map((e) => ({
        name: e.spec.directory === true ? `${e.spec.name}/` : e.spec.name,
        crc32: e.data === undefined ? (e.spec.directory === true ? 0 : bigCrc) : zlib.crc32(e.data),
        size: e.data === undefined ? (e.spec.directory === true ? 0 : bigSize) : e.data.length,
      })),
    );
    await checkReaders(file, expected, timings);
    rmSync(file, { force: true });
    console.log(`4 GiB+ archive: ${result.size} bytes; timings ${JSON.stringify(timings)}`);
  });
});
