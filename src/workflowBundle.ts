import { spawn } from 'node:child_process';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';

/**
 * Bundles workflow code (webpack) in a child process and returns the bundle. Bundling in the
 * worker's own process would leave webpack's compile-time peak (about 100 MiB) as the
 * worker's high-water mark for its whole life; the child takes it and exits. Workflow stack
 * traces name the TypeScript file and line, not the column.
 */
export function bundleWorkflows(workflowsPath: string): Promise<WorkflowBundle> {
  return new Promise((resolve, reject) => {
    // From the sources (development) this file is TypeScript, run through tsx; compiled, plain.
    const loader = __filename.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : [];
    const child = spawn(process.execPath, [...loader, __filename, workflowsPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve({ code: Buffer.concat(out).toString('utf8') });
      else
        reject(
          new Error(
            `bundling the workflows at ${workflowsPath} failed (exit ${code}): ${Buffer.concat(err).toString('utf8').slice(-4000)}`,
          ),
        );
    });
  });
}

/** In the child: bundle, write the code to stdout. */
async function main(workflowsPath: string): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    // Lines only, without the sources' text: the workflow thread keeps the map parsed, to map
    // the stack the SDK takes at every promise a workflow makes. With columns and sources it
    // cost ~11 MiB at a worker's peak (docs/benchmarks.md, "The workflow bundle's source map").
    webpackConfigHook: (config) => ({
      ...config,
      devtool: 'inline-nosources-cheap-module-source-map',
    }),
    logger: {
      log: () => {},
      trace: () => {},
      debug: () => {},
      info: () => {},
      warn: console.error,
      error: console.error,
    },
  });
  await new Promise<void>((resolve, reject) =>
    process.stdout.write(code, (e) => (e ? reject(e) : resolve())),
  );
}

if (require.main === module) {
  main(process.argv[2]).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
