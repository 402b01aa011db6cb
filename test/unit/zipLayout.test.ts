import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ArchiveLayout,
  ZipEncoder,
  ZipInputError,
  endOfArchive,
  endRecords,
  layoutEntries,
  type EncoderCheckpoint,
  type EntrySpec,
} from '../../src/zip';
import { randomArchive, withKnownHeaders } from '../readers/cases';
import { chunksOf, collect, prng, type TestEntry } from '../readers/support';

/** Encodes entries (from an optional starting checkpoint) and checks every offset the layout predicted. */
async function checkAgainstEncoder(
  entries: TestEntry[],
  start?: EncoderCheckpoint,
  end: { forceZip64?: boolean; comment?: string } = {},
): Promise<void> {
  const encoder = start === undefined ? new ZipEncoder() : ZipEncoder.resume(start);
  const layout = start === undefined ? new ArchiveLayout() : ArchiveLayout.fromCheckpoint(start);
  const records: Buffer[] = [];
  let written = start?.position ?? 0;
  const planned = layoutEntries(
    entries.map((e) => e.spec),
    layout,
  );
  for (const e of entries) {
    const p = planned.next();
    assert.ok(p.done !== true);
    const plan = p.value;
    let dataStart = -1;
    for await (const c of encoder.entry(
      e.spec,
      e.spec.directory === true ? undefined : chunksOf(e.data, e.chunkSizes),
    )) {
      if (dataStart < 0) dataStart = written + c.length; // first chunk is the local header
      written += c.length;
    }
    const facts = encoder.lastEntry;
    assert.ok(facts !== null);
    assert.equal(
      plan.localHeaderOffset,
      facts.localHeaderOffset,
      `${e.spec.name}: local header offset`,
    );
    assert.equal(plan.dataOffset, dataStart, `${e.spec.name}: data offset`);
    assert.equal(plan.end, encoder.position, `${e.spec.name}: entry end`);
    assert.equal(plan.zip64, facts.zip64, `${e.spec.name}: zip64`);
    const record = encoder.lastCentralDirectoryRecord as Buffer;
    assert.equal(
      plan.centralDirectoryRecordLength,
      record.length,
      `${e.spec.name}: central directory record length`,
    );
    if (plan.dataDescriptorOffset !== null)
      assert.equal(plan.dataDescriptorOffset, dataStart + facts.compressedSize);
    records.push(record);
  }
  const summary = layout.summary(end);
  const endBytes = await collect(endOfArchive(records, encoder.totals(), end));
  assert.deepEqual(layout.totals(), encoder.totals());
  assert.equal(summary.archiveSize, written + endBytes.length, 'archive size');
}

describe('zip layout arithmetic agrees with the encoder', () => {
  it('predicts every offset for 40 random STORE archives with CRC and sizes in local headers', async () => {
    for (let seed = 3000; seed < 3040; seed++) {
      const { entries } = randomArchive(seed, { storeOnly: true, maxSize: 20_000, maxEntries: 12 });
      for (const e of entries) if (e.spec.directory !== true) e.spec.size = e.data.length;
      await checkAgainstEncoder(withKnownHeaders(entries, seed, seed % 2 === 0));
    }
  });

  it('predicts every offset, record length and the archive size for 60 random STORE archives', async () => {
    for (let seed = 2000; seed < 2060; seed++) {
      const { entries, end } = randomArchive(seed, {
        storeOnly: true,
        maxSize: 20_000,
        maxEntries: 12,
      });
      for (const e of entries) if (e.spec.directory !== true) e.spec.size = e.data.length;
      const comment = typeof end.comment === 'string' ? end.comment : undefined;
      await checkAgainstEncoder(entries, undefined, {
        ...(end.forceZip64 === true ? { forceZip64: true } : {}),
        ...(comment !== undefined ? { comment } : {}),
      });
    }
  });

  it('switches entries to ZIP64 exactly when the local header offset passes 0xfffffffe, as the encoder does', async () => {
    const rng = prng(7);
    // Start just below the 4 GiB mark via a boundary checkpoint, so no 4 GiB of data is needed.
    for (const startAt of [
      0xfffffffe - 200,
      0xfffffffe - 31,
      0xfffffffe - 30,
      0xfffffffe,
      0xffffffff,
      0x100000000 + 5,
    ]) {
      const start: EncoderCheckpoint = {
        format: 'zipflow.zip-encoder/1',
        position: startAt,
        entryCount: 0,
        centralDirectorySize: 0,
        entry: null,
      };
      const entries: TestEntry[] = [];
      for (let i = 0; i < 6; i++) {
        const data = Buffer.alloc(rng.int(0, 40), i);
        entries.push(
          i === 3
            ? { spec: { name: `dir${i}`, mtime: 0, directory: true }, data: Buffer.alloc(0) }
            : { spec: { name: `f${i}`, mtime: 0, compression: 'store', size: data.length }, data },
        );
      }
      await checkAgainstEncoder(entries, start);
    }
  });

  it('writes the ZIP64 extra field with the real offset and 0xffffffff markers once the offset is past 4 GiB', async () => {
    const start: EncoderCheckpoint = {
      format: 'zipflow.zip-encoder/1',
      position: 0x123456789,
      entryCount: 0,
      centralDirectorySize: 0,
      entry: null,
    };
    const encoder = ZipEncoder.resume(start);
    for await (const _ of encoder.entry({ name: 'far', mtime: 0, compression: 'store' }, [
      Buffer.from('abc'),
    ]))
      void _;
    const r = encoder.lastCentralDirectoryRecord as Buffer;
    assert.equal(r.readUInt16LE(6), 45); // version needed: ZIP64
    assert.equal(r.readUInt32LE(20), 0xffffffff);
    assert.equal(r.readUInt32LE(24), 0xffffffff);
    assert.equal(r.readUInt32LE(42), 0xffffffff);
    const extra = 46 + 3 + 9;
    assert.equal(r.readUInt16LE(extra), 0x0001);
    assert.equal(r.readBigUInt64LE(extra + 4), 3n);
    assert.equal(r.readBigUInt64LE(extra + 12), 3n);
    assert.equal(r.readBigUInt64LE(extra + 20), 0x123456789n);
  });

  it('uses the ZIP64 end records exactly at 65,535 entries or a central directory offset/size of 0xffffffff, marking only the overflowing fields', () => {
    const comment = Buffer.alloc(0);
    const cases: Array<[number, number, number, boolean]> = [
      [65_534, 100, 100, false],
      [65_535, 100, 100, true],
      [10, 0xfffffffe, 100, false],
      [10, 0xffffffff, 100, true],
      [10, 100, 0xfffffffe, false],
      [10, 100, 0xffffffff, true],
    ];
    for (const [entryCount, centralDirectoryOffset, centralDirectorySize, zip64] of cases) {
      const b = endRecords({ entryCount, centralDirectoryOffset, centralDirectorySize }, comment);
      assert.equal(
        b.length,
        zip64 ? 98 : 22,
        `${entryCount}/${centralDirectoryOffset}/${centralDirectorySize}`,
      );
      const eocd = b.subarray(b.length - 22);
      assert.equal(eocd.readUInt16LE(10), entryCount >= 0xffff ? 0xffff : entryCount);
      assert.equal(
        eocd.readUInt32LE(12),
        centralDirectorySize >= 0xffffffff ? 0xffffffff : centralDirectorySize,
      );
      assert.equal(
        eocd.readUInt32LE(16),
        centralDirectoryOffset >= 0xffffffff ? 0xffffffff : centralDirectoryOffset,
      );
      if (zip64) {
        assert.equal(b.readUInt32LE(0), 0x06064b50);
        assert.equal(b.readBigUInt64LE(32), BigInt(entryCount));
        assert.equal(b.readUInt32LE(56), 0x07064b50);
        assert.equal(
          b.readBigUInt64LE(56 + 8),
          BigInt(centralDirectoryOffset + centralDirectorySize),
        );
      }
    }
  });

  it('refuses DEFLATE entries and entries without a declared size', () => {
    const layout = new ArchiveLayout();
    assert.throws(
      () => layout.add({ name: 'a', mtime: 0, compression: 'deflate', size: 1 }),
      (e: unknown) => e instanceof ZipInputError && e.field === 'compression',
    );
    assert.throws(
      () => layout.add({ name: 'a', mtime: 0, compression: 'store' }),
      (e: unknown) => e instanceof ZipInputError && e.field === 'size',
    );
  });

  it('lays out a million entries lazily from a generator in constant memory', () => {
    function* specs(): Generator<EntrySpec> {
      for (let i = 0; i < 1_000_000; i++)
        yield { name: `objects/${i}.bin`, mtime: 0, compression: 'store', size: i % 1000 };
    }
    const layout = new ArchiveLayout();
    let last = 0;
    for (const entry of layoutEntries(specs(), layout)) last = entry.end;
    const s = layout.summary();
    assert.equal(s.entryCount, 1_000_000);
    assert.equal(s.centralDirectoryOffset, last);
    assert.equal(s.zip64EndRecords, true);
  });
});
