import { Option, type Command } from 'commander';
import { STORES, type StoreName } from '../dev/stack';
import { devDown, devStatus, devUp } from '../dev/commands';
import { EXIT, print } from './output';

export function registerDev(program: Command): void {
  const dev = program
    .command('dev')
    .description(
      'the local stack: Temporal dev server with Web UI, MinIO, and SeaweedFS on request',
    );
  dev
    .command('up')
    .description(
      'start the stack in the background and print export lines: eval "$(zipflow dev up)"',
    )
    .addOption(
      new Option('--store <name>', 'the S3 store the printed AWS_* settings point at')
        .choices([...STORES])
        .default('minio'),
    )
    .action(async (opts: { store: StoreName }) => {
      console.log(await devUp((line) => console.error(line), opts.store));
    });
  dev
    .command('down')
    .description('stop the stack started by "dev up" and remove its data')
    .action(async () => {
      console.error((await devDown()) ? 'stack stopped' : 'no stack was running');
    });
  dev
    .command('status')
    .description('tell whether the stack is running, and where (exit 3 when it is not)')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const status = devStatus();
      const s = status.state;
      print(
        opts.json,
        status.running ? { running: true, ...s!.env } : { running: false },
        s
          ? `running: Temporal ${s.temporal.address} (Web UI ${s.temporal.uiUrl}), MinIO ${s.minio.endpoint}` +
              (s.seaweedfs ? `, SeaweedFS ${s.seaweedfs.endpoint}` : '') +
              `; AWS_* settings for ${s.store ?? 'minio'}`
          : 'not running',
      );
      if (!status.running) process.exitCode = EXIT.notFound;
    });
}
