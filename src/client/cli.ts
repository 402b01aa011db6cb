import { Command, type OutputConfiguration } from 'commander';
import { registerArchive } from './commands/archive';
import { registerCodec } from './commands/codec';
import { registerDev } from './commands/dev';
import { registerRestore } from './commands/restore';
import { registerSchedule } from './commands/schedule';
import { registerVerify } from './commands/verify';
import { describeError } from './commands/output';

/** The CLI; `output` redirects what commander prints (help, usage errors), e.g. in tests. */
export function buildCli(output: OutputConfiguration = {}): Command {
  const program = new Command('zipflow')
    .description('Durable ZIP64 archives of S3 objects, built by a Temporal workflow.')
    .showHelpAfterError()
    // Errors reach main(), which picks the exit code (subcommands inherit this).
    .exitOverride()
    .configureOutput(output);

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
  registerArchive(program);
  registerVerify(program);
  registerRestore(program);
  registerSchedule(program);
  registerDev(program);
  registerCodec(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    const { code, message } = describeError(err);
    if (message) console.error(`zipflow: ${message}`);
    process.exitCode = code;
  }
}
