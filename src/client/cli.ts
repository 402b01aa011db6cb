import { Command, Option } from 'commander';
import { archiveResult, connect, startArchive } from './index';
import { devDown, devStatus, devUp } from './dev/commands';
import { parseS3Url } from './s3url';
import { registerVerify } from './commands/verify';
import type { ArchiveRequest, CompressionMethod } from '../shared/request';

function print(json: boolean, value: unknown, text: string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text);
}

export function buildCli(): Command {
  const program = new Command('zipflow')
    .description('Durable ZIP64 archives of S3 objects, built by a Temporal workflow.')
    .showHelpAfterError();

  const dev = program
    .command('dev')
    .description('the local stack: Temporal dev server with Web UI, and MinIO');
  dev
    .command('up')
    .description(
      'start the stack in the background and print export lines: eval "$(zipflow dev up)"',
    )
    .action(async () => {
      console.log(await devUp((line) => console.error(line)));
    });
  dev
    .command('down')
    .description('stop the stack started by "dev up" and remove its data')
    .action(async () => {
      console.error((await devDown()) ? 'stack stopped' : 'no stack was running');
    });
  dev
    .command('status')
    .description('tell whether the stack is running, and where')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const status = devStatus();
      const s = status.state;
      print(
        Boolean(opts.json),
        status.running ? { running: true, ...s!.env } : { running: false },
        s
          ? `running: Temporal ${s.temporal.address} (Web UI ${s.temporal.uiUrl}), MinIO ${s.minio.endpoint}`
          : 'not running',
      );
      if (!status.running) process.exitCode = 3;
    });

  program
    .command('worker')
    .description(
      'run a worker for archive workflows (TEMPORAL_ADDRESS, ZIPFLOW_TASK_QUEUE, AWS_* settings)',
    )
    .action(async () => {
      // Loaded on demand: the worker pulls in the Temporal worker runtime.
      const { runWorker } = require('../worker') as typeof import('../worker');
      await runWorker();
    });

  program
    .command('archive')
    .description('archive every object under an S3 prefix into one ZIP in S3')
    .argument('<source>', 's3://bucket/prefix to archive')
    .argument('<destination>', 's3://bucket/key.zip to write')
    .addOption(
      new Option('--compression <method>', 'auto, store or deflate')
        .choices(['auto', 'store', 'deflate'])
        .default('auto'),
    )
    .option('--level <n>', 'deflate level 1-9', (v) => Number(v))
    .option('--part-size <bytes>', 'bytes per multipart part', (v) => Number(v))
    .option('--overwrite', 'replace an existing archive at the destination')
    .option('--wait', 'wait for the result')
    .option('--json', 'machine-readable output')
    .action(
      async (
        sourceUrl: string,
        destinationUrl: string,
        opts: {
          compression: CompressionMethod;
          level?: number;
          partSize?: number;
          overwrite?: boolean;
          wait?: boolean;
          json?: boolean;
        },
      ) => {
        const source = parseS3Url('source', sourceUrl);
        const destination = parseS3Url('destination', destinationUrl);
        const request: ArchiveRequest = {
          source: { bucket: source.bucket, prefix: source.key || undefined },
          destination: {
            bucket: destination.bucket,
            key: destination.key,
            overwrite: opts.overwrite,
          },
          compression: { method: opts.compression, level: opts.level },
          partSize: opts.partSize,
        };
        const client = await connect();
        try {
          const handle = await startArchive(client, request);
          if (!opts.wait) {
            print(
              Boolean(opts.json),
              { workflowId: handle.workflowId },
              `started ${handle.workflowId}`,
            );
            return;
          }
          const result = await handle.result();
          print(
            Boolean(opts.json),
            result,
            `archived ${result.entries} entries to s3://${result.bucket}/${result.key} (${result.size} bytes, sha256 ${result.sha256})`,
          );
        } finally {
          await client.close();
        }
      },
    );

  program
    .command('result')
    .description('wait for and print the result of an archive run')
    .argument('<workflowId>')
    .option('--json', 'machine-readable output')
    .action(async (workflowId: string, opts: { json?: boolean }) => {
      const client = await connect();
      try {
        const result = await archiveResult(client, workflowId);
        print(
          Boolean(opts.json),
          result,
          `s3://${result.bucket}/${result.key}: ${result.size} bytes, ${result.entries} entries, sha256 ${result.sha256}`,
        );
      } finally {
        await client.close();
      }
    });
  registerVerify(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    console.error(`zipflow: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
