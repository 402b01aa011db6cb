/** `zipflow schedule …`: scheduled archive runs from the shell (src/client/schedules.ts). */
import fs from 'node:fs';
import { Command, Option } from 'commander';
import type { Duration } from '@temporalio/common';
import { withClient, type ZipflowClient } from '../index';
import {
  checkSchedule,
  createSchedule,
  deleteSchedule,
  describeSchedule,
  listSchedules,
  pauseSchedule,
  SCHEDULE_OVERLAPS,
  triggerSchedule,
  unpauseSchedule,
  type ScheduleDescription,
  type ScheduleOverlap,
} from '../schedules';
import { afterArchiveOption, integer, requestFromArguments } from './archive';
import { print, UsageError } from './output';
import { placeholderList } from '../../shared/keyTemplate';
import type { AfterArchive, ArchiveRequest, CompressionMethod } from '../../shared/request';

function describeText(d: ScheduleDescription): string {
  const { source, destination } = d.request;
  const lines = [
    `schedule ${d.id}${d.paused ? ' (paused)' : ''}: every ${d.spec ?? '?'}`,
    `  s3://${source.bucket}/${source.prefix ?? ''} → s3://${destination.bucket}/${destination.key}${d.request.incremental ? ' (incremental)' : ''}`,
    `  overlap ${d.overlap}, catch-up window ${d.catchupWindowMs / 1000} s`,
  ];
  if (d.note) lines.push(`  note: ${d.note}`);
  if (d.nextRuns[0]) lines.push(`  next run ${d.nextRuns[0]} → ${d.nextKey}`);
  for (const run of d.recentRuns) lines.push(`  ran ${run.scheduledAt}: ${run.workflowId}`);
  return lines.join('\n');
}

interface CreateOptions {
  every?: string;
  cron?: string;
  request?: string;
  incremental?: boolean;
  settleSeconds?: number;
  compression: CompressionMethod;
  level?: number;
  overwrite?: boolean;
  allowEmpty?: boolean;
  afterArchive?: AfterArchive;
  dryRun?: boolean;
  overlap: ScheduleOverlap;
  catchupWindow?: string;
  paused?: boolean;
  note?: string;
  json?: boolean;
}

function requestOf(
  sourceUrl: string | undefined,
  destinationUrl: string | undefined,
  opts: CreateOptions,
): ArchiveRequest {
  if (opts.request !== undefined) {
    if (sourceUrl !== undefined) {
      throw new UsageError('give either <source> <destination> or --request FILE, not both');
    }
    return JSON.parse(fs.readFileSync(opts.request, 'utf8')) as ArchiveRequest;
  }
  if (sourceUrl === undefined || destinationUrl === undefined) {
    throw new UsageError('give <source> and <destination> (s3:// URLs), or --request FILE');
  }
  const incremental =
    opts.settleSeconds !== undefined
      ? { settleSeconds: opts.settleSeconds }
      : opts.incremental || undefined;
  return { ...requestFromArguments(sourceUrl, destinationUrl, opts), incremental };
}

/** Adds `zipflow schedule create|describe|list|pause|unpause|trigger|delete`. */
export function registerSchedule(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('scheduled archive runs (Temporal Schedules)');

  schedule
    .command('create')
    .description(
      `create a schedule of archive runs; the destination key may hold ${placeholderList()} (UTC nominal time of each run)`,
    )
    .argument('<id>', 'schedule id (also names the watermark of incremental runs)')
    .argument('[source]', 's3://bucket/prefix to archive')
    .argument(
      '[destination]',
      's3://bucket/key template, e.g. s3://archives/logs/{yyyy}/{MM}/{dd}.zip',
    )
    .option('--every <interval>', 'run at this interval: 30m, 6h, 1d, …')
    .option('--cron <expression>', 'run on this cron expression (UTC), e.g. "0 2 * * *"')
    .option('--request <file>', 'the whole archive request as a JSON file, instead of the URLs')
    .option('--incremental', 'archive only objects modified since the last successful run')
    .option(
      '--settle-seconds <n>',
      'incremental: leave objects younger than this (default 60)',
      integer,
    )
    .addOption(
      new Option('--compression <method>', 'auto, store or deflate')
        .choices(['auto', 'store', 'deflate'])
        .default('auto'),
    )
    .option('--level <n>', 'deflate level 1-9', integer)
    .option('--overwrite', 'replace an existing archive at the key')
    .option('--allow-empty', 'write an empty archive when there is nothing (new) to archive')
    .addOption(afterArchiveOption())
    .option('--dry-run', 'with --after-archive: list what would be removed, remove nothing')
    .addOption(
      new Option('--overlap <policy>', 'when a run is due while the last one still runs')
        .choices(Object.keys(SCHEDULE_OVERLAPS))
        .default('skip'),
    )
    .option('--catchup-window <duration>', 'how late a missed run may still start (default 1d)')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note kept with the schedule')
    .option('--json', 'machine-readable output')
    .action(
      async (
        id: string,
        sourceUrl: string | undefined,
        destinationUrl: string | undefined,
        opts: CreateOptions,
      ) => {
        if ((opts.every === undefined) === (opts.cron === undefined)) {
          throw new UsageError('give exactly one of --every INTERVAL and --cron EXPRESSION');
        }
        const options = {
          id,
          request: requestOf(sourceUrl, destinationUrl, opts),
          spec: (opts.every ?? opts.cron)!,
          overlap: opts.overlap,
          catchupWindow: opts.catchupWindow as Duration | undefined,
          paused: opts.paused,
          note: opts.note,
        };
        // A bad request names its field even when no server answers.
        checkSchedule(options);
        await withClient({}, async (client) => {
          const created = await createSchedule(client, options);
          print(opts.json, created, `created ${describeText(created)}`);
        });
      },
    );

  schedule
    .command('describe')
    .description('show a schedule: request, timing, policies, next and recent runs')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withClient({}, async (client) => {
        const d = await describeSchedule(client, id);
        print(opts.json, d, describeText(d));
      });
    });

  schedule
    .command('list')
    .description('list the schedules of archive runs')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      await withClient({}, async (client) => {
        const all = await listSchedules(client);
        const text = all
          .map(
            (s) =>
              `${s.id}\t${s.paused ? 'paused' : 'active'}\t${s.spec ?? ''}\tnext ${s.nextRuns[0] ?? '-'}`,
          )
          .join('\n');
        print(opts.json, all, all.length === 0 ? 'no schedules' : text);
      });
    });

  const simple: [
    string,
    string,
    (c: ZipflowClient, id: string, note?: string) => Promise<void>,
    string,
  ][] = [
    ['pause', 'pause a schedule (runs stop until unpaused)', pauseSchedule, 'paused'],
    ['unpause', 'resume a paused schedule', unpauseSchedule, 'unpaused'],
    [
      'trigger',
      'start a run now (nominal time: now; the overlap policy applies)',
      triggerSchedule,
      'triggered',
    ],
    [
      'delete',
      'delete a schedule (started runs go on; the watermark stays in S3)',
      deleteSchedule,
      'deleted',
    ],
  ];
  for (const [name, description, act, done] of simple) {
    const command = schedule.command(name).description(description).argument('<id>');
    if (name === 'pause' || name === 'unpause') command.option('--note <text>', 'why');
    command
      .option('--json', 'machine-readable output')
      .action(async (id: string, opts: { json?: boolean; note?: string }) => {
        await withClient({}, async (client) => {
          await act(client, id, opts.note);
          print(opts.json, { id, [done]: true }, `${done} schedule ${id}`);
        });
      });
  }
}
