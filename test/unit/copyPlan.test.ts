import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArchiveLayout } from '../../src/zip';
import { MAX_PARTS, MIN_PART_SIZE } from '../../src/shared/limits';
import {
  COPY_RANGE,
  MAX_COPY_RANGE,
  packedOrder,
  planCopyParts,
  type CopiedPart,
  type CopyCandidate,
  type CopyPlan,
  type PlannedPart,
} from '../../src/engine/writers/copyPlan';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
/** S3's largest part (UploadPart and UploadPartCopy alike). */
const MAX_S3_PART = 5 * GiB;
const PART = 8 * MiB;

const length = (p: PlannedPart): number => p.end - p.start;
const shape = (p: PlannedPart): [string, number, number] => [p.kind, p.start, p.end];

/**
 * What S3 needs of any plan: parts numbered 1..n covering [0, archiveSize) without gap or
 * overlap, every part but the last at least 5 MiB, none over 5 GiB; copied and staged parts
 * naming a source range inside their entry, at the entry's place in the archive.
 */
function assertValidPlan(
  plan: CopyPlan,
  archiveSize: number,
  candidates: readonly CopyCandidate[],
): void {
  const byEntry = new Map(candidates.map((c) => [c.entry, c]));
  let at = 0;
  plan.parts.forEach((p, i) => {
    assert.equal(p.part, i + 1, `part ${i} is numbered ${p.part}`);
    assert.equal(p.start, at, `part ${p.part} starts at ${p.start}, not ${at}`);
    assert.ok(p.end > p.start, `part ${p.part} is empty`);
    if (i < plan.parts.length - 1)
      assert.ok(length(p) >= MIN_PART_SIZE, `part ${p.part} holds ${length(p)} < 5 MiB`);
    assert.ok(length(p) <= MAX_S3_PART, `part ${p.part} holds ${length(p)} > 5 GiB`);
    if (p.kind !== 'stream') {
      const c = byEntry.get(p.entry);
      assert.ok(c, `part ${p.part} names entry ${p.entry}, no candidate`);
      assert.ok(plan.copied.includes(p.entry));
      assert.equal(p.start, c.dataOffset + p.from, `part ${p.part} is not at its source range`);
      if (p.kind === 'copy') {
        assert.ok(p.from + length(p) <= c.size, `part ${p.part} copies past entry ${p.entry}`);
        assert.ok(length(p) <= MAX_COPY_RANGE);
      } else {
        assert.equal(p.made, c.dataOffset + c.size, `staged part ${p.part} made bytes`);
        assert.ok(p.end >= p.made);
      }
    }
    at = p.end;
  });
  assert.equal(at, archiveSize, 'the parts do not reach the end of the archive');

  // Each copied entry's bytes are placed exactly once by its copy and staged parts (the first
  // one's first firstHead bytes by the streamed first part).
  for (const entry of plan.copied) {
    const c = byEntry.get(entry)!;
    let from = entry === plan.copied[0] ? plan.firstHead : 0;
    for (const p of plan.parts) {
      if (p.kind === 'stream' || p.entry !== entry) continue;
      assert.equal(p.from, from, `entry ${entry}: source bytes from ${from} missing`);
      from = p.kind === 'copy' ? p.from + length(p) : c.size;
    }
    assert.equal(from, c.size, `entry ${entry}: its last source bytes are not placed`);
  }
}

function plan(archiveSize: number, candidates: CopyCandidate[], partSize = PART): CopyPlan {
  const result = planCopyParts(archiveSize, partSize, candidates);
  assertValidPlan(result, archiveSize, candidates);
  return result;
}

describe('planCopyParts on a realistic archive', () => {
  it('tiles the archive with parts S3 takes, copying the entries that can be copied', () => {
    const layout = new ArchiveLayout();
    const add = (name: string, size: number) =>
      layout.add({ name, size, compression: 'store', mtime: 0 });
    const early = add('set/a/0.bin', 6 * MiB + 13); // data starts before 5 MiB: streamed
    const staged = add('set/a/1.bin', 5 * MiB + 777); // the next copied entry follows at once
    const direct = add('set/a/2.bin', 7 * MiB + 5); // over 5 MiB of streamed bytes follow
    const four = add('set/b/0.bin', 4 * MiB); // under 5 MiB: streamed
    add('set/b/1.bin', 2 * MiB);
    for (let i = 0; i < 20; i++) add(`set/b/2-small-${i}.bin`, 997 * i);
    const large = add('set/c/large.bin', 12 * MiB + 3); // copied head, staged last 5 MiB
    const last = add('set/e/tail.bin', 6 * MiB + 99); // copied, the end records streamed
    const archiveSize = layout.summary().archiveSize;
    const candidates = [early, staged, direct, four, large, last].map((e) => ({
      entry: e.index,
      dataOffset: e.dataOffset,
      size: e.size,
    }));

    const result = plan(archiveSize, candidates);

    assert.deepEqual(result.copied, [staged.index, direct.index, large.index, last.index]);
    assert.deepEqual(result.parts.map(shape), [
      ['stream', 0, staged.dataOffset],
      ['staged', staged.dataOffset, direct.dataOffset],
      ['copy', direct.dataOffset, direct.dataOffset + direct.size],
      ['stream', direct.dataOffset + direct.size, large.dataOffset],
      ['copy', large.dataOffset, large.dataOffset + large.size - 5 * MiB],
      ['staged', large.dataOffset + large.size - 5 * MiB, last.dataOffset],
      ['copy', last.dataOffset, last.dataOffset + last.size],
      ['stream', last.dataOffset + last.size, archiveSize],
    ]);
    assert.equal(result.copiedBytes, staged.size + direct.size + large.size + last.size);
  });
});

describe('planCopyParts', () => {
  it('refuses a part size under 5 MiB, or not a whole number', () => {
    assert.throws(() => planCopyParts(20 * MiB, MIN_PART_SIZE - 1, []), RangeError);
    assert.throws(() => planCopyParts(20 * MiB, 1, []), RangeError);
    assert.throws(() => planCopyParts(20 * MiB, 6 * MiB + 0.5, []), RangeError);
    assert.equal(planCopyParts(20 * MiB, MIN_PART_SIZE, []).parts.length, 4);
  });

  it('streams the whole archive in part-size parts when nothing can be copied', () => {
    const result = plan(20 * MiB + 1, []);
    assert.deepEqual(result.parts.map(shape), [
      ['stream', 0, PART],
      ['stream', PART, 2 * PART],
      ['stream', 2 * PART, 20 * MiB + 1],
    ]);
    assert.deepEqual(result.copied, []);
    assert.equal(result.copiedBytes, 0);
  });

  it('streams a candidate under 5 MiB and copies one of exactly 5 MiB', () => {
    const under = plan(30 * MiB, [{ entry: 0, dataOffset: 6 * MiB, size: MIN_PART_SIZE - 1 }]);
    assert.deepEqual(under.copied, []);
    assert.equal(under.copiedBytes, 0);
    assert.ok(under.parts.every((p) => p.kind === 'stream'));

    const exactly = plan(30 * MiB, [{ entry: 0, dataOffset: 6 * MiB, size: MIN_PART_SIZE }]);
    assert.deepEqual(exactly.copied, [0]);
    assert.equal(exactly.copiedBytes, MIN_PART_SIZE);
  });

  it('streams the first bytes of a first candidate that starts inside the first 5 MiB, and copies the rest', () => {
    const early = { entry: 0, dataOffset: 100, size: 20 * MiB };
    const result = plan(30 * MiB, [early]);
    assert.deepEqual(result.copied, [0]);
    assert.equal(result.firstHead, MIN_PART_SIZE - 100);
    assert.equal(result.copiedBytes, 20 * MiB - (MIN_PART_SIZE - 100));
    assert.deepEqual(result.parts.map(shape).slice(0, 2), [
      ['stream', 0, MIN_PART_SIZE],
      ['copy', MIN_PART_SIZE, 100 + 20 * MiB],
    ]);
    assert.equal((result.parts[1] as CopiedPart).from, MIN_PART_SIZE - 100);

    // Too little left after the first part: streamed whole, and the next candidate copied.
    const short = { entry: 0, dataOffset: 100, size: MIN_PART_SIZE + 50 };
    const later = { entry: 1, dataOffset: 40 * MiB, size: 6 * MiB };
    const streamedFirst = plan(50 * MiB, [short, later]);
    assert.deepEqual(streamedFirst.copied, [1]);
    assert.equal(streamedFirst.firstHead, 0);
    assert.equal(streamedFirst.copiedBytes, 6 * MiB);
    assert.equal(streamedFirst.parts[0].kind, 'stream');

    // Starting exactly at 5 MiB leaves a first part of 5 MiB and nothing streamed of it.
    const onTime = plan(30 * MiB, [{ entry: 0, dataOffset: MIN_PART_SIZE, size: 6 * MiB }]);
    assert.deepEqual(onTime.copied, [0]);
    assert.equal(onTime.firstHead, 0);
    assert.deepEqual(onTime.parts.map(shape).slice(0, 2), [
      ['stream', 0, MIN_PART_SIZE],
      ['copy', MIN_PART_SIZE, 11 * MiB],
    ]);
  });

  it('stages a whole entry under 10 MiB joined to the bytes up to the next copied entry', () => {
    const a = { entry: 0, dataOffset: 6 * MiB, size: 7 * MiB };
    const b = { entry: 1, dataOffset: 13 * MiB + 100, size: 6 * MiB };
    const archiveSize = 19 * MiB + 1100;
    const result = plan(archiveSize, [a, b]);
    assert.deepEqual(result.parts, [
      { kind: 'stream', part: 1, start: 0, end: 6 * MiB },
      {
        kind: 'staged',
        part: 2,
        start: 6 * MiB,
        end: 13 * MiB + 100,
        entry: 0,
        from: 0,
        made: 13 * MiB,
      },
      { kind: 'copy', part: 3, start: 13 * MiB + 100, end: 19 * MiB + 100, entry: 1, from: 0 },
      { kind: 'stream', part: 4, start: 19 * MiB + 100, end: archiveSize },
    ]);
    assert.deepEqual(result.copied, [0, 1]);
    assert.equal(result.copiedBytes, 13 * MiB);
  });

  it('copies an entry of 10 MiB or more directly but for its last 5 MiB, which are staged', () => {
    const a = { entry: 3, dataOffset: 6 * MiB, size: 12 * MiB + 3 };
    const b = { entry: 4, dataOffset: 18 * MiB + 203, size: 5 * MiB };
    const archiveSize = b.dataOffset + b.size + 500;
    const result = plan(archiveSize, [a, b]);
    assert.deepEqual(result.parts, [
      { kind: 'stream', part: 1, start: 0, end: 6 * MiB },
      { kind: 'copy', part: 2, start: 6 * MiB, end: 13 * MiB + 3, entry: 3, from: 0 },
      {
        kind: 'staged',
        part: 3,
        start: 13 * MiB + 3,
        end: b.dataOffset,
        entry: 3,
        from: 7 * MiB + 3,
        made: 18 * MiB + 3,
      },
      { kind: 'copy', part: 4, start: b.dataOffset, end: b.dataOffset + b.size, entry: 4, from: 0 },
      { kind: 'stream', part: 5, start: b.dataOffset + b.size, end: archiveSize },
    ]);
    assert.equal(result.copiedBytes, a.size + b.size);
  });

  it('draws the staging line at 10 MiB: 10 MiB − 1 is staged whole, 10 MiB copies 5 MiB first', () => {
    const next = (a: CopyCandidate): CopyCandidate => ({
      entry: 1,
      dataOffset: a.dataOffset + a.size + 16,
      size: 5 * MiB,
    });
    const small = { entry: 0, dataOffset: 6 * MiB, size: 10 * MiB - 1 };
    const smallPlan = plan(40 * MiB, [small, next(small)]);
    assert.deepEqual(smallPlan.parts[1], {
      kind: 'staged',
      part: 2,
      start: small.dataOffset,
      end: next(small).dataOffset,
      entry: 0,
      from: 0,
      made: small.dataOffset + small.size,
    });

    const ten = { entry: 0, dataOffset: 6 * MiB, size: 10 * MiB };
    const tenPlan = plan(40 * MiB, [ten, next(ten)]);
    assert.deepEqual(tenPlan.parts.slice(1, 3), [
      { kind: 'copy', part: 2, start: 6 * MiB, end: 11 * MiB, entry: 0, from: 0 },
      {
        kind: 'staged',
        part: 3,
        start: 11 * MiB,
        end: next(ten).dataOffset,
        entry: 0,
        from: 5 * MiB,
        made: 16 * MiB,
      },
    ]);
  });

  it('stages when under 5 MiB separates two copied entries, and copies directly at 5 MiB', () => {
    const a = { entry: 0, dataOffset: 6 * MiB, size: 6 * MiB };
    const after = (gap: number): CopyCandidate => ({
      entry: 1,
      dataOffset: a.dataOffset + a.size + gap,
      size: 6 * MiB,
    });
    const close = plan(60 * MiB, [a, after(MIN_PART_SIZE - 1)]);
    assert.equal(close.parts[1].kind, 'staged');

    const apart = plan(60 * MiB, [a, after(MIN_PART_SIZE)]);
    assert.deepEqual(apart.parts.map(shape).slice(1, 4), [
      ['copy', 6 * MiB, 12 * MiB],
      ['stream', 12 * MiB, 17 * MiB],
      ['copy', 17 * MiB, 23 * MiB],
    ]);
  });

  it('streams the bytes between two copied entries in part-size parts, the last taking the remainder', () => {
    const a = { entry: 0, dataOffset: 6 * MiB, size: 6 * MiB };
    const b = { entry: 1, dataOffset: 12 * MiB + 2 * PART + 5 * MiB + 5, size: 5 * MiB };
    const archiveSize = b.dataOffset + b.size + 1000;
    const result = plan(archiveSize, [a, b]);
    assert.deepEqual(result.parts.map(shape), [
      ['stream', 0, 6 * MiB],
      ['copy', 6 * MiB, 12 * MiB],
      ['stream', 12 * MiB, 12 * MiB + PART],
      // not a short third part of 5 MiB + 5: the last gap part takes it
      ['stream', 12 * MiB + PART, b.dataOffset],
      ['copy', b.dataOffset, b.dataOffset + b.size],
      ['stream', b.dataOffset + b.size, archiveSize],
    ]);
    assert.equal(length(result.parts[3]), PART + 5 * MiB + 5);

    // A gap of 5 MiB to one part size is one part of its own.
    const c = { entry: 1, dataOffset: 12 * MiB + 6 * MiB, size: 5 * MiB };
    assert.deepEqual(plan(30 * MiB, [a, c]).parts.map(shape)[2], ['stream', 12 * MiB, 18 * MiB]);
  });

  it('copies the last candidate directly and streams the end in part-size parts, the last of any size', () => {
    const a = { entry: 0, dataOffset: 6 * MiB, size: 6 * MiB };
    const archiveSize = 12 * MiB + 2 * PART + MiB + 10;
    const result = plan(archiveSize, [a]);
    assert.deepEqual(result.parts.map(shape), [
      ['stream', 0, 6 * MiB],
      ['copy', 6 * MiB, 12 * MiB],
      ['stream', 12 * MiB, 12 * MiB + PART],
      ['stream', 12 * MiB + PART, 12 * MiB + 2 * PART],
      ['stream', 12 * MiB + 2 * PART, archiveSize],
    ]);
    assert.equal(length(result.parts.at(-1)!), MiB + 10);

    // Even a last part of one byte.
    const tiny = plan(12 * MiB + 1, [a]);
    assert.deepEqual(tiny.parts.at(-1), {
      kind: 'stream',
      part: 3,
      start: 12 * MiB,
      end: 12 * MiB + 1,
    });
  });

  it('splits a large object into copy ranges of at most COPY_RANGE (or partSize, when larger), never over 5 GiB', () => {
    const big = { entry: 0, dataOffset: 6 * MiB, size: 12 * GiB + 7 };
    const archiveSize = big.dataOffset + big.size + 4000;
    const check = (partSize: number, range: number): void => {
      const result = planCopyParts(archiveSize, partSize, [big]);
      const copies = result.parts.filter((p) => p.kind === 'copy');
      assert.equal(copies.length, Math.ceil(big.size / range));
      for (const p of copies) {
        assert.ok(length(p) <= range, `${length(p)} > ${range}`);
        assert.ok(length(p) >= MIN_PART_SIZE);
      }
      assert.equal(
        copies.reduce((n, p) => n + length(p), 0),
        big.size,
      );
      assert.equal(result.copiedBytes, big.size);
    };
    check(PART, COPY_RANGE);
    check(GiB, GiB);
    check(MAX_COPY_RANGE, MAX_COPY_RANGE);

    // Exactly COPY_RANGE is one copy; one byte more is two.
    const one = { entry: 0, dataOffset: 6 * MiB, size: COPY_RANGE };
    const onePlan = plan(one.dataOffset + one.size + 10, [one]);
    assert.equal(onePlan.parts.filter((p) => p.kind === 'copy').length, 1);
    const over = { entry: 0, dataOffset: 6 * MiB, size: COPY_RANGE + 1 };
    const overPlan = plan(over.dataOffset + over.size + 10, [over]);
    assert.equal(overPlan.parts.filter((p) => p.kind === 'copy').length, 2);
  });

  it('splits the directly copied head of a large staged object into copy ranges', () => {
    const big = { entry: 0, dataOffset: 6 * MiB, size: COPY_RANGE + 5 * MiB + 1 };
    const next = { entry: 1, dataOffset: big.dataOffset + big.size + 50, size: 5 * MiB };
    const result = plan(next.dataOffset + next.size + 50, [big, next]);
    const own = result.parts.filter((p) => p.kind !== 'stream' && p.entry === 0);
    assert.deepEqual(
      own.map((p) => p.kind),
      ['copy', 'copy', 'staged'],
    );
    assert.deepEqual(
      own.map((p) => (p.kind === 'stream' ? null : p.from)),
      [0, length(own[0]), big.size - 5 * MiB],
    );
  });

  it(`throws a RangeError when the archive needs more than ${MAX_PARTS} parts`, () => {
    const fits = planCopyParts(MAX_PARTS * MIN_PART_SIZE, MIN_PART_SIZE, []);
    assert.equal(fits.parts.length, MAX_PARTS);
    assert.throws(
      () => planCopyParts(MAX_PARTS * MIN_PART_SIZE + 1, MIN_PART_SIZE, []),
      (err: unknown) => {
        assert.ok(err instanceof RangeError);
        assert.match(err.message, /10001 parts/);
        return true;
      },
    );
  });

  it(`copies only as many entries as ${MAX_PARTS} parts allow and streams the rest`, () => {
    // 9,980 parts of 8 MiB when streamed; a hundred copied 5 MiB entries 5 MiB apart each take
    // a part, and so does each 5 MiB between them: only some of them fit.
    const archiveSize = (MAX_PARTS - 20) * PART;
    assert.equal(planCopyParts(archiveSize, PART, []).parts.length, MAX_PARTS - 20);
    const candidates = Array.from({ length: 100 }, (_, i) => ({
      entry: i,
      dataOffset: 5 * MiB + i * 10 * MiB,
      size: 5 * MiB,
    }));
    const result = plan(archiveSize, candidates);
    assert.ok(result.parts.length <= MAX_PARTS, `${result.parts.length} parts`);
    assert.ok(result.copied.length > 0 && result.copied.length < candidates.length);
    assert.deepEqual(
      result.copied,
      candidates.slice(0, result.copied.length).map((c) => c.entry),
      'the first entries are copied, the later ones streamed',
    );
  });

  it('lists the copied entries in archive order and counts their bytes', () => {
    const candidates: CopyCandidate[] = [
      { entry: 0, dataOffset: 100, size: 8 * MiB }, // too early: streamed
      { entry: 2, dataOffset: 9 * MiB, size: 6 * MiB }, // staged with entry 3
      { entry: 3, dataOffset: 15 * MiB + 200, size: 11 * MiB }, // direct: a gap follows
      { entry: 5, dataOffset: 34 * MiB, size: MIN_PART_SIZE - 1 }, // too small: streamed
      { entry: 7, dataOffset: 44 * MiB, size: 20 * MiB }, // last: direct
    ];
    const result = plan(70 * MiB, candidates);
    assert.deepEqual(result.copied, [2, 3, 7]);
    assert.equal(result.copiedBytes, 6 * MiB + 11 * MiB + 20 * MiB);
  });

  it('never plans a part over 5 GiB (S3’s largest), also with the largest part size', () => {
    // partSize may be up to 5 GiB. 9 GiB of streamed bytes before the first copied entry must
    // not become one 9 GiB part (UploadPart refuses parts over 5 GiB: EntityTooLarge).
    const a = { entry: 0, dataOffset: 9 * GiB, size: 6 * MiB };
    const result = planCopyParts(a.dataOffset + a.size + 100, 5 * GiB, [a]);
    for (const p of result.parts)
      assert.ok(length(p) <= MAX_S3_PART, `part ${p.part} holds ${length(p)} bytes > 5 GiB`);
  });
});

/** The plan for entries of these sizes laid out in this order, all of them candidates. */
function planInOrder(entries: ReadonlyArray<{ name: string; size: number }>): CopyPlan {
  const layout = new ArchiveLayout();
  const candidates = entries.map((e) => {
    const placed = layout.add({ name: e.name, size: e.size, compression: 'store', mtime: 0 });
    return { entry: placed.index, dataOffset: placed.dataOffset, size: placed.size };
  });
  return plan(layout.summary().archiveSize, candidates);
}

const stagedParts = (p: CopyPlan): number => p.parts.filter((x) => x.kind === 'staged').length;

describe('packedOrder', () => {
  const entry = (name: string, mib: number) => ({ name, size: Math.round(mib * MiB) });

  it('puts 5 MiB of smaller entries before each larger one, so none is staged', () => {
    const listing = [
      entry('big-1', 6),
      entry('big-2', 7),
      entry('big-3', 12),
      ...[1, 2, 3, 4, 5, 6].map((i) => entry(`small-${i}`, 2.6)),
    ];
    const packed = packedOrder(listing);
    assert.deepEqual(
      packed.map((e) => e.name),
      ['small-1', 'small-2', 'big-1', 'small-3', 'small-4', 'big-2', 'small-5', 'small-6', 'big-3'],
    );
    // In listing order the first large entry starts inside the streamed first 5 MiB (and is
    // streamed), and the second sits right before the third, so it is staged.
    const listed = planInOrder(listing);
    assert.deepEqual([listed.copied.length, stagedParts(listed)], [2, 1]);
    const packedPlan = planInOrder(packed);
    assert.deepEqual([packedPlan.copied.length, stagedParts(packedPlan)], [3, 0]);
  });

  it('keeps the listing order within each kind, and smaller entries that fill no gap go last', () => {
    const listing = [
      entry('a-small', 1),
      entry('b-big', 5),
      entry('c-small', 4.5),
      entry('d-big', 9),
      entry('e-small', 0.5),
      entry('f-big', 6),
    ];
    // a + c close the first gap (5.5 MiB); e alone cannot close one, so it goes last.
    assert.deepEqual(
      packedOrder(listing).map((e) => e.name),
      ['a-small', 'c-small', 'b-big', 'd-big', 'f-big', 'e-small'],
    );
  });

  it('leaves a page without larger entries, or without smaller ones, as listed', () => {
    const small = [entry('x', 1), entry('y', 0), entry('z', 4.9)];
    const large = [entry('p', 5), entry('q', 80)];
    assert.deepEqual(packedOrder(small), small);
    assert.deepEqual(packedOrder(large), large);
    assert.deepEqual(packedOrder([]), []);
  });

  it('is a permutation, the same every time, that stages fewer entries on mixed sizes', () => {
    // Sizes of the benchmark's mid workload: 2–8 MB, spread deterministically.
    const listing = Array.from({ length: 200 }, (_, i) =>
      entry(`obj-${i}`, (2_000_000 + ((Math.imul(i + 1, 2654435761) >>> 0) % 6_000_001)) / MiB),
    );
    const packed = packedOrder(listing);
    assert.deepEqual(packedOrder(listing), packed);
    assert.deepEqual(
      [...packed].sort((x, y) => x.name.localeCompare(y.name)),
      [...listing].sort((x, y) => x.name.localeCompare(y.name)),
    );
    const before = stagedParts(planInOrder(listing));
    const after = stagedParts(planInOrder(packed));
    assert.ok(after < before / 2, `staged ${before} in listing order, ${after} packed`);
  });
});
