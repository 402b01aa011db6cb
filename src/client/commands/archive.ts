import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ArchiveProgress } from '../../shared/progress';
import {
  AFTER_ARCHIVE,
  type AfterArchive,
  ENTRY_ORDERS,
  LOCAL_HEADERS,
  STORAGE_CLASSES,
  type ArchiveRequest,
  type EntryOrder,
  type LocalHeaders,
  isNoNewObjects,
  type ArchiveRunResult,
  type CompressionMethod,
  type StorageClass,
} from '../../shared/request';
import {
  archiveResult,
  cancelArchive,
  describeArchive,
  listArchives,
  waitForArchive,
} from '../archives';
import { checkArchiveRequest, startArchive, withClient } from '../index';
import { formatProgress, RateMeter } from '../progressBar';
import { parseS3Url } from '../s3url';
import { print, runOptions } from './output';

interface ArchiveOptions {
  include?: string[];
  exclude?: string[];
  keyList?: string;
  flatten?: boolean;
  entryPrefix?: string;
  compression: CompressionMethod;
  level?: number;
  partSize?: number;
  concurrency?: number;
  readConcurrency?: number;
  readRangeSize?: number;
  parallel?: number;
  serverSideCopy?: boolean;
  entryOrder?: EntryOrder;
  localHeaders?: LocalHeaders;
  storageClass?: StorageClass;
  contentType?: string;
  sse?: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  sourceProfile?: string;
  destinationProfile?: string;
  onSourceChange?: 'fail' | 'skip';
  allowEmpty?: boolean;
  afterArchive?: AfterArchive;
  dryRun?: boolean;
  overwrite?: boolean;
  taskQueue?: string;
  wait?: boolean;
  json?: boolean;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i;
const UNIT: Record<string, number> = {
  b: 1,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
};

/** "16MiB", "64 MB" or a byte count. */
export function parseSize(value: string): number {
  const match = SIZE.exec(value.trim());
  if (!match) throw new InvalidArgumentError('write a byte count or a size such as 16MiB or 1GiB.');
  return Math.round(Number(match[1]) * UNIT[(match[2] ?? 'b').toLowerCase()]);
}

export function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('write a whole number.');
  return Number(value);
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The request the `archive` command's arguments describe. */
export function requestFromArguments(
  sourceUrl: string,
  destinationUrl: string,
  o: ArchiveOptions,
): ArchiveRequest {
  const source = parseS3Url('source', sourceUrl);
  const destination = parseS3Url('destination', destinationUrl);
  const keyList = o.keyList ? parseS3Url('--key-list', o.keyList) : undefined;
  return {
    source: {
      bucket: source.bucket,
      prefix: source.key || undefined,
      profile: o.sourceProfile,
      include: o.include,
      exclude: o.exclude,
      keyList: keyList && { bucket: keyList.bucket, key: keyList.key },
    },
    destination: {
      bucket: destination.bucket,
      key: destination.key,
      profile: o.destinationProfile,
      overwrite: o.overwrite,
      contentType: o.contentType,
      storageClass: o.storageClass,
      serverSideEncryption:
        o.sse === 'aws:kms'
          ? { type: 'aws:kms', kmsKeyId: o.kmsKeyId }
          : o.sse
            ? { type: o.sse }
            : undefined,
    },
    compression: { method: o.compression, level: o.level },
    naming:
      o.flatten || o.entryPrefix
        ? { mode: o.flatten ? 'flatten' : 'relative', prefix: o.entryPrefix }
        : undefined,
    partSize: o.partSize,
    uploadConcurrency: o.concurrency,
    readConcurrency: o.readConcurrency,
    readRangeSize: o.readRangeSize,
    parallel: o.parallel,
    serverSideCopy: o.serverSideCopy,
    entryOrder: o.entryOrder,
    localHeaders: o.localHeaders,
    onSourceChange: o.onSourceChange,
    allowEmpty: o.allowEmpty,
    afterArchive: o.afterArchive,
    dryRun: o.dryRun,
  };
}

/** --after-archive, shared with `schedule create`. */
export function afterArchiveOption(): Option {
  return new Option(
    '--after-archive <action>',
    'once the archive is complete and verified: delete or tag the archived source objects that have not changed since (default none)',
  ).choices(AFTER_ARCHIVE);
}

/** Drops undefined fields, so the request is the JSON a user would write (and the UI shows). */
function compact<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function resultLine(result: ArchiveRunResult): string {
  if (isNoNewObjects(result)) {
    return `no new objects since ${result.since ?? 'the beginning'} (until ${result.until}): nothing written to s3://${result.bucket}/${result.key}`;
  }
  return `s3://${result.bucket}/${result.key}: ${result.size} bytes, ${result.entries} entries, ${result.parts} parts, ${result.sha256 ? `sha256 ${result.sha256}, ` : ''}crc32 ${result.crc32}${result.copiedBytes ? `, ${result.copiedBytes} bytes copied by the store` : ''}`;
}

/**
 * Shows progress on stderr: a bar redrawn in place on a terminal, else a plain line at most
 * every `plainEveryMs` (and on every phase change) so logs stay short.
 */
export function progressPrinter(
  stream: NodeJS.WriteStream,
  plainEveryMs = 5000,
): { update(p: ArchiveProgress): void; end(): void } {
  const meter = new RateMeter();
  let lastPlain = 0;
  let lastPhase = '';
  let drawn = false;
  return {
    update(p) {
      const now = Date.now();
      // The writing activities' own rate when they report one; else measured here.
      const measured = meter.add(p.bytesDone, now);
      const rate = p.bytesPerSecond ?? measured;
      if (stream.isTTY) {
        const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 90));
        stream.write(`\r\x1b[2K${formatProgress(p, rate, width)}`);
        drawn = true;
      } else if (p.phase !== lastPhase || now - lastPlain >= plainEveryMs) {
        stream.write(`${formatProgress(p, rate)}\n`);
        lastPlain = now;
      }
      lastPhase = p.phase;
    },
    end() {
      if (drawn) stream.write('\n');
    },
  };
}

/**
 * What a command that starts a run prints: the run's id, or with --wait its progress on stderr
 * and then `wait`'s result (as JSON with --json, else its line).
 */
export async function reportStarted<R>(
  handle: { workflowId: string; firstExecutionRunId: string },
  opts: { wait?: boolean; json?: boolean },
  wait: (onProgress: (p: ArchiveProgress) => void) => Promise<R>,
  line: (result: R) => string = String,
): Promise<void> {
  if (!opts.wait) {
    print(
      opts.json,
      { workflowId: handle.workflowId, runId: handle.firstExecutionRunId },
      `started ${handle.workflowId}`,
    );
    return;
  }
  console.error(`started ${handle.workflowId}`);
  const progress = progressPrinter(process.stderr);
  let result: R;
  try {
    result = await wait((p) => progress.update(p));
  } finally {
    progress.end();
  }
  print(opts.json, result, line(result));
}

export function registerArchive(program: Command): void {
  runOptions(
    program
      .command('archive')
      .description('archive the objects under an S3 prefix into one ZIP64 archive in S3')
      .argument(
        '<source>',
        's3://bucket/prefix to archive (entry names are relative to the prefix)',
      )
      .argument('<destination>', 's3://bucket/key.zip to write')
      .option(
        '--include <glob>',
        'only keys matching this glob, relative to the prefix (repeatable)',
        collect,
      )
      .option('--exclude <glob>', 'leave out keys matching this glob (repeatable)', collect)
      .option(
        '--key-list <s3url>',
        'archive the keys listed one per line in this object instead of listing',
      )
      .option('--flatten', 'name entries by the last segment of their key')
      .option('--entry-prefix <folder>', 'folder inside the archive for every entry')
      .addOption(
        new Option('--compression <method>', 'compression')
          .choices(['auto', 'store', 'deflate'])
          .default('auto'),
      )
      .option('--level <n>', 'deflate level 1-9', integer)
      .option(
        '--part-size <size>',
        'bytes per multipart part, e.g. 64MiB (default: 8MiB, grown to fit 10,000 parts)',
        parseSize,
      )
      .option(
        '--concurrency <n>',
        'parts uploaded at once (default: 4, grown to 5 on a slow store)',
        integer,
      )
      .option(
        '--read-concurrency <n>',
        'read budget in 4 MiB ranges of large source objects, with twice as many GETs in flight (default 4)',
        integer,
      )
      .option(
        '--read-range-size <size>',
        'bytes per ranged GET of a large source object, e.g. 16MiB for a store on the same network (default: 4MiB, 2MiB on a far path)',
        parseSize,
      )
      .option(
        '--parallel <n>',
        'build the archive as n ranges at once on any workers (needs --compression store)',
        integer,
      )
      .option(
        '--server-side-copy',
        'have the store copy objects of 5 MiB or more that carry a CRC-32 checksum (needs --compression store)',
      )
      .addOption(
        new Option(
          '--entry-order <order>',
          'listing, or packed: smaller objects moved between larger ones so the store copies those directly (default packed with --server-side-copy, else listing)',
        ).choices(ENTRY_ORDERS),
      )
      .addOption(
        new Option(
          '--local-headers <layout>',
          'auto: CRC-32 and sizes in the local headers of objects up to 1 MiB, for streaming readers; descriptor: data descriptors for all; known: in every header, or fail (default auto)',
        ).choices(LOCAL_HEADERS),
      )
      .addOption(
        new Option('--storage-class <class>', 'storage class of the archive').choices(
          STORAGE_CLASSES,
        ),
      )
      .option('--content-type <type>', 'Content-Type of the archive (default application/zip)')
      .addOption(
        new Option('--sse <type>', 'server-side encryption of the archive').choices([
          'AES256',
          'aws:kms',
        ]),
      )
      .option('--kms-key-id <id>', 'KMS key for --sse aws:kms')
      .option('--source-profile <name>', "named profile for the source (the worker's)")
      .option('--destination-profile <name>', "named profile for the destination (the worker's)")
      .addOption(
        new Option('--on-source-change <policy>', 'a source object changed after listing').choices([
          'fail',
          'skip',
        ]),
      )
      .option('--allow-empty', 'make an empty archive when nothing matches instead of failing')
      .addOption(afterArchiveOption())
      .option('--dry-run', 'with --after-archive: list what would be removed, remove nothing')
      .option('--overwrite', 'replace an existing archive at the destination'),
    'the run failed',
  ).action(async (sourceUrl: string, destinationUrl: string, opts: ArchiveOptions) => {
    const request = compact(requestFromArguments(sourceUrl, destinationUrl, opts));
    // Bad input is refused before connecting: its error names the field even with no server.
    checkArchiveRequest(request);
    await withClient({ taskQueue: opts.taskQueue }, async (client) => {
      const handle = await startArchive(client, request);
      await reportStarted(
        handle,
        opts,
        (onProgress) => waitForArchive(client, handle.workflowId, onProgress),
        resultLine,
      );
    });
  });

  program
    .command('status')
    .description('where a run stands: its status and live progress')
    .argument('<run>', 'workflow id, or the s3:// destination of the archive')
    .option('--json', 'machine-readable output')
    .action(async (run: string, opts: { json?: boolean }) => {
      await withClient({}, async (client) => {
        const s = await describeArchive(client, run);
        const live = s.progress
          ? ` — ${formatProgress(s.progress, s.progress.bytesPerSecond)}`
          : '';
        print(
          opts.json,
          s,
          `${s.workflowId}: ${s.status}${s.destination ? ` → ${s.destination}` : ''}${live}`,
        );
      });
    });

  program
    .command('result')
    .description('wait for a run and print its result (exit 5 if it failed, 6 if cancelled)')
    .argument('<run>', 'workflow id, or the s3:// destination of the archive')
    .option('--json', 'machine-readable output')
    .action(async (run: string, opts: { json?: boolean }) => {
      await withClient({}, async (client) => {
        const result = await archiveResult(client, run);
        print(opts.json, result, resultLine(result));
      });
    });

  program
    .command('cancel')
    .description('cancel a run: its multipart upload is aborted and its state removed')
    .argument('<run>', 'workflow id, or the s3:// destination of the archive')
    .option('--wait', 'wait until the run has cleaned up and ended')
    .option('--json', 'machine-readable output')
    .action(async (run: string, opts: { wait?: boolean; json?: boolean }) => {
      await withClient({}, async (client) => {
        await cancelArchive(client, run);
        if (opts.wait) {
          await archiveResult(client, run).then(
            () => undefined,
            () => undefined, // the cancelled run's failure is the expected outcome
          );
        }
        const s = await describeArchive(client, run);
        print(
          opts.json,
          { workflowId: s.workflowId, status: s.status },
          `${s.workflowId}: ${opts.wait ? s.status : 'cancel requested'}`,
        );
      });
    });

  program
    .command('list')
    .description('recent archive runs, newest first')
    .option('--limit <n>', 'how many (default 20)', integer)
    .option(
      '--query <visibility query>',
      'narrow with a Temporal visibility query, e.g. "ZipflowPhase = \'failed\'"',
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { limit?: number; query?: string; json?: boolean }) => {
      await withClient({}, async (client) => {
        const runs = await listArchives(client, { limit: opts.limit, query: opts.query });
        print(
          opts.json,
          runs,
          runs
            .map((r) => `${r.startTime}  ${r.status.padEnd(10)} ${r.destination ?? r.workflowId}`)
            .join('\n') || 'no archive runs',
        );
      });
    });
}
