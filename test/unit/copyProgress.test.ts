import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CopyProgress } from '../../src/engine/writers/copyProgress';
import type { PlannedPart } from '../../src/engine/writers/copyPlan';

const MiB = 1024 * 1024;
// Entry 0 streamed into part 1; entry 1 copied in two ranges (parts 2 and 3); entry 2 staged
// (part 4: its last bytes and what follows it); the central directory streamed in part 5.
const parts: PlannedPart[] = [
  { kind: 'stream', part: 1, start: 0, end: 6 * MiB },
  { kind: 'copy', part: 2, start: 6 * MiB, end: 14 * MiB, entry: 1, from: 0 },
  { kind: 'copy', part: 3, start: 14 * MiB, end: 20 * MiB, entry: 1, from: 8 * MiB },
  {
    kind: 'staged',
    part: 4,
    start: 20 * MiB,
    end: 26 * MiB,
    entry: 2,
    from: 0,
    made: 25 * MiB,
  },
  { kind: 'stream', part: 5, start: 26 * MiB, end: 26 * MiB + 100 },
];

describe('server-side copy progress', () => {
  it('counts an entry once its bytes are made and every part holding its copied bytes is held, whatever the order', () => {
    const progress = new CopyProgress(parts, new Set(), 0);
    assert.deepEqual(progress.figures(0), {
      entriesDone: 0,
      bytesDone: 0,
      partsDone: 0,
      currentPart: 0,
      resumes: 0,
    });
    progress.entryPassed(0, 5 * MiB); // streamed: done when made
    progress.partHeld(parts[2]); // 2nd range of entry 1
    progress.entryPassed(1, 14 * MiB); // its descriptor made; the 1st range still copying
    assert.deepEqual(
      { ...progress.figures(21 * MiB), resumes: undefined },
      { entriesDone: 1, bytesDone: 5 * MiB, partsDone: 1, currentPart: 4, resumes: undefined },
    );
    progress.partHeld(parts[1]);
    assert.equal(progress.entriesDone, 2);
    assert.equal(progress.bytesDone, 19 * MiB);
    progress.partHeld(parts[3]); // staged before passed
    progress.entryPassed(2, 5 * MiB);
    progress.partHeld(parts[0]);
    progress.partHeld(parts[4]);
    assert.deepEqual(progress.figures(26 * MiB + 100), {
      entriesDone: 3,
      bytesDone: 24 * MiB,
      partsDone: 5,
      currentPart: 5,
      resumes: 0,
    });
  });

  it('a resumed attempt starts from the parts S3 holds: entries whose copies are all held count when made', () => {
    const progress = new CopyProgress(parts, new Set([1, 2, 3]), 1);
    assert.equal(progress.partsDone, 3);
    progress.entryPassed(0, 5 * MiB);
    progress.entryPassed(1, 14 * MiB);
    assert.equal(progress.entriesDone, 2);
    progress.entryPassed(2, 5 * MiB); // part 4 (staged) not held yet
    assert.equal(progress.entriesDone, 2);
    progress.partHeld(parts[3]);
    assert.deepEqual(progress.figures(26 * MiB), {
      entriesDone: 3,
      bytesDone: 24 * MiB,
      partsDone: 4,
      currentPart: 5,
      resumes: 1,
    });
  });
});
