import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import {
  ZipEncoder,
  ZipInputError,
  ZipStateError,
  resumeSourceOffset,
  type EncoderCheckpoint,
  type EndOptions,
} from '../../src/zip';
import { randomArchive } from '../readers/cases';
import { chunksOf, collect, encodeZipflow, prng, type TestEntry } from '../readers/support';

function sourceFor(e: TestEntry, from = 0): Iterable<Buffer> | undefined {
  return e.spec.directory === true ? undefined : chunksOf(e.data.subarray(from), e.chunkSizes);
}

/**
 * Runs the encoder until archive byte `cut`, takes a checkpoint there and abandons the run
 * (as a crashed worker would). Returns the bytes before the cut, the spilled records and
 * the checkpoint — or the ZipStateError when the cut lies inside DEFLATE data.
 */
async function runUntil(
  entries: TestEntry[],
  cut: number,
): Promise<{ head: Buffer; records: Buffer[]; checkpoint: EncoderCheckpoint } | ZipStateError> {
  const encoder = new ZipEncoder();
  const head: Buffer[] = [];
  const records: Buffer[] = [];
  const take = (): EncoderCheckpoint | ZipStateError => {
    try {
      return encoder.checkpoint(cut);
    } catch (err) {
      if (err instanceof ZipStateError) return err;
      throw err;
    }
  };
  if (cut === 0) {
    const cp = take();
    return cp instanceof ZipStateError ? cp : { head: Buffer.alloc(0), records, checkpoint: cp };
  }
  for (const e of entries) {
    const gen = encoder.entry(e.spec, sourceFor(e));
    for await (const chunk of gen) {
      if (encoder.entryCount > records.length)
        records.push(encoder.lastCentralDirectoryRecord as Buffer);
      if (encoder.position >= cut) {
        const cp = take();
        await gen.return(undefined);
        if (cp instanceof ZipStateError) return cp;
        head.push(chunk.subarray(0, chunk.length - (encoder.position - cut)));
        return { head: Buffer.concat(head), records, checkpoint: cp };
      }
      head.push(chunk);
    }
  }
  throw new Error(`cut ${cut} is past the entries`);
}

/** A new encoder from the (JSON round-tripped) checkpoint finishes the archive. */
async function resumeFrom(
  entries: TestEntry[],
  end: EndOptions,
  cut: { head: Buffer; records: Buffer[]; checkpoint: EncoderCheckpoint },
): Promise<Buffer> {
  const cp = JSON.parse(JSON.stringify(cut.checkpoint)) as EncoderCheckpoint;
  const encoder = ZipEncoder.resume(cp);
  const out: Buffer[] = [cut.head];
  const records = cut.records.slice(0, cp.entryCount);
  let next = cp.entryCount;
  if (cp.entry !== null) {
    const e = entries[next];
    const from = resumeSourceOffset(cp) ?? 0;
    for await (const c of encoder.continueEntry(sourceFor(e, from))) out.push(c);
    records.push(encoder.lastCentralDirectoryRecord as Buffer);
    next += 1;
  }
  for (const e of entries.slice(next)) {
    for await (const c of encoder.entry(e.spec, sourceFor(e))) out.push(c);
    records.push(encoder.lastCentralDirectoryRecord as Buffer);
  }
  out.push(await collect(encoder.end(records, end)));
  return Buffer.concat(out);
}

describe('zip encoder checkpoint and resume', () => {
  it('resumes to the identical byte stream from cuts at every entry boundary and at random bytes of STORE entries (incl. mid-chunk)', async () => {
    let resumed = 0;
    for (let seed = 1000; seed < 1040; seed++) {
      const { entries, end } = randomArchive(seed, {
        storeOnly: true,
        maxSize: 5000,
        maxEntries: 6,
      });
      const whole = await encodeZipflow(entries, end);
      const rng = prng(seed);
      const { total, boundaries } = await entryBoundaries(entries);
      const cuts = new Set<number>(boundaries);
      for (let i = 0; i < 25; i++) cuts.add(rng.int(0, total));
      for (const cut of cuts) {
        const r = await runUntilOrBoundary(entries, cut);
        assert.ok(!(r instanceof ZipStateError), `seed ${seed} cut ${cut}: STORE cut refused`);
        const again = await resumeFrom(entries, end, r);
        assert.ok(again.equals(whole), `seed ${seed}: resuming at byte ${cut} changed the archive`);
        resumed += 1;
      }
    }
    assert.ok(resumed > 500, `only ${resumed} resumptions exercised`);
  });

  it('resumes from every single byte position of a small mixed archive where a checkpoint is allowed, and refuses only inside DEFLATE data', async () => {
    const T = Date.UTC(2023, 0, 2);
    const entries: TestEntry[] = [
      {
        spec: { name: 'a.bin', mtime: T, compression: 'store', size: 40 },
        data: Buffer.alloc(40, 7),
        chunkSizes: [13],
      },
      { spec: { name: 'dir', mtime: T, directory: true }, data: Buffer.alloc(0) },
      {
        spec: { name: 'b.txt', mtime: T, compression: 'deflate', level: 5 },
        data: Buffer.from('deflate me '.repeat(50)),
        chunkSizes: [17],
      },
      {
        spec: { name: 'empty', mtime: T, compression: 'store', forceZip64: true },
        data: Buffer.alloc(0),
      },
      {
        spec: { name: 'c', mtime: T, compression: 'store' },
        data: Buffer.from('tail bytes'),
        chunkSizes: [3],
      },
    ];
    const end: EndOptions = { comment: 'every byte' };
    const whole = await encodeZipflow(entries, end);
    const length = await entriesLength(entries);
    let refused = 0;
    let ok = 0;
    for (let cut = 0; cut <= length; cut++) {
      const r = await runUntilOrBoundary(entries, cut);
      if (r instanceof ZipStateError) {
        refused += 1;
        continue;
      }
      assert.ok(
        (await resumeFrom(entries, end, r)).equals(whole),
        `resuming at byte ${cut} changed the archive`,
      );
      ok += 1;
    }
    // Only the DEFLATE entry's compressed bytes are refused.
    const deflated = await encodeZipflow([entries[2]]);
    const compressedLength = deflated.readUInt32LE(
      deflated.indexOf(Buffer.from([0x50, 0x4b, 0x07, 0x08])) + 8,
    );
    assert.equal(refused, compressedLength);
    assert.equal(ok + refused, length + 1);
  });

  it('with CRC and sizes in local headers: resumes from every byte of an entry whose CRC was given, and refuses only inside entries read whole', async () => {
    const T = Date.UTC(2023, 0, 2);
    const given = Buffer.alloc(40, 9);
    const whole1 = Buffer.from('read whole '.repeat(5));
    const whole2 = Buffer.from('deflated whole '.repeat(20));
    const entries: TestEntry[] = [
      {
        spec: {
          name: 'given.bin',
          mtime: T,
          compression: 'store',
          size: given.length,
          crc32: zlib.crc32(given),
          dataDescriptor: false,
        },
        data: given,
        chunkSizes: [13],
      },
      {
        spec: { name: 'w.txt', mtime: T, compression: 'store', dataDescriptor: false },
        data: whole1,
        chunkSizes: [7],
      },
      {
        spec: { name: 'e', mtime: T, compression: 'store', dataDescriptor: false },
        data: Buffer.alloc(0),
      },
      {
        spec: { name: 'd.txt', mtime: T, compression: 'deflate', dataDescriptor: false },
        data: whole2,
      },
    ];
    const whole = await encodeZipflow(entries, {});
    const length = await entriesLength(entries);
    const refusedRanges: Array<[number, number]> = [];
    const walk = new ZipEncoder();
    for (const e of entries) {
      const start = walk.position;
      for await (const _ of walk.entry(e.spec, sourceFor(e))) void _;
      if (e.spec.crc32 == null) refusedRanges.push([start, walk.position]);
    }
    for (let cut = 0; cut <= length; cut++) {
      const r = await runUntilOrBoundary(entries, cut);
      const inside = refusedRanges.some(([from, to]) => cut > from && cut < to);
      if (r instanceof ZipStateError) {
        assert.ok(inside, `byte ${cut} refused outside an entry read whole`);
        continue;
      }
      assert.ok(!inside, `byte ${cut} inside an entry read whole gave a checkpoint`);
      assert.ok((await resumeFrom(entries, {}, r)).equals(whole), `resuming at ${cut} changed it`);
    }
  });

  it('fails an entry whose data does not have the CRC-32 given for its header', async () => {
    const data = Buffer.from('changed');
    const encoder = new ZipEncoder();
    const spec = {
      name: 'x',
      mtime: 0,
      compression: 'store' as const,
      size: data.length,
      crc32: (zlib.crc32(data) ^ 1) >>> 0,
      dataDescriptor: false,
    };
    await assert.rejects(
      collect(encoder.entry(spec, [data])),
      (err: unknown) => err instanceof ZipInputError && err.field === 'crc32',
    );
  });

  it('keeps the checkpoint small and independent of the number of entries written', async () => {
    const encoder = new ZipEncoder();
    const sizes: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      for await (const _ of encoder.entry({ name: `f${i % 10}`, mtime: 0, compression: 'store' }, [
        Buffer.from('x'),
      ]))
        void _;
      if (i === 9 || i === 19_999) sizes.push(JSON.stringify(encoder.checkpoint()).length);
    }
    assert.ok(sizes[1] - sizes[0] <= 12, `checkpoint grew from ${sizes[0]} to ${sizes[1]} bytes`);
    assert.ok(sizes[1] < 200);
  });

  it('refuses a checkpoint inside DEFLATE data and outside the last chunk handed out', async () => {
    const encoder = new ZipEncoder();
    for await (const _ of encoder.entry({ name: 'first', mtime: 0, compression: 'store' }, [
      Buffer.from('1'),
    ]))
      void _;
    const gen = encoder.entry({ name: 'x', mtime: 0, compression: 'deflate' }, [
      Buffer.alloc(100_000, 1),
    ]);
    await gen.next(); // header
    assert.doesNotThrow(() => encoder.checkpoint()); // end of header: fine
    assert.throws(() => encoder.checkpoint(encoder.position + 1), ZipStateError);
    assert.throws(() => encoder.checkpoint(0), ZipStateError); // before the last chunk
    await gen.next(); // compressed data
    assert.throws(() => encoder.checkpoint(), ZipStateError);
    await gen.return(undefined);
  });

  it('rejects a corrupted or foreign checkpoint with ZipInputError', () => {
    assert.throws(
      () => ZipEncoder.resume({ format: 'other' } as unknown as EncoderCheckpoint),
      ZipInputError,
    );
    const bad: EncoderCheckpoint = {
      format: 'zipflow.zip-encoder/1',
      position: 999,
      entryCount: 0,
      centralDirectorySize: 0,
      entry: {
        spec: {
          name: 'a',
          mtime: 0,
          mode: 0o100664,
          compression: 'store',
          level: 6,
          size: null,
          comment: '',
          directory: false,
          forceZip64: false,
          dataDescriptor: true,
          crc32: null,
        },
        localHeaderOffset: 0,
        phase: 'data',
        phaseOffset: 3,
        crc32: 0,
        uncompressedSize: 3,
        compressedSize: 3,
      },
    };
    assert.throws(
      () => ZipEncoder.resume(bad),
      (e: unknown) => e instanceof ZipInputError && e.field === 'checkpoint',
    );
  });
});

/** Length of the entries part of the archive (= central directory offset). */
async function entriesLength(entries: TestEntry[]): Promise<number> {
  return (await entryBoundaries(entries)).total;
}

/** Every chunk boundary of the entries part: entry starts, header ends, data chunk ends, descriptor ends. */
async function entryBoundaries(
  entries: TestEntry[],
): Promise<{ total: number; boundaries: number[] }> {
  const encoder = new ZipEncoder();
  const boundaries = [0];
  for (const e of entries) {
    for await (const _ of encoder.entry(e.spec, sourceFor(e))) {
      void _;
      boundaries.push(encoder.position);
    }
  }
  return { total: encoder.position, boundaries };
}

/** runUntil, plus the cut at the very end of the entries (after the last one finishes). */
async function runUntilOrBoundary(entries: TestEntry[], cut: number): ReturnType<typeof runUntil> {
  const total = await entriesLength(entries);
  if (cut < total || cut === 0) return runUntil(entries, cut);
  const encoder = new ZipEncoder();
  const head: Buffer[] = [];
  const records: Buffer[] = [];
  for (const e of entries) {
    for await (const c of encoder.entry(e.spec, sourceFor(e))) head.push(c);
    records.push(encoder.lastCentralDirectoryRecord as Buffer);
  }
  return { head: Buffer.concat(head), records, checkpoint: encoder.checkpoint() };
}
