import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetObjectTaggingCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import {
  createSchedule,
  deleteSchedule,
  describeSchedule,
  ScheduleNotFoundError,
  listSchedules,
  pauseSchedule,
  triggerSchedule,
  unpauseSchedule,
  type ScheduleRun,
  type ZipflowClient,
} from '../../src/client';
import { main } from '../../src/client/cli';
import { resolveKeyTemplate } from '../../src/shared/keyTemplate';
import {
  isNoNewObjects,
  type ArchiveRequest,
  type ArchiveRunResult,
} from '../../src/shared/request';
import { RequestError } from '../../src/shared/validate';
import { s3, temporalClient, tempBucket, uniqueName, withWorker } from '../support/env';
import { getObject, keysUnder, readZip, waitUntil } from '../support/archive';

let client: S3Client;
let temporal: { client: Client; close(): Promise<void> };
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };

before(async () => {
  client = await s3();
  temporal = await temporalClient();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
});

after(async () => {
  await source.remove();
  await destination.remove();
  await temporal.close();
});

const TEMPLATE = 'logs/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}.zip';
/** Objects must be a second older than the nominal time, floored to the second. */
const SETTLE_SECONDS = 1;
const settle = () => new Promise((r) => setTimeout(r, (SETTLE_SECONDS + 1.2) * 1000));

async function put(objects: Record<string, string>): Promise<void> {
  for (const [key, body] of Object.entries(objects)) {
    await client.send(new PutObjectCommand({ Bucket: source.name, Key: key, Body: body }));
  }
}

/** Triggers a run, waits until the schedule records it, and returns it with its result. */
async function triggerAndWait(
  zf: ZipflowClient,
  id: string,
): Promise<{ run: ScheduleRun; result: ArchiveRunResult }> {
  const before = (await describeSchedule(zf, id)).recentRuns.length;
  await triggerSchedule(zf, id);
  let run: ScheduleRun | undefined;
  await waitUntil('the schedule starts the triggered run', async () => {
    run = (await describeSchedule(zf, id)).recentRuns[before];
    return run !== undefined;
  });
  const result = await zf.temporal.workflow.getHandle(run!.workflowId).result();
  return { run: run!, result: result as ArchiveRunResult };
}

test('a schedule with a key template and incremental mode archives each run what is new, under the nominal time’s key', async () => {
  await put({ 'app/a.log': 'first a\n', 'app/b.log': 'first b\n' });
  await settle();
  const id = uniqueName('nightly');
  const request: ArchiveRequest = {
    source: { bucket: source.name, prefix: 'app/' },
    destination: { bucket: destination.name, key: TEMPLATE },
    incremental: { settleSeconds: SETTLE_SECONDS },
  };
  await withWorker({}, async (taskQueue) => {
    const zf: ZipflowClient = { temporal: temporal.client, taskQueue, close: async () => {} };
    const created = await createSchedule(zf, { id, request, spec: '1d' });
    try {
      assert.equal(created.paused, false);
      assert.equal(created.overlap, 'skip');
      assert.equal(created.catchupWindowMs, 24 * 3600 * 1000);
      assert.equal(created.spec, '1d');
      assert.deepEqual(created.request, request);
      assert.equal(
        created.nextKey,
        resolveKeyTemplate(TEMPLATE, new Date(created.nextRuns[0])),
        'describe previews the next run’s key',
      );

      // First run: everything there is, under the key of its nominal time; watermark written.
      const first = await triggerAndWait(zf, id);
      assert.ok(!isNoNewObjects(first.result), JSON.stringify(first.result));
      const firstKey = resolveKeyTemplate(TEMPLATE, new Date(first.run.scheduledAt));
      assert.equal(first.result.key, firstKey);
      assert.equal(first.result.entries, 2);
      const firstZip = await readZip(await getObject(client, destination.name, firstKey));
      assert.deepEqual([...firstZip.keys()].sort(), ['a.log', 'b.log']);
      assert.deepEqual(await keysUnder(client, destination.name, '.zipflow/'), [
        `.zipflow/watermarks/schedules/${encodeURIComponent(id)}.json`,
      ]);

      // Second run: only the objects written since.
      await put({ 'app/c.log': 'then c\n', 'app/sub/d.log': 'then d\n' });
      await settle();
      const second = await triggerAndWait(zf, id);
      assert.ok(!isNoNewObjects(second.result), JSON.stringify(second.result));
      const secondKey = resolveKeyTemplate(TEMPLATE, new Date(second.run.scheduledAt));
      assert.equal(second.result.key, secondKey);
      assert.notEqual(secondKey, firstKey);
      const secondZip = await readZip(await getObject(client, destination.name, secondKey));
      assert.deepEqual([...secondZip.keys()].sort(), ['c.log', 'sub/d.log']);
      assert.equal(secondZip.get('c.log')!.toString(), 'then c\n');

      // Third run: nothing new, so no archive, and the run still succeeds.
      await settle();
      const third = await triggerAndWait(zf, id);
      assert.ok(isNoNewObjects(third.result), JSON.stringify(third.result));
      assert.equal(third.result.key, resolveKeyTemplate(TEMPLATE, new Date(third.run.scheduledAt)));
      assert.ok(third.result.since, 'the range starts at the watermark');
      const archives = (await keysUnder(client, destination.name, 'logs/')).filter((k) =>
        k.endsWith('.zip'),
      );
      assert.deepEqual(archives.sort(), [firstKey, secondKey].sort());

      // Pause, unpause, list.
      await pauseSchedule(zf, id, 'maintenance');
      const paused = await describeSchedule(zf, id);
      assert.equal(paused.paused, true);
      assert.equal(paused.note, 'maintenance');
      const listed = (await listSchedules(zf)).find((s) => s.id === id);
      assert.ok(listed, 'list shows the schedule');
      assert.equal(listed.paused, true);
      assert.equal(listed.spec, '1d');
      await unpauseSchedule(zf, id);
      assert.equal((await describeSchedule(zf, id)).paused, false);
    } finally {
      await deleteSchedule(zf, id);
    }
    await assert.rejects(describeSchedule(zf, id), ScheduleNotFoundError);
    await assert.rejects(triggerSchedule(zf, id), ScheduleNotFoundError);
  });
});

test('creating a schedule validates the request and refuses a key every run would share', async () => {
  const zf: ZipflowClient = {
    temporal: temporal.client,
    taskQueue: 'unused',
    close: async () => {},
  };
  const base: ArchiveRequest = {
    source: { bucket: source.name },
    destination: { bucket: destination.name, key: 'fixed.zip' },
  };
  await assert.rejects(
    createSchedule(zf, { id: uniqueName('bad'), request: base, spec: '1h' }),
    (err: unknown) => err instanceof RequestError && err.field === 'destination.key',
  );
  await assert.rejects(
    createSchedule(zf, {
      id: uniqueName('bad'),
      request: { ...base, destination: { ...base.destination, key: 'x/{week}.zip' } },
      spec: '1h',
    }),
    (err: unknown) => err instanceof RequestError && /\{week\}/.test(err.message),
  );
});

/** Runs the CLI in this process; returns what it printed and the exit code it set. */
async function cli(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (line: string) => out.push(line);
  console.error = (line: string) => err.push(line);
  process.exitCode = undefined;
  try {
    await main(['node', 'zipflow', ...args]);
  } finally {
    console.log = log;
    console.error = error;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { out: out.join('\n'), err: err.join('\n'), code };
}

test('zipflow schedule: create, describe, list, pause, trigger and delete from the CLI; a missing schedule exits 3, a bad request 2', async () => {
  const id = uniqueName('cli');
  const destinationUrl = `s3://${destination.name}/cli/{yyyy}{MM}{dd}.zip`;
  const created = await cli(
    'schedule',
    'create',
    id,
    `s3://${source.name}/app/`,
    destinationUrl,
    '--cron',
    '0 3 * * *',
    '--incremental',
    '--paused',
    '--catchup-window',
    '2h',
    '--json',
  );
  assert.equal(created.code, 0, created.err);
  const d = JSON.parse(created.out) as {
    id: string;
    paused: boolean;
    catchupWindowMs: number;
    request: ArchiveRequest;
  };
  assert.equal(d.id, id);
  assert.equal(d.paused, true);
  assert.equal(d.catchupWindowMs, 2 * 3600 * 1000);
  assert.equal(d.request.incremental, true);
  assert.equal(d.request.destination.key, 'cli/{yyyy}{MM}{dd}.zip');

  const described = await cli('schedule', 'describe', id);
  assert.equal(described.code, 0, described.err);
  assert.match(described.out, new RegExp(`schedule ${id} \\(paused\\): every 0 3 \\* \\* \\*`));
  const listed = await cli('schedule', 'list', '--json');
  assert.ok((JSON.parse(listed.out) as { id: string }[]).some((s) => s.id === id));
  assert.equal((await cli('schedule', 'unpause', id)).out, `unpaused schedule ${id}`);
  assert.equal((await cli('schedule', 'delete', id, '--json')).code, 0);

  for (const command of ['describe', 'pause', 'unpause', 'trigger', 'delete']) {
    const missing = await cli('schedule', command, id);
    assert.equal(missing.code, 3, `${command}: ${missing.err}`);
    assert.equal(
      missing.err,
      `zipflow: schedule "${id}" does not exist: see "zipflow schedule list"`,
    );
  }
  const bad = await cli(
    'schedule',
    'create',
    uniqueName('cli'),
    `s3://${source.name}/`,
    `s3://${destination.name}/fixed.zip`,
    '--every',
    '1h',
  );
  assert.equal(bad.code, 2);
  assert.match(bad.err, /destination\.key: "fixed\.zip" holds no placeholder/);
});

test('a schedule with afterArchive tag: each run tags the sources it archived and verified, and reports them', async () => {
  await put({ 'tagged/a.log': 'a\n', 'tagged/b.log': 'b\n' });
  const id = uniqueName('tagging');
  const request: ArchiveRequest = {
    source: { bucket: source.name, prefix: 'tagged/' },
    destination: { bucket: destination.name, key: 'tagged/{yyyy}{MM}{dd}-{HH}{mm}{ss}.zip' },
    afterArchive: 'tag',
  };
  await withWorker({}, async (taskQueue) => {
    const zf: ZipflowClient = { temporal: temporal.client, taskQueue, close: async () => {} };
    const created = await createSchedule(zf, { id, request, spec: '1d' });
    try {
      assert.equal(created.request.afterArchive, 'tag');
      const { result } = await triggerAndWait(zf, id);
      assert.ok(!isNoNewObjects(result), JSON.stringify(result));
      assert.equal(result.verification?.ok, true);
      assert.equal(result.move?.action, 'tag');
      assert.equal(result.move?.removed, 2);
      for (const key of ['tagged/a.log', 'tagged/b.log']) {
        const { TagSet } = await client.send(
          new GetObjectTaggingCommand({ Bucket: source.name, Key: key }),
        );
        assert.deepEqual(TagSet, [
          { Key: 'zipflow-archived', Value: `s3://${destination.name}/${result.key}` },
        ]);
      }
    } finally {
      await deleteSchedule(zf, id);
    }
  });
});
