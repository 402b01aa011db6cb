import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import v8 from 'node:v8';
import * as activities from './activities';
import { bundleWorkflows } from './workflowBundle';
import { dataConverterFromEnv } from './runtime/codec';
import { connectionOptions, temporalConnectConfig } from './runtime/connection';
import {
  DEFAULTS,
  s3DirectRequests,
  workerActivities,
  workerReadConcurrency,
  workerReadRangeSize,
} from './runtime/config';
import { WORKER_V8_FLAGS } from './workerRuntime';
import { enableYoungCollections } from './runtime/youngCollections';

export { bundleWorkflows } from './workflowBundle';
export { WORKER_ENV, WORKER_NODE_OPTIONS, WORKER_V8_FLAGS } from './workerRuntime';
export { enableYoungCollections } from './runtime/youngCollections';

/** The task queue zipflow's client and workers use unless ZIPFLOW_TASK_QUEUE says otherwise. */
export const DEFAULT_TASK_QUEUE: string = DEFAULTS.taskQueue;

/**
 * zipflow's workflows (the `archive` workflow type), for `Worker.create({ workflowsPath })` or
 * `bundleWorkflows`. A worker that runs workflows of its own too re-exports them from its own
 * workflows file: `export * from 'zipflow/workflows';`.
 */
export const workflowsPath: string = require.resolve('./workflows');

/** zipflow's activities, by the names its workflows call them. */
export type ZipflowActivities = typeof activities;

/**
 * zipflow's activities, to register as they are or spread next to a worker's own. Also turns on
 * the young collections their read side relies on for the worker's memory bound
 * (enableYoungCollections), so a worker of one's own has them as `zipflow worker` does.
 */
export function createActivities(): ZipflowActivities {
  enableYoungCollections();
  return { ...activities };
}

/**
 * The worker options zipflow's activities rely on: frequent heartbeats (they carry the resume
 * checkpoint and the live progress), the activity slots of ZIPFLOW_WORKER_ACTIVITIES, and the
 * payload codec of ZIPFLOW_CODEC_KEYS, which must match the clients'.
 */
export function recommendedWorkerOptions(): Pick<
  WorkerOptions,
  'maxHeartbeatThrottleInterval' | 'maxConcurrentActivityTaskExecutions' | 'dataConverter'
> {
  const concurrency = workerActivities();
  return {
    ...dataConverterFromEnv(),
    maxHeartbeatThrottleInterval: '2 seconds',
    ...(concurrency === undefined ? {} : { maxConcurrentActivityTaskExecutions: concurrency }),
  };
}

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
  // A bad ZIPFLOW_READ_CONCURRENCY, ZIPFLOW_READ_RANGE_SIZE or ZIPFLOW_S3_DIRECT stops the
  // worker here, by name.
  workerReadConcurrency();
  workerReadRangeSize();
  s3DirectRequests();
  const connection = await NativeConnection.connect(connectionOptions(settings));
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: overrides.taskQueue ?? settings.taskQueue,
    workflowBundle: await bundleWorkflows(overrides.workflowsPath ?? workflowsPath),
    activities: overrides.activities ?? createActivities(),
    ...recommendedWorkerOptions(),
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
