import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PartBuffers } from '../../src/engine/write/partBuffers';

test('PartBuffers keeps at most `keep` free buffers, the largest, and never hands out one over twice the size asked', () => {
  const buffers = new PartBuffers(2);
  const small = Buffer.alloc(100);
  const mid = Buffer.alloc(1000);
  const large = Buffer.alloc(1500);
  buffers.give(small);
  buffers.give(mid);
  buffers.give(large);
  assert.equal(buffers.take(100).length, 100, 'a new one: the 100-byte buffer was dropped');
  assert.equal(buffers.take(700), mid);
  assert.equal(buffers.take(700).length, 700, 'the 1,500-byte buffer is over twice 700');
  assert.equal(buffers.take(1200), large);
});
