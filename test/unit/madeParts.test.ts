import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { MadeParts, type Piece } from '../../src/engine/writers/madeParts';
import { PartBuffers } from '../../src/engine/write/partBuffers';

const pieces = (sizes: number[]): Piece[] => {
  let at = 0;
  return sizes.map((size, i) => {
    const piece: Piece = { kind: 'stream', part: i + 1, start: at, end: at + size };
    at += size;
    return piece;
  });
};

test('MadeParts hands over each piece whole, whatever the chunking, and fills a buffer again only once it is released', async () => {
  const sizes = [5000, 7000, 4000, 6000, 5000];
  const bytes = crypto.randomBytes(sizes.reduce((n, s) => n + s, 0));
  const buffers = new PartBuffers(1);
  const received: Array<{ part: number; bytes: Buffer; copy: Buffer; release: () => void }> = [];
  const writer = new MadeParts(pieces(sizes), buffers, async (piece, made, release) => {
    received.push({ part: piece.part, bytes: made, copy: Buffer.from(made), release });
    // Pieces 1 and 2 are held (as uploads in flight), the others released at once.
    if (piece.part > 2) release();
  });
  for (let at = 0; at < bytes.length; at += 1234) await writer.write(bytes.subarray(at, at + 1234));

  assert.deepEqual(
    received.map((r) => r.part),
    [1, 2, 3, 4, 5],
  );
  let at = 0;
  for (const [i, r] of received.entries()) {
    assert.ok(r.copy.equals(bytes.subarray(at, at + sizes[i])), `piece ${r.part}`);
    at += sizes[i];
  }
  // Held pieces keep their bytes while later pieces are made.
  assert.ok(received[0].bytes.equals(received[0].copy));
  assert.ok(received[1].bytes.equals(received[1].copy));
  // Piece 3's 4,000-byte buffer is too small for piece 4 (6,000), whose buffer piece 5
  // (5,000) fills again: at most twice the size asked.
  assert.notEqual(received[3].bytes.buffer, received[2].bytes.buffer);
  assert.equal(received[4].bytes.buffer, received[3].bytes.buffer);
});

test('a piece buffer released twice is given back once, so no two pieces ever fill it', async () => {
  const buffers = new PartBuffers(4);
  let release = (): void => {};
  const writer = new MadeParts(pieces([10]), buffers, async (_piece, _bytes, r) => {
    release = r;
  });
  await writer.write(Buffer.alloc(10));
  release();
  release();
  assert.notEqual(buffers.take(10).buffer, buffers.take(10).buffer);
});
