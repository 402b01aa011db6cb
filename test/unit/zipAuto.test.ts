import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  AUTO_SAMPLE_BYTES,
  autoCompression,
  autoCompressionDecision,
  extensionOf,
  takeSample,
} from '../../src/zip';

const text = Buffer.from('{"id": 1, "name": "alpha", "tags": ["x", "y"]}\n'.repeat(2000));
const noise = randomBytes(100_000);

describe('auto compression', () => {
  it('stores known compressed types by extension, case-insensitively, without looking at the data', () => {
    for (const name of [
      'a.zip',
      'b.GZ',
      'c.tar.gz',
      'x.tgz',
      'y.zst',
      'p.JPG',
      'q.jpeg',
      'r.png',
      's.webp',
      'v.mp4',
      'w.mkv',
      'm.mp3',
      'd.docx',
      'e.xlsx',
      'f.pptx',
      'g.7z',
      'h.rar',
      'i.heic',
    ]) {
      assert.deepEqual(
        autoCompressionDecision(name, text),
        { compression: 'store', reason: 'extension' },
        name,
      );
    }
  });

  it('deflates compressible data and stores incompressible data for unknown types', () => {
    assert.equal(autoCompression('logs/app.log', text), 'deflate');
    assert.equal(autoCompression('data.bin', noise), 'store');
    assert.equal(autoCompression('noext', noise), 'store');
    assert.equal(autoCompression('report.pdf', text), 'deflate'); // PDFs decide by sample
  });

  it('stores empty and tiny objects, where deflate only adds overhead', () => {
    assert.deepEqual(autoCompressionDecision('empty.txt', Buffer.alloc(0)), {
      compression: 'store',
      reason: 'empty',
    });
    assert.equal(autoCompression('tiny.txt', Buffer.from('hi')), 'store');
  });

  it('is deterministic and looks only at the first 64 KiB', () => {
    const head = Buffer.concat([text.subarray(0, AUTO_SAMPLE_BYTES)]);
    const withNoiseAfter = Buffer.concat([head, noise]);
    assert.equal(autoCompression('x.dat', withNoiseAfter), autoCompression('x.dat', head));
    for (let i = 0; i < 5; i++) assert.equal(autoCompression('n.dat', noise), 'store');
  });

  it('takes extensions from the last path segment only', () => {
    assert.equal(extensionOf('dir.zip/file'), '');
    assert.equal(extensionOf('.gz'), '');
    assert.equal(extensionOf('a/b.tar.XZ'), 'xz');
  });

  it('takeSample returns the first 64 KiB and a source that replays every byte, from a source that reuses its chunk memory', async () => {
    const cuts = [0, 40_000, 70_000, text.length];
    // One buffer for every chunk, overwritten when the next one is asked for (as the read
    // side's pooled blocks are): the sampled chunks must be replayed from copies.
    const reused = Buffer.alloc(40_000);
    const { sample, source } = await takeSample(
      (async function* () {
        for (let i = 0; i + 1 < cuts.length; i++) {
          const n = text.copy(reused, 0, cuts[i], cuts[i + 1]);
          yield reused.subarray(0, n);
        }
      })(),
    );
    assert.equal(sample.length, AUTO_SAMPLE_BYTES);
    assert.ok(sample.equals(text.subarray(0, AUTO_SAMPLE_BYTES)));
    let again = Buffer.alloc(0);
    for await (const c of source) again = Buffer.concat([again, c]);
    assert.ok(again.equals(text));
  });
});
