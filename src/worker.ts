import { NativeConnection, Worker } from '@temporalio/worker';
import v8 from 'node:v8';
import * as activities from './activities';
import { bundleWorkflows } from './workflowBundle';
import { dataConverterFromEnv } from './shared/codec';
import { connectionOptions, temporalConnectConfig } from './shared/connection';
import { workerActivities, workerReadConcurrency } from './shared/config';
import { WORKER_V8_FLAGS } from './workerRuntime';

export interface RunningWorker {
  worker: Worker;
  connection: NativeConnection;
}

/**
 * Creates a worker for the archive workflow and its activities on the configured task queue,
 * connected like the client (Temporal's environment configuration, payload encryption).
 */
export async function createWorker(
  overrides: { taskQueue?: string; workflowsPath?: string; activities?: object } = {},
): Promise<RunningWorker> {
  const settings = temporalConnectConfig();
  workerReadConcurrency(); // a bad ZIPFLOW_READ_CONCURRENCY stops the worker here, by name
  const dataConverter = dataConverterFromEnv();
  const connection = await NativeConnection.connect(connectionOptions(settings));
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    ...dataConverter,
    taskQueue: overrides.taskQueue ?? settings.taskQueue,
    workflowBundle: await bundleWorkflows(
      overrides.workflowsPath ?? require.resolve('./workflows'),
    ),
    activities: overrides.activities ?? activities,
    // Heartbeats carry the resume checkpoint: send them often so a retry loses little.
    maxHeartbeatThrottleInterval: '2 seconds',
    maxConcurrentActivityTaskExecutions: workerActivities(),
  });
  return { worker, connection };
}

/** Runs a worker until SIGINT/SIGTERM. */
export async function runWorker(): Promise<void> {
  for (const flag of WORKER_V8_FLAGS) v8.setFlagsFromString(flag);
  const { worker, connection } = await createWorker();
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  runWorker().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
