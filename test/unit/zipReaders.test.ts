import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EndOptions } from '../../src/zip';
import { randomArchive } from '../readers/cases';
import {
  ALL_READERS,
  encodeZipflow,
  expectedFromTestEntries,
  type TestEntry,
} from '../readers/support';

const T = Date.UTC(2024, 0, 31, 12, 0, 0);

/** Small archives that cover the shapes the encoder writes. */
function archives(): Array<{ label: string; entries: TestEntry[]; end: EndOptions }> {
  const text = Buffer.from('readers should all agree. '.repeat(500));
  const mixed: TestEntry[] = [
    {
      spec: { name: 'stored.txt', mtime: T, compression: 'store', size: text.length },
      data: text,
      chunkSizes: [1000],
    },
    {
      spec: {
        name: 'deflated.txt',
        mtime: T,
        compression: 'deflate',
        level: 9,
        comment: 'a file comment',
      },
      data: text,
    },
    { spec: { name: 'empty.bin', mtime: T, compression: 'store' }, data: Buffer.alloc(0) },
    {
      spec: { name: 'empty-deflate.bin', mtime: T, compression: 'deflate' },
      data: Buffer.alloc(0),
    },
    { spec: { name: 'folder', mtime: T, directory: true }, data: Buffer.alloc(0) },
    {
      spec: {
        name: 'folder/ünïcödé 日本 😀.txt',
        mtime: T,
        compression: 'deflate',
        mode: 0o100755,
      },
      data: Buffer.from('unicode'),
    },
    {
      spec: { name: 'old.txt', mtime: Date.UTC(1975, 0, 1), compression: 'store' },
      data: Buffer.from('old'),
    },
  ];
  const forced: TestEntry[] = mixed.map((e) => ({ ...e, spec: { ...e.spec, forceZip64: true } }));
  const random = randomArchive(31337, { maxEntries: 10, maxSize: 30_000 });
  return [
    {
      label: 'mixed STORE/DEFLATE/dirs/unicode',
      entries: mixed,
      end: { comment: 'archive comment' },
    },
    {
      label: 'every entry and the end records forced to ZIP64',
      entries: forced,
      end: { forceZip64: true },
    },
    { label: 'seeded random archive', entries: random.entries, end: random.end },
  ];
}

describe('independent readers accept small archives and read back every entry with matching CRCs', () => {
  let dir = '';
  const files: Array<{
    label: string;
    file: string;
    expected: ReturnType<typeof expectedFromTestEntries>;
  }> = [];
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'zipflow-readers-'));
    for (const [i, a] of archives().entries()) {
      const file = path.join(dir, `archive-${i}.zip`);
      writeFileSync(file, await encodeZipflow(a.entries, a.end));
      files.push({ label: a.label, file, expected: expectedFromTestEntries(a.entries) });
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [readerName, read] of ALL_READERS) {
    it(`${readerName} lists all entries and verifies their data`, async () => {
      for (const { label, file, expected } of files) {
        const report = await read(file);
        assert.equal(report.count, expected.count, `${readerName} / ${label}: entry count`);
        if (!Number.isNaN(report.bytes))
          assert.equal(report.bytes, expected.bytes, `${readerName} / ${label}: bytes`);
        if (report.digest !== undefined)
          assert.equal(
            report.digest,
            expected.digest,
            `${readerName} / ${label}: names, CRCs and sizes`,
          );
      }
    });
  }
});
