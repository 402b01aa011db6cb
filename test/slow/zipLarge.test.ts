/**
 * Slow tier: real ZIP64 archives on disk, read by every independent reader, and checked
 * byte for byte (SHA-256) against yazl 3.3.1 for the same entries.
 *   - 70,000 entries (> 65,535: ZIP64 end records by entry count)
 *   - an entry of 4 GiB + 1 MiB and entries past the 4 GiB offset (ZIP64 sizes and offsets)
 *   - the same with CRC-32 and sizes in every local header (no data descriptor), which the
 *     streaming readers (from a pipe) read too; Python's zipfile checks its headers instead of
 *     yazl. (70,000 entries in that layout are streamed in test/unit/zipStreamingReaders.test.ts.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import * as yazl from 'yazl';
import type { EntrySpec } from '../../src/zip';
import { writeArchiveWithSpill, type SpillResult } from '../readers/spill';
import {
  ALL_READERS,
  STREAMING_READERS,
  checkKnownHeadersWithPython,
  encodeZipflow,
  expectedReport,
} from '../readers/support';

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
  readers: typeof ALL_READERS = ALL_READERS,
): Promise<void> {
  for (const [name, read] of readers) {
    const t0 = process.hrtime.bigint();
    const report = await read(file);
    timings[name] = seconds(t0);
    assert.equal(report.count, expected.count, `${name}: entry count`);
    if (!Number.isNaN(report.bytes)) assert.equal(report.bytes, expected.bytes, `${name}: bytes`);
    if (report.digest !== undefined)
      assert.equal(report.digest, expected.digest, `${name}: names, CRCs, sizes`);
  }
}

const BIG_SIZE = 4 * 1024 ** 3 + (1 << 20);
const ZERO_BLOCK = Buffer.alloc(8 << 20); // reused for every chunk of the big entry
const EMPTY = Buffer.alloc(0);

/** BIG_SIZE zero bytes, in ZERO_BLOCK chunks: the big entry without 4 GiB in memory. */
function* bigSource(): Generator<Buffer> {
  let left = BIG_SIZE;
  while (left > 0) {
    const n = Math.min(left, ZERO_BLOCK.length);
    yield n === ZERO_BLOCK.length ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, n);
    left -= n;
  }
}

let bigCrcValue: number | undefined;
function bigCrc(): number {
  if (bigCrcValue === undefined) {
    let crc = 0;
    for (const c of bigSource()) crc = zlib.crc32(c, crc);
    bigCrcValue = crc;
  }
  return bigCrcValue;
}

/** A file without `data` is the big entry; a directory has none. */
interface LargeEntry {
  spec: EntrySpec;
  data?: Buffer;
}

function sourceOf(e: LargeEntry): Iterable<Buffer> {
  return e.data === undefined ? bigSource() : [e.data];
}

async function writeLarge(
  file: string,
  entries: LargeEntry[],
  timings: Record<string, string>,
): Promise<SpillResult> {
  const t0 = process.hrtime.bigint();
  const result = await writeArchiveWithSpill(
    file,
    `${file}.cd`,
    entries.map((e) => ({
      spec: e.spec,
      ...(e.spec.directory === true ? {} : { source: sourceOf(e) }),
    })),
  );
  timings.encode = seconds(t0);
  assert.ok(result.size > 2 ** 32);
  assert.equal(statSync(file).size, result.size);
  return result;
}

function largeReport(entries: LargeEntry[]): ReturnType<typeof expectedReport> {
  return expectedReport(
    entries.map((e) => {
      if (e.spec.directory === true) return { name: `${e.spec.name}/`, crc32: 0, size: 0 };
      if (e.data === undefined) return { name: e.spec.name, crc32: bigCrc(), size: BIG_SIZE };
      return { name: e.spec.name, crc32: zlib.crc32(e.data), size: e.data.length };
    }),
  );
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
    const small = Buffer.from('small file after the 4 GiB mark\n');
    const entries: LargeEntry[] = [
      {
        spec: { name: 'before.txt', mtime: T, compression: 'deflate' },
        data: Buffer.from('first\n'.repeat(100)),
      },
      { spec: { name: 'huge/zeros.bin', mtime: T, compression: 'store', size: BIG_SIZE } },
      {
        spec: { name: 'after-store.txt', mtime: T, compression: 'store', size: small.length },
        data: small,
      },
      { spec: { name: 'after-deflate.txt', mtime: T, compression: 'deflate' }, data: small },
      { spec: { name: 'after-dir', mtime: T, directory: true } },
    ];
    const file = path.join(dir, 'huge.zip');
    const timings: Record<string, string> = {};
    const result = await writeLarge(file, entries, timings);

    const t1 = process.hrtime.bigint();
    const oracle = await yazlSha256((zip) => {
      for (const e of entries) {
        const mtime = new Date(e.spec.mtime);
        if (e.spec.directory === true) zip.addEmptyDirectory(e.spec.name, { mtime });
        else
          zip.addReadStream(Readable.from(sourceOf(e)), e.spec.name, {
            mtime,
            compress: e.spec.compression === 'deflate',
          });
      }
    });
    timings.yazl = seconds(t1);
    assert.equal(result.sha256, oracle.sha256, 'archive differs from yazl');

    await checkReaders(file, largeReport(entries), timings);
    rmSync(file, { force: true });
    console.log(`4 GiB+ archive: ${result.size} bytes; timings ${JSON.stringify(timings)}`);
  });

  it('writes a 4 GiB + 1 MiB STORE entry with its CRC-32 and sizes in the local header (ZIP64 extra, no data descriptor), with small STORE, DEFLATE and empty entries and a directory past the 4 GiB offset, that every streaming and non-streaming reader reads in full', async () => {
    const known = { dataDescriptor: false } as const;
    const text = Buffer.from('known header, read from a pipe\n'.repeat(200));
    const entries: LargeEntry[] = [
      { spec: { name: 'before-store.txt', mtime: T, compression: 'store', ...known }, data: text },
      { spec: { name: 'before-empty.bin', mtime: T, compression: 'store', ...known }, data: EMPTY },
      {
        // The run's layout for a large object with a stored CRC-32: given before its data.
        spec: {
          name: 'huge/zeros.bin',
          mtime: T,
          compression: 'store',
          size: BIG_SIZE,
          crc32: bigCrc(),
          ...known,
        },
      },
      { spec: { name: 'after-store.txt', mtime: T, compression: 'store', ...known }, data: text },
      {
        spec: { name: 'after-deflate.txt', mtime: T, compression: 'deflate', level: 9, ...known },
        data: text,
      },
      {
        spec: { name: 'after-empty.txt', mtime: T, compression: 'deflate', ...known },
        data: EMPTY,
      },
      { spec: { name: 'after-dir', mtime: T, directory: true } },
      {
        spec: { name: 'after-dir/last.txt', mtime: T, compression: 'store', ...known },
        data: text,
      },
    ];
    const file = path.join(dir, 'huge-known.zip');
    const timings: Record<string, string> = {};
    const result = await writeLarge(file, entries, timings);

    // yazl cannot be the oracle here (its addBuffer, the known-header path, stops at 1 GiB), and
    // no other writer is byte-identical to it; so Python's zipfile checks the structure instead:
    // each local header equals the one zipfile writes for that entry, and no descriptor follows.
    const t1 = process.hrtime.bigint();
    assert.equal(await checkKnownHeadersWithPython(file), entries.length);
    timings['zipfile headers'] = seconds(t1);

    await checkReaders(file, largeReport(entries), timings, STREAMING_READERS);
    await checkReaders(file, largeReport(entries), timings);
    rmSync(file, { force: true });
    console.log(
      `4 GiB+ known-header archive: ${result.size} bytes; timings ${JSON.stringify(timings)}`,
    );
  });

  it('the zipfile known-header check rejects the data-descriptor layout', async () => {
    const file = path.join(dir, 'descriptor.zip');
    const text = Buffer.from('descriptor\n');
    writeFileSync(
      file,
      await encodeZipflow([
        { spec: { name: 'd.txt', mtime: T, compression: 'store' }, data: text },
      ]),
    );
    await assert.rejects(checkKnownHeadersWithPython(file), /differs from zipfile's/);
  });
});
