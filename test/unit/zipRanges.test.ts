import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { describe, it } from 'node:test';
import {
  ArchiveLayout,
  crcOfFirstBytes,
  crcUnknownAt,
  deferredParts,
  splitParts,
  type CrcPiece,
} from '../../src/zip';

const archive = (centralDirectoryOffset: number, archiveSize: number) => ({
  centralDirectoryOffset,
  archiveSize,
});

describe('splitParts', () => {
  it('splits the parts before the central directory into contiguous ranges, the first ones taking the remainder', () => {
    // 10 parts of 100 bytes; the central directory starts in part 10.
    const split = splitParts(archive(950, 1000), 100, 4);
    assert.equal(split.partCount, 10);
    assert.equal(split.endFirstPart, 10);
    assert.deepEqual(
      split.ranges.map((r) => [r.firstPart, r.lastPart, r.start, r.end]),
      [
        [1, 3, 0, 300],
        [4, 5, 300, 500],
        [6, 7, 500, 700],
        [8, 9, 700, 900],
      ],
    );
  });

  it('leaves the part where the central directory starts to the end unit, also when it starts on a part boundary', () => {
    const split = splitParts(archive(900, 1000), 100, 2);
    assert.equal(split.endFirstPart, 10);
    assert.deepEqual(split.ranges.at(-1)!.lastPart, 9);
  });

  it('makes fewer ranges than asked when there are fewer parts, and none when the central directory is in part 1', () => {
    assert.equal(splitParts(archive(250, 300), 100, 8).ranges.length, 2);
    const tiny = splitParts(archive(50, 90), 100, 8);
    assert.deepEqual(tiny, { ranges: [], endFirstPart: 1, partCount: 1 });
  });
});

describe('deferredParts', () => {
  // An entry with header [100, 130), data [130, 1130), descriptor [1130, 1146).
  const entry = {
    index: 3,
    localHeaderOffset: 100,
    dataOffset: 130,
    dataDescriptorOffset: 1130,
    end: 1146,
  };

  it('defers the part holding the descriptor of an entry whose data began before the range', () => {
    assert.ok(crcUnknownAt(entry, 500));
    assert.deepEqual(deferredParts(entry, { start: 500, end: 2000 }, 100), {
      firstPart: 12,
      lastPart: 12,
    });
  });

  it('defers both parts when the descriptor crosses a part boundary', () => {
    // Parts of 570 bytes: the descriptor [1130, 1146) crosses the boundary at 1140.
    assert.deepEqual(deferredParts(entry, { start: 570, end: 2280 }, 570), {
      firstPart: 2,
      lastPart: 3,
    });
  });

  it('defers nothing when the range saw all the data (it starts in the header), or the descriptor lies beyond the range', () => {
    assert.equal(crcUnknownAt(entry, 120), false);
    assert.equal(deferredParts(entry, { start: 120, end: 2000 }, 10), null);
    assert.equal(deferredParts(entry, { start: 500, end: 1100 }, 100), null);
  });

  it('defers the first part of a range that starts inside the descriptor', () => {
    assert.deepEqual(deferredParts(entry, { start: 1140, end: 2280 }, 1140), {
      firstPart: 2,
      lastPart: 2,
    });
  });

  it('never defers for a directory (no data, no CRC)', () => {
    const directory = { ...entry, dataOffset: 130, dataDescriptorOffset: null, end: 130 };
    assert.equal(deferredParts(directory, { start: 120, end: 2000 }, 10), null);
  });

  it('agrees with ArchiveLayout on a real entry', () => {
    const layout = new ArchiveLayout();
    const e = layout.add({ name: 'a.bin', mtime: 0, size: 1000, compression: 'store' });
    assert.deepEqual(deferredParts(e, { start: 512, end: 2048 }, 512), {
      firstPart: Math.floor(e.dataDescriptorOffset! / 512) + 1,
      lastPart: Math.ceil(e.end / 512),
    });
  });
});

describe('crcOfFirstBytes', () => {
  const data = crypto.randomBytes(10_000);
  const piece = (from: number, to: number): CrcPiece => ({
    entry: 7,
    from,
    length: to - from,
    crc: zlib.crc32(data.subarray(from, to)),
  });

  it('combines the partial CRCs of consecutive ranges into the CRC of the data', () => {
    const pieces = [piece(0, 1234), piece(1234, 5000), piece(5000, 10_000), piece(5000, 6000)];
    assert.equal(crcOfFirstBytes(7, 10_000, pieces), zlib.crc32(data));
    // A range's head piece (to its deferred part) and its tail piece (to its end) start alike.
    assert.equal(crcOfFirstBytes(7, 6000, pieces), zlib.crc32(data.subarray(0, 6000)));
    assert.equal(crcOfFirstBytes(7, 0, []), 0);
  });

  it('ignores other entries and refuses a gap', () => {
    const other = { ...piece(1234, 5000), entry: 8 };
    assert.throws(
      () => crcOfFirstBytes(7, 5000, [piece(0, 1234), other]),
      /starts at data byte 1234/,
    );
  });
});
