import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EntrySpec } from '../../src/zip';
import {
  STREAMING_READERS,
  encodeZipflow,
  expectedFromTestEntries,
  readWithJavaStream,
  type TestEntry,
} from '../readers/support';

const T = Date.UTC(2024, 0, 31, 12, 0, 0);

/** STORE and DEFLATE entries, empty ones, a directory, a UTF-8 name. */
function mixed(layout: Partial<EntrySpec>): TestEntry[] {
  const text = Buffer.from('streaming readers read this. '.repeat(400));
  const random = Buffer.alloc(50_000);
  for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
  const file = (spec: EntrySpec, data: Buffer): TestEntry => ({
    spec: { ...spec, ...layout },
    data,
    chunkSizes: [4096],
  });
  return [
    file({ name: 'stored.bin', mtime: T, compression: 'store' }, random),
    file({ name: 'deflated.txt', mtime: T, compression: 'deflate', level: 9 }, text),
    file({ name: 'empty.bin', mtime: T, compression: 'store' }, Buffer.alloc(0)),
    file({ name: 'empty-deflate.txt', mtime: T, compression: 'deflate' }, Buffer.alloc(0)),
    { spec: { name: 'folder', mtime: T, directory: true }, data: Buffer.alloc(0) },
    file({ name: 'folder/ünïcödé 日本.txt', mtime: T, compression: 'store' }, text),
    file(
      { name: 'stored-zip64-extra.bin', mtime: T, compression: 'store', forceZip64: true },
      text,
    ),
  ];
}

/** More entries than the 16-bit count holds: ZIP64 end records, tiny STORE and DEFLATE files. */
function many(): TestEntry[] {
  const entries: TestEntry[] = [];
  for (let i = 0; i < 70_000; i++) {
    entries.push({
      spec: {
        name: `many/${String(i).padStart(5, '0')}.txt`,
        mtime: T,
        compression: i % 2 === 0 ? 'store' : 'deflate',
        dataDescriptor: false,
      },
      data: i % 7 === 0 ? Buffer.alloc(0) : Buffer.from(`entry ${i}\n`),
    });
  }
  return entries;
}

describe('streaming readers (from a pipe) read archives whose local headers carry CRC-32 and sizes', () => {
  let dir = '';
  const files: Array<{
    label: string;
    file: string;
    expected: ReturnType<typeof expectedFromTestEntries>;
  }> = [];
  let descriptorFile = '';
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'zipflow-stream-readers-'));
    const archives: Array<[string, TestEntry[]]> = [
      [
        'STORE and DEFLATE, empty files, a directory, CRC and sizes in every header',
        mixed({ dataDescriptor: false }),
      ],
      [
        'STORE entries with CRC and sizes in the header, DEFLATE ones with a descriptor',
        mixed({}).map((e) =>
          e.spec.compression === 'store' ? { ...e, spec: { ...e.spec, dataDescriptor: false } } : e,
        ),
      ],
      ['70,000 entries (ZIP64 end records)', many()],
    ];
    for (const [i, [label, entries]] of archives.entries()) {
      const file = path.join(dir, `archive-${i}.zip`);
      writeFileSync(file, await encodeZipflow(entries, { comment: 'streamed' }));
      files.push({ label, file, expected: expectedFromTestEntries(entries) });
    }
    descriptorFile = path.join(dir, 'descriptor.zip');
    writeFileSync(descriptorFile, await encodeZipflow(mixed({})));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [readerName, read] of STREAMING_READERS) {
    it(`${readerName} reads every entry's bytes and CRC-32`, async () => {
      for (const { label, file, expected } of files) {
        const report = await read(file);
        assert.equal(report.count, expected.count, `${readerName} / ${label}: entry count`);
        assert.equal(report.bytes, expected.bytes, `${readerName} / ${label}: bytes`);
        assert.equal(
          report.digest,
          expected.digest,
          `${readerName} / ${label}: names, CRCs, sizes`,
        );
      }
    });
  }

  it('Java ZipInputStream stops at a STORE entry with a data descriptor (the yazl streaming layout)', async () => {
    await assert.rejects(
      readWithJavaStream(descriptorFile),
      /only DEFLATED entries can have EXT descriptor/,
    );
  });
});
