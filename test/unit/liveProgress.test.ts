import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LiveFigures,
  liveOf,
  withLiveProgress,
  type ArchiveProgress,
  type LiveProgress,
} from '../../src/shared/progress';

const workflow: ArchiveProgress = {
  phase: 'stream',
  entriesTotal: 100,
  bytesTotal: 1_000_000,
  entriesDone: 10,
  bytesDone: 100_000,
  partsDone: 1,
  currentPart: 2,
  resumes: 0,
  updatedAt: '2026-01-01T00:00:00.000Z',
};

function live(figures: Partial<LiveProgress>): LiveProgress {
  return {
    entriesDone: 0,
    bytesDone: 0,
    partsDone: 0,
    currentPart: 0,
    resumes: 0,
    bytesPerSecond: 0,
    at: '2026-01-01T00:00:20.000Z',
    ...figures,
  };
}

describe('withLiveProgress: the workflow query with the heartbeats of its writing activities', () => {
  it('shows no rate once every source byte is read (the upload is being completed)', () => {
    const done = { entriesDone: 100, bytesDone: 1_000_000, bytesPerSecond: 0 };
    const merged = withLiveProgress(workflow, [
      { activityType: 'streamArchive', live: live(done) },
    ]);
    assert.equal(merged.bytesDone, merged.bytesTotal);
    assert.equal(merged.bytesPerSecond, undefined);
    const reading = withLiveProgress(workflow, [
      { activityType: 'streamArchive', live: live({ ...done, bytesDone: 999_999 }) },
    ]);
    assert.equal(reading.bytesPerSecond, 0);
  });

  it("takes a stream's figures as the whole run's, with its rate and time", () => {
    const streamed = {
      entriesDone: 40,
      bytesDone: 400_000,
      partsDone: 3,
      currentPart: 4,
      resumes: 1,
      bytesPerSecond: 20_000,
    };
    const merged = withLiveProgress(workflow, [
      { activityType: 'streamArchive', live: live(streamed) },
    ]);
    assert.deepEqual(merged, { ...workflow, ...streamed, updatedAt: '2026-01-01T00:00:20.000Z' });
  });

  it('adds ranges to what the workflow counted for the finished ones, rates summed', () => {
    const merged = withLiveProgress(workflow, [
      {
        activityType: 'assembleRange',
        live: live({
          entriesDone: 5,
          bytesDone: 50_000,
          partsDone: 1,
          currentPart: 7,
          bytesPerSecond: 1_000,
        }),
      },
      {
        activityType: 'assembleRange',
        live: live({
          entriesDone: 6,
          bytesDone: 60_000,
          partsDone: 2,
          currentPart: 3,
          resumes: 1,
          bytesPerSecond: 2_000,
        }),
      },
      { activityType: 'planPage', live: live({ bytesDone: 999_999 }) },
    ]);
    assert.equal(merged.entriesDone, 21);
    assert.equal(merged.bytesDone, 210_000);
    assert.equal(merged.partsDone, 4);
    assert.equal(merged.currentPart, 7);
    assert.equal(merged.resumes, 1);
    assert.equal(merged.bytesPerSecond, 3_000);
  });

  it("adds the end of a parallel run (finishAssembly's figures) to what the ranges left", () => {
    const merged = withLiveProgress(workflow, [
      {
        activityType: 'finishAssembly',
        live: live({ entriesDone: 2, bytesDone: 30_000, partsDone: 1, bytesPerSecond: 5_000 }),
      },
    ]);
    assert.equal(merged.entriesDone, 12);
    assert.equal(merged.bytesDone, 130_000);
    assert.equal(merged.partsDone, 2);
    assert.equal(merged.bytesPerSecond, 5_000);
    assert.equal(merged.updatedAt, '2026-01-01T00:00:20.000Z');
  });

  it('sums only the rates measured so far, and shows none (not 0 B/s) while none is', () => {
    const unmeasured = live({ entriesDone: 1, bytesDone: 10_000, bytesPerSecond: undefined });
    const one = withLiveProgress(workflow, [{ activityType: 'finishAssembly', live: unmeasured }]);
    assert.equal(one.bytesDone, 110_000);
    assert.equal('bytesPerSecond' in one, false);
    const two = withLiveProgress(workflow, [
      { activityType: 'assembleRange', live: unmeasured },
      { activityType: 'assembleRange', live: live({ bytesPerSecond: 4_000 }) },
    ]);
    assert.equal(two.bytesPerSecond, 4_000);
    const stream = withLiveProgress(workflow, [
      { activityType: 'streamArchive', live: unmeasured },
    ]);
    assert.equal('bytesPerSecond' in stream, false);
  });

  it('never goes past the totals, and leaves other phases to the workflow', () => {
    const over = withLiveProgress(workflow, [
      { activityType: 'copyArchive', live: live({ entriesDone: 101, bytesDone: 2_000_000 }) },
    ]);
    assert.equal(over.bytesDone, 1_000_000);
    assert.equal(over.entriesDone, 100);
    const verifying = { ...workflow, phase: 'verify' as const };
    assert.equal(
      withLiveProgress(verifying, [
        { activityType: 'streamArchive', live: live({ bytesDone: 5 }) },
      ]),
      verifying,
    );
  });
});

describe('withLiveProgress after a resume', () => {
  it("leaves out a dead attempt's last heartbeat once the new attempt has signalled", () => {
    const resumed = { ...workflow, resumes: 1 };
    const stale = live({ bytesDone: 900_000, bytesPerSecond: 50_000, resumes: 0 });
    assert.deepEqual(
      withLiveProgress(resumed, [{ activityType: 'streamArchive', live: stale }]),
      resumed,
    );
    const fresh = live({ bytesDone: 300_000, bytesPerSecond: 0, resumes: 1 });
    const merged = withLiveProgress(resumed, [{ activityType: 'streamArchive', live: fresh }]);
    assert.equal(merged.bytesDone, 300_000);
    assert.equal(merged.bytesPerSecond, 0);
  });
});

describe('liveOf: heartbeat details from the server', () => {
  it('reads well-formed figures and refuses anything else', () => {
    const good = live({ bytesDone: 5, bytesPerSecond: 1.5 });
    assert.deepEqual(liveOf({ partsDone: 3, live: good }), good);
    assert.equal(liveOf({ partsDone: 3 }), undefined, 'checkpoints of earlier versions');
    assert.equal(liveOf(null), undefined);
    assert.equal(liveOf({ live: { ...good, bytesDone: -1 } }), undefined);
    assert.equal(liveOf({ live: { ...good, at: 'soon' } }), undefined);
  });
});

describe('LiveFigures: the rate over a recent window, not since the start', () => {
  it('measures a resumed attempt from its own first figures', () => {
    let bytes = 5_000_000; // where the checkpoint left off
    const figures = new LiveFigures(() => ({
      entriesDone: 1,
      bytesDone: bytes,
      partsDone: 0,
      currentPart: 1,
      resumes: 1,
    }));
    assert.equal(figures.take(1_000).bytesPerSecond, undefined);
    bytes += 2_000_000;
    const second = figures.take(3_000);
    assert.equal(second.bytesPerSecond, 1_000_000);
    assert.equal(second.at, new Date(3_000).toISOString());
    // 30 s later at a slower pace: only the last 10 s count.
    for (let at = 4_000; at <= 33_000; at += 1_000) {
      bytes += at <= 20_000 ? 1_000_000 : 100_000;
      figures.take(at);
    }
    bytes += 100_000;
    assert.equal(figures.take(34_000).bytesPerSecond, 100_000);
  });

  it("reports the previous attempt's last rate until the new one has measured its own", () => {
    let bytes = 5_000_000;
    const read = () => ({
      entriesDone: 1,
      bytesDone: bytes,
      partsDone: 0,
      currentPart: 1,
      resumes: 1,
    });
    const previous = live({ bytesDone: 6_000_000, bytesPerSecond: 700_000 });
    const figures = new LiveFigures(read, { previous });
    // The first heartbeats of the retry: one sample, then under RATE_MEASURE_MS of samples.
    assert.equal(figures.take(1_000).bytesPerSecond, 700_000);
    bytes += 500_000;
    assert.equal(figures.take(2_000).bytesPerSecond, 700_000);
    // Measured over 2 s: its own rate from then on.
    bytes += 500_000;
    assert.equal(figures.take(3_000).bytesPerSecond, 500_000);
    // Once every source byte it reads is read, the activity reports no rate (its last parts
    // have none): not a rate decaying to 0 B/s.
    const ending = new LiveFigures(read, { previous });
    ending.take(1_000);
    ending.sourceRead();
    assert.equal(ending.take(2_000).bytesPerSecond, undefined);
    // An activity that does other work first has no rate until it starts reading, measured
    // from there.
    const later = new LiveFigures(read, { readsLater: true });
    assert.equal(later.take(1_000).bytesPerSecond, undefined);
    later.startReading();
    later.take(5_000);
    bytes += 1_000_000;
    later.take(6_000);
    bytes += 1_000_000;
    assert.equal(later.take(7_000).bytesPerSecond, 1_000_000);
    // A first attempt has nothing to carry: no rate (not 0 B/s) until it has measured one.
    const first = new LiveFigures(read);
    assert.equal(first.take(1_000).bytesPerSecond, undefined);
    bytes += 1_000_000;
    assert.equal(first.take(2_000).bytesPerSecond, undefined);
    bytes += 1_000_000;
    assert.equal(first.take(3_000).bytesPerSecond, 1_000_000);
  });
});
