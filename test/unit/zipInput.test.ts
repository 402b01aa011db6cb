import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ZipEncoder,
  ZipInputError,
  endOfArchive,
  normalizeEntrySpec,
  type EntrySpec,
} from '../../src/zip';
import { collect } from '../readers/support';

function rejects(field: string, fn: () => unknown, mention?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ZipInputError, `expected ZipInputError, got ${String(err)}`);
    assert.equal(err.field, field);
    assert.ok(err.message.startsWith(`${field}: `), err.message);
    if (mention !== undefined) assert.match(err.message, mention);
    return true;
  });
}

const ok: EntrySpec = { name: 'ok.txt', mtime: 0, compression: 'store' };

async function drain(gen: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of gen) out.push(c);
  return out;
}

describe('zip encoder refuses bad input with ZipInputError naming the field', () => {
  it('refuses an empty name', () =>
    rejects('name', () => normalizeEntrySpec({ ...ok, name: '' }), /non-empty/));
  it('refuses absolute names (leading slash, drive letter)', () => {
    rejects('name', () => normalizeEntrySpec({ ...ok, name: '/etc/passwd' }), /absolute/);
    rejects('name', () => normalizeEntrySpec({ ...ok, name: 'C:/Windows' }), /drive letter/);
    rejects('name', () => normalizeEntrySpec({ ...ok, name: 'c:x' }), /absolute/);
  });
  it('refuses names with ".." segments', () => {
    for (const name of ['..', '../x', 'a/../b', 'a/..'])
      rejects('name', () => normalizeEntrySpec({ ...ok, name }), /"\.\."/);
    assert.equal(normalizeEntrySpec({ ...ok, name: 'a..b/..c' }).name, 'a..b/..c'); // dots inside a segment are fine
  });
  it('refuses backslashes and NUL characters in names', () => {
    rejects('name', () => normalizeEntrySpec({ ...ok, name: 'a\\b' }), /backslash/);
    rejects('name', () => normalizeEntrySpec({ ...ok, name: 'a\0b' }), /NUL/);
  });
  it('refuses control characters, bidirectional formatting characters, "." and empty segments', () => {
    for (const name of ['a\u0007b', 'a\u001bb', 'a\u007fb', 'a\u0085b'])
      rejects('name', () => normalizeEntrySpec({ ...ok, name }), /control character U\+00/);
    for (const name of ['inv\u202eexe.txt', 'a\u2066b', 'a\u200fb'])
      rejects('name', () => normalizeEntrySpec({ ...ok, name }), /bidirectional/);
    for (const name of ['./a', 'a/./b', 'a/.'])
      rejects('name', () => normalizeEntrySpec({ ...ok, name }), /"\." segment/);
    rejects('name', () => normalizeEntrySpec({ ...ok, name: 'a//b' }), /empty segment/);
    assert.equal(normalizeEntrySpec({ ...ok, name: '.hidden/.x' }).name, '.hidden/.x');
    assert.equal(normalizeEntrySpec({ name: 'd', mtime: 0, directory: true }).name, 'd/');
  });
  it('refuses names over 65,535 UTF-8 bytes and accepts exactly 65,535', () => {
    rejects('name', () => normalizeEntrySpec({ ...ok, name: 'é'.repeat(32_768) }), /65535/);
    assert.equal(
      Buffer.byteLength(normalizeEntrySpec({ ...ok, name: 'a'.repeat(65_535) }).name),
      65_535,
    );
    rejects(
      'name',
      () => normalizeEntrySpec({ name: 'd'.repeat(65_535), mtime: 0, directory: true }),
      /65535/,
    ); // the added "/" overflows
  });
  it('refuses a lone surrogate, which has no UTF-8 encoding', () =>
    rejects('name', () => normalizeEntrySpec({ ...ok, name: 'a\ud800b' }), /surrogate/));
  it('refuses a file name ending in "/" (directories must say directory: true)', () =>
    rejects('name', () => normalizeEntrySpec({ ...ok, name: 'x/' }), /directory: true/));

  it('refuses non-integer or non-finite mtimes', () => {
    for (const mtime of [Number.NaN, Infinity, 1.5, 9e15])
      rejects('mtime', () => normalizeEntrySpec({ ...ok, mtime }));
    rejects('mtime', () => normalizeEntrySpec({ ...ok, mtime: '2020' as unknown as number }));
  });
  it('refuses modes outside 16 bits', () => {
    for (const mode of [-1, 0x10000, 1.5])
      rejects('mode', () => normalizeEntrySpec({ ...ok, mode }));
  });
  it('refuses unknown compression methods and deflate levels outside 1..9', () => {
    rejects(
      'compression',
      () => normalizeEntrySpec({ ...ok, compression: 'auto' as unknown as 'store' }),
      /autoCompression/,
    );
    for (const level of [0, 10, 2.5])
      rejects('level', () => normalizeEntrySpec({ ...ok, compression: 'deflate', level }));
  });
  it('refuses negative or fractional declared sizes and a non-zero directory size', () => {
    for (const size of [-1, 1.5]) rejects('size', () => normalizeEntrySpec({ ...ok, size }));
    rejects('size', () => normalizeEntrySpec({ name: 'd', mtime: 0, directory: true, size: 5 }));
  });
  it('refuses file comments over 65,535 UTF-8 bytes', () =>
    rejects('comment', () => normalizeEntrySpec({ ...ok, comment: 'ü'.repeat(32_768) }), /65535/));
  it('refuses a file entry without a source', () =>
    rejects('source', () => new ZipEncoder().entry(ok)));

  it('refuses a STORE source longer than the declared size before handing out the excess bytes', async () => {
    const encoder = new ZipEncoder();
    const out: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of encoder.entry({ ...ok, size: 4 }, [
          Buffer.from('abc'),
          Buffer.from('de'),
        ]))
          out.push(c);
      })(),
      (e: unknown) =>
        e instanceof ZipInputError && e.field === 'size' && /declared size 4/.test(e.message),
    );
    assert.equal(Buffer.concat(out.slice(1)).toString(), 'abc');
  });
  it('refuses a source shorter than the declared size, for STORE and DEFLATE', async () => {
    for (const compression of ['store', 'deflate'] as const) {
      await assert.rejects(
        drain(new ZipEncoder().entry({ ...ok, compression, size: 10 }, [Buffer.from('short')])),
        (e: unknown) => e instanceof ZipInputError && e.field === 'size',
      );
    }
  });
  it('refuses a STORE source whose bytes do not match the CRC-32 given for its known header (a stored S3 checksum), after its data and before anything follows', async () => {
    const data = Buffer.from('the bytes S3 returned');
    const out: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of new ZipEncoder().entry(
          { ...ok, size: data.length, crc32: 0x12345678, dataDescriptor: false },
          [data],
        ))
          out.push(c);
      })(),
      (e: unknown) =>
        e instanceof ZipInputError &&
        e.field === 'crc32' &&
        /12345678/.test(e.message) &&
        /source changed/.test(e.message),
    );
    // The header and the data were handed out; no data descriptor and no central record follow.
    assert.equal(Buffer.concat(out.slice(1)).toString(), data.toString());
  });
  it('refuses a DEFLATE source longer than the declared size', async () => {
    await assert.rejects(
      drain(
        new ZipEncoder().entry({ ...ok, compression: 'deflate', size: 2 }, [Buffer.from('long')]),
      ),
      (e: unknown) => e instanceof ZipInputError && e.field === 'size',
    );
  });

  it('refuses archive comments over 65,535 bytes, with the end-record signature, or non-ASCII strings', () => {
    const totals = { entryCount: 0, centralDirectoryOffset: 0, centralDirectorySize: 0 };
    rejects(
      'comment',
      () => endOfArchive([], totals, { comment: Buffer.alloc(65_536, 0x61) }),
      /65535/,
    );
    rejects('comment', () => endOfArchive([], totals, { comment: 'see PK\x05\x06 here' }));
    rejects(
      'comment',
      () => endOfArchive([], totals, { comment: Buffer.from('xPK\x05\x06y', 'latin1') }),
      /signature/,
    );
    rejects('comment', () => endOfArchive([], totals, { comment: 'café' }), /Buffer/);
    assert.doesNotThrow(() => endOfArchive([], totals, { comment: Buffer.alloc(65_535, 0x61) }));
  });
  it('refuses central-directory records that do not add up to the totals', async () => {
    const totals = { entryCount: 1, centralDirectoryOffset: 10, centralDirectorySize: 5 };
    await assert.rejects(
      collect(endOfArchive([Buffer.alloc(4)], totals)),
      (e: unknown) => e instanceof ZipInputError && e.field === 'records',
    );
    await assert.rejects(
      collect(endOfArchive([Buffer.alloc(6)], totals)),
      (e: unknown) => e instanceof ZipInputError && e.field === 'records',
    );
    rejects('entryCount', () => endOfArchive([], { ...totals, entryCount: -1 }));
  });
});

describe('zip encoder clamps out-of-range mtimes like yazl instead of refusing them', () => {
  async function record(mtime: number): Promise<Buffer> {
    const e = new ZipEncoder();
    await drain(e.entry({ ...ok, mtime }, []));
    return e.lastCentralDirectoryRecord as Buffer;
  }
  it('writes 1980-01-01 00:00 as DOS time for mtimes before 1980, keeping the real seconds in the UT field', async () => {
    const r = await record(Date.UTC(1975, 5, 1));
    assert.equal(r.readUInt16LE(12), 0); // time
    assert.equal(r.readUInt16LE(14), (0 << 9) | (1 << 5) | 1); // 1980-01-01
    assert.equal(r.readInt32LE(46 + 6 + 5), Date.UTC(1975, 5, 1) / 1000);
  });
  it('writes 2107-12-31 23:59:58 for mtimes after the DOS range and clamps UT to 2038-01-19T03:14:07Z', async () => {
    const r = await record(Date.UTC(2150, 0, 1));
    assert.equal(r.readUInt16LE(12), (23 << 11) | (59 << 5) | 29);
    assert.equal(r.readUInt16LE(14), (127 << 9) | (12 << 5) | 31);
    assert.equal(r.readInt32LE(46 + 6 + 5), 0x7fffffff);
  });
  it('accepts mtimes before 1970 and writes them as negative UT seconds (yazl 3.3.1 throws here)', async () => {
    const r = await record(-86_400_000);
    assert.equal(r.readInt32LE(46 + 6 + 5), -86_400);
  });
});
