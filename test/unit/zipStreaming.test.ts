import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { ZipEncoder, ZipStateError, endOfArchive } from '../../src/zip';
import { collect, encodeZipflow } from '../readers/support';

describe('zip encoder streaming behaviour', () => {
  it('passes STORE chunks through as the very same Buffer objects (no copy)', async () => {
    const chunks = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')];
    const encoder = new ZipEncoder();
    const out: Buffer[] = [];
    for await (const c of encoder.entry({ name: 'x', mtime: 0, compression: 'store' }, chunks))
      out.push(c);
    assert.equal(out.length, 5); // header, 3 data chunks, data descriptor
    for (let i = 0; i < 3; i++) assert.equal(out[i + 1], chunks[i]);
  });

  it("gives each STORE data chunk's own CRC-32 (for the part's checksum), and none for other bytes", async () => {
    const chunks = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')];
    const cases: Array<[string, Parameters<ZipEncoder['entry']>[0], Buffer[]]> = [
      ['streamed STORE', { name: 's', mtime: 0, compression: 'store' }, chunks],
      [
        'STORE read whole',
        { name: 'w', mtime: 0, compression: 'store', size: 11, dataDescriptor: false },
        chunks,
      ],
      ['DEFLATE', { name: 'd', mtime: 0, compression: 'deflate' }, chunks],
    ];
    for (const [label, spec, source] of cases) {
      const encoder = new ZipEncoder();
      const seen: Array<{ chunk: Buffer; crc32: number | undefined }> = [];
      for await (const chunk of encoder.entry(spec, source))
        seen.push({ chunk, crc32: encoder.chunkCrc32(chunk) });
      const data = seen.filter((s) => s.crc32 !== undefined);
      if (spec.compression === 'deflate') assert.deepEqual(data, [], label);
      else {
        assert.ok(data.length > 0, label);
        for (const s of data) assert.equal(s.crc32, zlib.crc32(s.chunk), label);
        assert.equal(Buffer.concat(data.map((s) => s.chunk)).toString(), 'onetwothree', label);
      }
      // A chunk not handed out last has none.
      assert.equal(encoder.chunkCrc32(Buffer.from('one')), undefined, label);
    }
  });

  it('copies what it keeps past the next chunk, so a source may reuse a chunk once the next one is asked for', async () => {
    const data = Buffer.from('reused memory, '.repeat(20_000)); // 300,000 bytes
    // One buffer for every chunk, overwritten when the next one is asked for, as the read
    // side's pooled blocks are; each chunk the encoder hands out is taken (copied) at once.
    async function* reusing(): AsyncGenerator<Buffer> {
      const reused = Buffer.alloc(7_001);
      for (let at = 0; at < data.length; at += reused.length)
        yield reused.subarray(0, data.copy(reused, 0, at, at + reused.length));
    }
    const specs: Array<Parameters<ZipEncoder['entry']>[0]> = [
      { name: 'store', mtime: 0, compression: 'store' },
      { name: 'deflate', mtime: 0, compression: 'deflate' },
      { name: 'whole', mtime: 0, compression: 'deflate', size: data.length, dataDescriptor: false },
      {
        name: 'whole-store',
        mtime: 0,
        compression: 'store',
        size: data.length,
        dataDescriptor: false,
      },
    ];
    for (const spec of specs) {
      const encoder = new ZipEncoder();
      const taken: Buffer[] = [];
      for await (const chunk of encoder.entry(spec, reusing())) taken.push(Buffer.from(chunk));
      const fresh: Buffer[] = [];
      for await (const chunk of new ZipEncoder().entry(spec, [data])) fresh.push(chunk);
      assert.ok(Buffer.concat(taken).equals(Buffer.concat(fresh)), spec.name);
      assert.equal(encoder.lastEntry?.crc32, zlib.crc32(data), spec.name);
    }
  });

  it('reports CRC-32, sizes and offset of each finished entry', async () => {
    const data = Buffer.from('facts '.repeat(1000));
    const encoder = new ZipEncoder();
    for await (const _ of encoder.entry({ name: 'first', mtime: 0, compression: 'store' }, [data]))
      void _;
    const first = encoder.position;
    for await (const _ of encoder.entry({ name: 'second', mtime: 0, compression: 'deflate' }, [
      data,
    ]))
      void _;
    const facts = encoder.lastEntry;
    assert.ok(facts !== null);
    assert.equal(facts.crc32, zlib.crc32(data));
    assert.equal(facts.uncompressedSize, data.length);
    assert.equal(facts.compressedSize, zlib.deflateRawSync(data).length);
    assert.equal(facts.localHeaderOffset, first);
    assert.equal(facts.zip64, false);
  });

  it('emits DEFLATE output before the whole source has been read (no whole-entry buffering)', async () => {
    const block = Buffer.alloc(1 << 20);
    for (let i = 0; i < block.length; i++) block[i] = ((i * 7919) & 0xff) ^ (i >> 9);
    let produced = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 64; i++) {
        produced += block.length;
        yield block;
      }
    }
    const encoder = new ZipEncoder();
    let readWhenFirstData = -1;
    let n = 0;
    for await (const _ of encoder.entry(
      { name: 'big', mtime: 0, compression: 'deflate', level: 1 },
      source(),
    )) {
      void _;
      n += 1;
      if (n === 2) readWhenFirstData = produced; // chunk 1 is the header
    }
    assert.ok(
      readWhenFirstData > 0 && readWhenFirstData < 8 * block.length,
      `first compressed bytes came after ${readWhenFirstData} bytes were read`,
    );
  });

  it('propagates a source error out of STORE and DEFLATE entries', async () => {
    for (const compression of ['store', 'deflate'] as const) {
      async function* failing(): AsyncGenerator<Buffer> {
        yield Buffer.alloc(100_000, 1);
        throw new Error('source broke');
      }
      await assert.rejects(
        collect(new ZipEncoder().entry({ name: 'x', mtime: 0, compression }, failing())),
        /source broke/,
      );
    }
  });

  it('refuses a second entry while one is in flight, and ending while one is in flight', async () => {
    const encoder = new ZipEncoder();
    const gen = encoder.entry({ name: 'a', mtime: 0, compression: 'store' }, [Buffer.from('a')]);
    await gen.next();
    assert.throws(
      () => encoder.entry({ name: 'b', mtime: 0, compression: 'store' }, []),
      ZipStateError,
    );
    assert.throws(() => encoder.totals(), ZipStateError);
    await gen.return(undefined);
  });

  it('streams the end from records spilled in any chunking (one byte at a time, Uint8Array)', async () => {
    const encoder = new ZipEncoder();
    const records: Buffer[] = [];
    const out: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      for await (const c of encoder.entry({ name: `e${i}`, mtime: 0, compression: 'store' }, [
        Buffer.from([i]),
      ]))
        out.push(c);
      records.push(encoder.lastCentralDirectoryRecord as Buffer);
    }
    const spilled = Buffer.concat(records);
    async function* oneByteAtATime(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < spilled.length; i++) yield new Uint8Array(spilled.subarray(i, i + 1));
    }
    const end = await collect(endOfArchive(oneByteAtATime(), encoder.totals(), { comment: 'c' }));
    const whole = await encodeZipflow(
      [0, 1, 2, 3, 4].map((i) => ({
        spec: { name: `e${i}`, mtime: 0, compression: 'store' as const },
        data: Buffer.from([i]),
      })),
      { comment: 'c' },
    );
    assert.ok(Buffer.concat([...out, end]).equals(whole));
  });
});
