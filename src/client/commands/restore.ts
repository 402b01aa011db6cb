import type { Command } from 'commander';
import type { RestoreRequest, RestoreResult } from '../../shared/restore';
import { withClient } from '../index';
import { startRestore, waitForRestore } from '../restores';
import { parseS3Url } from '../s3url';
import { collect, integer, reportStarted } from './archive';
import { runOptions, UsageError } from './output';

interface RestoreOptions {
  name?: string[];
  include?: string[];
  exclude?: string[];
  overwrite?: boolean;
  concurrency?: number;
  archiveProfile?: string;
  destinationProfile?: string;
  taskQueue?: string;
  wait?: boolean;
  json?: boolean;
}

/** The request the `restore` command's arguments describe. */
export function restoreRequestFromArguments(
  archiveUrl: string,
  destinationUrl: string,
  o: RestoreOptions,
): RestoreRequest {
  const archive = parseS3Url('archive', archiveUrl);
  if (archive.key === '')
    throw new UsageError(`archive: "${archiveUrl}" names no object: write s3://bucket/key.zip`);
  const destination = parseS3Url('destination', destinationUrl);
  const select =
    o.name || o.include || o.exclude
      ? { names: o.name, include: o.include, exclude: o.exclude }
      : undefined;
  return JSON.parse(
    JSON.stringify({
      archive: { bucket: archive.bucket, key: archive.key, profile: o.archiveProfile },
      select,
      destination: {
        bucket: destination.bucket,
        prefix: destination.key || undefined,
        profile: o.destinationProfile,
        overwrite: o.overwrite,
      },
      concurrency: o.concurrency,
    }),
  ) as RestoreRequest;
}

function resultLine(r: RestoreResult): string {
  return `${r.archive} → s3://${r.bucket}/${r.prefix}: ${r.entries} objects, ${r.bytes} bytes${r.copiedEntries > 0 ? ` (${r.copiedEntries} of them, ${r.copiedBytes} bytes, copied by the store)` : ''}`;
}

/** `zipflow restore s3://bucket/archive.zip s3://bucket/prefix/`: entries back as objects. */
export function registerRestore(program: Command): void {
  runOptions(
    program
      .command('restore')
      .description('write entries of a ZIP archive in S3 back as objects under a prefix')
      .argument('<archive>', "s3://bucket/key.zip to restore from (any ZIP, not only zipflow's)")
      .argument('<destination>', 's3://bucket/prefix/: each entry becomes <prefix><entry name>')
      .option('--name <entry>', 'restore exactly this entry (repeatable)', collect)
      .option('--include <glob>', 'only entries whose name matches this glob (repeatable)', collect)
      .option(
        '--exclude <glob>',
        'leave out entries whose name matches this glob (repeatable)',
        collect,
      )
      .option('--overwrite', 'replace objects that already exist (default: refuse)')
      .option('--concurrency <n>', 'entries written at once (default 4)', integer)
      .option('--archive-profile <name>', "named profile for the archive (the worker's)")
      .option('--destination-profile <name>', "named profile for the destination (the worker's)"),
    'the run failed (DestinationExists, ChecksumMismatch, ...)',
  ).action(async (archiveUrl: string, destinationUrl: string, opts: RestoreOptions) => {
    const request = restoreRequestFromArguments(archiveUrl, destinationUrl, opts);
    await withClient({ taskQueue: opts.taskQueue }, async (client) => {
      const handle = await startRestore(client, request);
      await reportStarted(
        handle,
        opts,
        (onProgress) => waitForRestore(client, handle.workflowId, onProgress),
        resultLine,
      );
    });
  });
}
