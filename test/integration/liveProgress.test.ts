import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import crypto from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  archiveProgress,
  connect,
  describeArchive,
  startArchive,
  waitForArchive,
  type ArchiveProgress,
  type ArchiveRequest,
  type ArchiveResult,
} from '../../src/client';
import { ENV } from '../../src/runtime/config';
import { KEEP_ALIVE_MS } from '../../src/engine/run/keepAlive';
import { STREAM_PROGRESS_SIGNAL, WHOLE_RUN_ACTIVITIES } from '../../src/shared/progress';
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { slowStoreFor } from '../support/faultProxy';
import { waitUntil } from '../support/archive';
import { s3, tempBucket, uniqueName } from '../support/env';
import { killHard, startWorkerProcess } from '../support/workerProcess';

// A run slowed to about 20 s by a store that answers every request late and sends 3 MiB/s at
// most (latency alone no longer slows the read-ahead, which has many GETs in flight): the
// progress every view shows (waitForArchive's callback, archiveProgress, describeArchive and
// `zipflow status`, the `--wait` bar, the Web UI's current details) must move every few
// seconds, also after a worker dies mid-stream.

const MiB = 1024 * 1024;
const OBJECTS = 48;
const OBJECT_SIZE = MiB;
/**
 * Objects the copy run archives. Its figures rise as copies finish, and copies run 8 at once
 * and finish close together: with 12 objects the views saw 4 to 6 rises, at the edge of RISES.
 */
const LARGE_OBJECTS = 24;
/** The slow store: each request late by this, and this many bytes per second sent at most. */
const LATENCY_MS = 250;
const STORE_BYTES_PER_SECOND = 3 * MiB;
/** How many times the figures must be seen to rise while the run streams. */
const RISES = 5;
/**
 * How old figures may be when a view shows them: taken up to KEEP_ALIVE_MS before the
 * heartbeat that carries them, which the worker holds up to its 2 s heartbeat throttle
 * (src/worker.ts), then read by a describe and a query that each take a round trip, on a
 * shared two-core machine that delays both (measured up to 5.4 s under load). The 30 s signal's
 * figures, which these replace, would be up to 30 s old.
 */
const FRESH_MS = KEEP_ALIVE_MS + 2_000 + 3_000;

const bin = path.resolve(__dirname, '../../bin/zipflow.js');

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (let i = 0; i < OBJECTS; i++) {
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: `in/${String(i).padStart(3, '0')}.bin`,
        Body: crypto.randomBytes(OBJECT_SIZE),
      }),
    );
  }
  // Objects the store can copy itself (5 MiB or more), for the server-side copy run.
  for (let i = 0; i < LARGE_OBJECTS; i++) {
    await client.send(
      new PutObjectCommand({
        Bucket: source.name,
        Key: `large/${i}.bin`,
        Body: crypto.randomBytes(6 * MiB),
        // The CRC-32 the copied entries' records are built from.
        ChecksumAlgorithm: 'CRC32',
      }),
    );
  }
});

after(async () => {
  await source.remove();
  await destination.remove();
});

interface Sample extends ArchiveProgress {
  seenAt: number;
}

/** What each view of one run showed while it ran. */
interface Views {
  /** waitForArchive's callback (the `--wait` bar's source). */
  waited: Sample[];
  /** archiveProgress(), polled. */
  polled: Sample[];
  /** describeArchive(): what `zipflow status` prints. */
  described: Sample[];
  /** The Web UI's current details: the `__temporal_workflow_metadata` query it sends. */
  details: { text: string; seenAt: number }[];
}

function request(key: string, extra: Partial<ArchiveRequest> = {}): ArchiveRequest {
  return {
    destination: { bucket: destination.name, key },
    compression: { method: 'store' },
    partSize: 5 * MiB,
    ...extra,
    source: { bucket: source.name, prefix: extra.source?.prefix ?? 'in/' },
  };
}

/**
 * Times the figures went up (the bytes, or the parts S3 holds), in the samples taken while the
 * run streamed. A copy run's bytes move in whole entries as copies finish; its parts between.
 */
function rises(samples: ArchiveProgress[]): number {
  let n = 0;
  const streaming = samples.filter((s) => s.phase === 'stream');
  for (let i = 1; i < streaming.length; i++) {
    const [before, now] = [streaming[i - 1], streaming[i]];
    if (now.bytesDone > before.bytesDone || now.partsDone > before.partsDone) n++;
  }
  return n;
}

/**
 * Live figures: taken a few seconds before they were seen, not the 30 s signal's. Except while
 * no attempt runs (`gap`: a worker was killed and its attempt not yet retried), when the last
 * heartbeat of the dead attempt is the newest there is.
 */
function assertFresh(
  samples: Sample[],
  view: string,
  gap: (s: Sample) => boolean = () => false,
): void {
  for (const s of samples.filter((s) => s.phase === 'stream' && s.bytesDone > 0 && !gap(s)))
    assert.ok(
      s.seenAt - Date.parse(s.updatedAt) <= FRESH_MS,
      `${view}: figures of ${s.updatedAt} seen at ${new Date(s.seenAt).toISOString()}`,
    );
}

/** Every view rose at least RISES times (describeArchive is polled less often: 3). */
function assertViewsMoved(views: Views, gap?: (s: Sample) => boolean): void {
  assert.ok(rises(views.waited) >= RISES, `waitForArchive: rose ${rises(views.waited)} times`);
  assert.ok(rises(views.polled) >= RISES, `archiveProgress: rose ${rises(views.polled)} times`);
  assert.ok(rises(views.described) >= 3, `describeArchive: rose ${rises(views.described)} times`);
  assertFresh(views.waited, 'waitForArchive', gap);
  assertFresh(views.polled, 'archiveProgress', gap);
  assertFresh(views.described, 'describeArchive', gap);
  for (const s of [...views.waited, ...views.polled, ...views.described])
    assert.ok(s.bytesDone <= s.bytesTotal && s.entriesDone <= s.entriesTotal);
}

/**
 * Polls a view every `everyMs` until `done` says the run ended; a view that cannot answer for a
 * moment (a worker replaced, the run closing) is asked again.
 */
async function poll<T>(
  everyMs: number,
  done: () => boolean,
  read: () => Promise<T>,
  into: T[],
): Promise<void> {
  while (!done()) {
    try {
      into.push(await read());
    } catch {
      /* asked again at the next tick */
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface RunContext {
  views: Views;
  restartWorker(): Promise<void>;
}

/**
 * How long before the writer's activity (streamArchive or copyArchive) completed its attempt
 * last signalled the figures. Until the workflow takes the result, the run shows those, so they
 * must be taken after the upload's completion, which behind the slow store takes seconds.
 */
function lastSignalBeforeEnd(history: temporal.api.history.v1.IHistory): number {
  const events = history.events ?? [];
  const writers = new Set(
    events
      .filter((e) =>
        WHOLE_RUN_ACTIVITIES.has(e.activityTaskScheduledEventAttributes?.activityType?.name ?? ''),
      )
      .map((e) => String(e.eventId)),
  );
  const completed = events.find((e) =>
    writers.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
  );
  assert.ok(completed, 'the writer activity completed');
  const signals = events.filter(
    (e) =>
      e.workflowExecutionSignaledEventAttributes?.signalName === STREAM_PROGRESS_SIGNAL &&
      tsToMs(e.eventTime) <= tsToMs(completed.eventTime),
  );
  assert.ok(signals.length > 0, 'the writer signalled its figures');
  return tsToMs(completed.eventTime) - tsToMs(signals[signals.length - 1].eventTime);
}

/**
 * Starts a run (or has `start` start it) on a worker behind the slow store, and watches every
 * view of its progress until it ends.
 */
async function watchedRun(
  t: TestContext,
  options: {
    extra?: Partial<ArchiveRequest>;
    latencyMs?: number;
    /** Starts the run another way (the CLI): its workflow id, and its result once it ends. */
    start?: (
      taskQueue: string,
      key: string,
    ) => Promise<{ workflowId: string; result: Promise<ArchiveResult> }>;
    during?: (ctx: RunContext) => Promise<void>;
  } = {},
): Promise<{ views: Views; result: ArchiveResult; killedAt?: number }> {
  const slowStore = await slowStoreFor(
    t,
    options.latencyMs ?? LATENCY_MS,
    undefined,
    STORE_BYTES_PER_SECOND,
  );
  const env = { AWS_ENDPOINT_URL_S3: slowStore.url };
  const taskQueue = uniqueName('tq-live');
  let worker = startWorkerProcess(taskQueue, [], { env });
  const zipflow = await connect({ taskQueue });
  const views: Views = { waited: [], polled: [], described: [], details: [] };
  let killedAt: number | undefined;
  let ended = false;
  const stamp = <T extends object>(p: T): T & { seenAt: number } => ({ ...p, seenAt: Date.now() });
  try {
    const key = `${uniqueName('live')}.zip`;
    const started = options.start
      ? await options.start(taskQueue, key)
      : await startArchive(zipflow, request(key, options.extra)).then((h) => ({
          workflowId: h.workflowId,
          result: Promise.resolve<ArchiveResult | undefined>(undefined),
        }));
    const { workflowId } = started;
    const handle = zipflow.temporal.workflow.getHandle(workflowId);
    const watching = Promise.all([
      poll(
        500,
        () => ended,
        async () => stamp(await archiveProgress(zipflow, workflowId)),
        views.polled,
      ),
      poll(
        1000,
        () => ended,
        async () => {
          const s = await describeArchive(zipflow, workflowId);
          if (!s.progress) throw new Error('closed');
          return stamp(s.progress);
        },
        views.described,
      ),
      poll(
        1000,
        () => ended,
        async () => {
          const m = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
          return { text: m.currentDetails ?? '', seenAt: Date.now() };
        },
        views.details,
      ),
    ]);
    const waited = waitForArchive(zipflow, workflowId, (p) => views.waited.push(stamp(p)), 500);
    try {
      await options.during?.({
        views,
        async restartWorker() {
          killedAt = Date.now();
          await killHard(worker);
          worker = startWorkerProcess(taskQueue, [], { env });
        },
      });
      const result = ((await started.result) ?? (await waited)) as ArchiveResult;
      await waited;
      if (options.extra?.parallel === undefined) {
        const gap = lastSignalBeforeEnd(await handle.fetchHistory());
        assert.ok(gap <= FRESH_MS, `the writer's last signal came ${gap} ms before it completed`);
      }
      t.diagnostic(
        `${result.durationMs} ms, resumes ${result.resumes}; rises: waited ${rises(views.waited)}, polled ${rises(views.polled)}, described ${rises(views.described)}; details ${new Set(views.details.map((d) => d.text)).size} distinct`,
      );
      return { views, result, killedAt };
    } finally {
      ended = true;
      await watching;
    }
  } finally {
    await killHard(worker);
    await zipflow.close();
  }
}

test('a streaming run slowed to ~20 s: every view moves every few seconds, and after a worker is killed the resumed attempt shows a non-zero rate; the Web UI details follow the signals', async (t) => {
  const { views, result, killedAt } = await watchedRun(t, {
    async during(run) {
      await waitUntil(
        'the stream has risen three times',
        async () => rises(run.views.waited) >= 3,
        120_000,
      );
      await run.restartWorker();
    },
  });
  assert.ok(killedAt !== undefined);
  assert.ok(result.resumes >= 1, 'the stream resumed on the new worker');
  // From the kill until the resumed attempt reports (its signal at its start), the dead
  // attempt's last figures stand.
  const resumedAt = Math.min(
    ...[...views.waited, ...views.polled]
      .filter((s) => s.phase === 'stream' && s.resumes >= 1)
      .map((s) => s.seenAt),
  );
  assert.ok(resumedAt > killedAt && resumedAt < Infinity, 'the resumed attempt was seen');
  t.diagnostic(`resumed figures seen ${resumedAt - killedAt} ms after the kill`);
  assertViewsMoved(views, (s) => s.seenAt >= killedAt && s.seenAt < resumedAt);
  for (const [view, samples] of [
    ['waitForArchive', views.waited],
    ['archiveProgress', views.polled],
  ] as const) {
    const before = samples.filter((s) => s.phase === 'stream' && s.seenAt < killedAt);
    const afterResume = samples.filter((s) => s.phase === 'stream' && s.resumes >= 1);
    assert.ok(
      before.some((s) => (s.bytesPerSecond ?? 0) > 0),
      `${view}: a rate before the kill`,
    );
    // After the resume: the new attempt reports its previous attempt's rate until it has
    // measured its own over a recent window, so the rate never reads 0 while it streams.
    assert.ok(
      afterResume.some((s) => (s.bytesPerSecond ?? 0) > 0),
      `${view}: the resumed attempt reports a rate`,
    );
    const zeros = afterResume.filter((s) => s.bytesPerSecond === 0);
    assert.deepEqual(zeros, [], `${view}: the rate after the resume stays above zero`);
    assert.ok(rises(afterResume) >= 1, `${view}: the figures move after the resume`);
  }
  // The Web UI's view: the workflow's current details, as of its own figures (planning, the
  // stream's signals at the start of each attempt and every 30 s, the end), change during the
  // run and show the resumed attempt with the bytes its checkpoint had reached.
  const texts = views.details.map((d) => d.text).filter((text, i, all) => text !== all[i - 1]);
  assert.ok(texts.length >= 3, `the current details changed ${texts.length - 1} times`);
  assert.ok(
    texts.some((text) => /^\*\*stream\*\* [1-9]\d*% /.test(text) && /resumes: 1/.test(text)),
    `the details show the resumed stream: ${JSON.stringify(texts)}`,
  );
});

test('server-side copy started by `zipflow archive --wait`: its bar, `zipflow status` and the client move while the store copies, with a rate', async (t) => {
  let bar = '';
  const statuses: Sample[] = [];
  const { views, result } = await watchedRun(t, {
    // The copied bytes never pass through the slow link: the requests are made later instead.
    latencyMs: 1_000,
    start: (taskQueue, key) =>
      new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [
            bin,
            'archive',
            `s3://${source.name}/large/`,
            `s3://${destination.name}/${key}`,
            '--compression',
            'store',
            '--part-size',
            '5MiB',
            '--server-side-copy',
            '--wait',
            '--json',
          ],
          { env: { ...process.env, [ENV.taskQueue]: taskQueue } },
        );
        let stdout = '';
        child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
        const exited = new Promise<number | null>((r) => child.once('exit', r));
        child.stderr.on('data', (b: Buffer) => {
          bar += b.toString();
          const id = /^started (\S+)$/m.exec(bar)?.[1];
          if (id)
            resolve({
              workflowId: id,
              result: (async () => {
                // `zipflow status --json`, every 2 s while the run is open.
                const statusPolled = poll(
                  2000,
                  () => child.exitCode !== null,
                  async () => {
                    const { stdout: out } = await promisify(execFile)(
                      process.execPath,
                      [bin, 'status', id, '--json'],
                      { env: { ...process.env, [ENV.taskQueue]: taskQueue } },
                    );
                    // Seen when the CLI answered: it read the figures before that, so their
                    // age measured here is an upper bound (its start-up is not in it).
                    const answered = Date.now();
                    const s = JSON.parse(out) as { progress?: ArchiveProgress };
                    if (!s.progress) throw new Error('closed');
                    return { ...s.progress, seenAt: answered };
                  },
                  statuses,
                );
                const code = await exited;
                await statusPolled;
                assert.equal(code, 0, bar);
                return JSON.parse(stdout) as ArchiveResult;
              })(),
            });
        });
        child.once('error', reject);
        child.once('exit', (code) => {
          if (!/^started /m.test(bar))
            reject(new Error(`zipflow archive exited (${code}): ${bar}`));
        });
      }),
  });
  assert.equal(result.entries, LARGE_OBJECTS);
  assert.ok((result.copiedBytes ?? 0) > 0, 'the store copied');
  assertViewsMoved(views);
  assert.ok(
    views.waited.some((s) => s.phase === 'stream' && (s.bytesPerSecond ?? 0) > 0),
    'a rate while the run streams',
  );
  // `zipflow status --json`: a CLI call every 2 s sees the figures rise, fresh.
  assert.ok(rises(statuses) >= 2, `zipflow status: rose ${rises(statuses)} times`);
  assertFresh(statuses, 'zipflow status');
  // The bar (plain lines on a pipe, one every 5 s): stream lines with rising bytes, and a rate.
  const lines = bar.split('\n').filter((l) => l.startsWith('stream: '));
  const shown = lines.map((l) => /% (\S+ \S+) of/.exec(l)?.[1]);
  assert.ok(new Set(shown).size >= 2, `the bar moved: ${lines.join(' | ')}`);
  assert.ok(
    lines.some((l) => /, [1-9][\d.]* [kM]B\/s,/.test(l)),
    `the bar shows a rate: ${lines.join(' | ')}`,
  );
});

test('a parallel run slowed to ~20 s: every view moves every few seconds, and after a worker is killed the rate stays non-zero while the replacement resumes the ranges', async (t) => {
  const { views, result, killedAt } = await watchedRun(t, {
    // Objects of 1 MiB have known local headers by default, so each is counted once read whole;
    // behind the slowed store every range reads its objects at once and they all land near the
    // end. With data descriptors the ranges count bytes as they stream, which this test watches.
    extra: { parallel: 4, localHeaders: 'descriptor' },
    async during(run) {
      await waitUntil(
        'the ranges have risen three times',
        async () => rises(run.views.waited) >= 3,
        120_000,
      );
      await run.restartWorker();
    },
  });
  assert.equal(result.entries, OBJECTS);
  assert.ok(killedAt !== undefined);
  // From the kill until a range's attempt on the new worker heartbeats, the dead attempts'
  // last figures stand: the first figures taken after the kill end that gap.
  const resumedAt = Math.min(
    ...[...views.waited, ...views.polled]
      .filter((s) => s.phase === 'stream' && Date.parse(s.updatedAt) > killedAt)
      .map((s) => s.seenAt),
  );
  assert.ok(resumedAt > killedAt && resumedAt < Infinity, 'figures from the new worker were seen');
  t.diagnostic(`new figures seen ${resumedAt - killedAt} ms after the kill`);
  assertViewsMoved(views, (s) => s.seenAt >= killedAt && s.seenAt < resumedAt);
  for (const [view, samples] of [
    ['waitForArchive', views.waited],
    ['archiveProgress', views.polled],
  ] as const) {
    // Ranges restarted together report their previous attempts' rates until they have measured
    // their own, so the summed rate never reads 0 while they stream.
    const afterKill: Sample[] = samples.filter((s) => s.phase === 'stream' && s.seenAt >= killedAt);
    assert.ok(
      afterKill.some((s) => (s.bytesPerSecond ?? 0) > 0),
      `${view}: the replacement's attempts report a rate`,
    );
    const zeros: Sample[] = afterKill.filter((s) => s.bytesPerSecond === 0);
    assert.deepEqual(zeros, [], `${view}: the rate after the kill stays above zero`);
    const afterResume = afterKill.filter((s) => s.seenAt >= resumedAt);
    assert.ok(rises(afterResume) >= 1, `${view}: the figures move after the kill`);
  }
});
