import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../shared/searchAttributes';
import { DEFAULTS, ENV } from '../../runtime/config';
import { ensureTool, ensureTools } from './tools';

/** What a running local stack looks like; saved as JSON so `zipflow dev down` can find it. */
export interface StackState {
  dir: string;
  temporal: { pid: number; address: string; uiUrl: string; dbFile: string; args: string[] };
  minio: { pid: number; endpoint: string; consoleUrl: string; dataDir: string; args: string[] };
  /** A second S3 store, when started (`stores` includes "seaweedfs"). */
  seaweedfs?: { pid: number; endpoint: string; dataDir: string; args: string[] };
  /** The store the AWS_* settings in `env` point at. */
  store?: StoreName;
  env: Record<string, string>;
}

export type StackServer = 'temporal' | 'minio' | 'seaweedfs';

/** The S3 stores the local stack can run. */
export const STORES = ['minio', 'seaweedfs'] as const;
export type StoreName = (typeof STORES)[number];

/**
 * Each store's endpoint and credentials in a stack's env, under these names; the AWS_* settings
 * point at one of them (StackState.store).
 */
export function storeEnvNames(store: StoreName): {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
} {
  const prefix = `ZIPFLOW_${store.toUpperCase()}`;
  return {
    endpoint: `${prefix}_ENDPOINT`,
    accessKeyId: `${prefix}_ACCESS_KEY_ID`,
    secretAccessKey: `${prefix}_SECRET_ACCESS_KEY`,
  };
}

const LOOPBACK = '127.0.0.1';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, LOOPBACK, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a detached server whose output goes to a log file in the stack's folder. */
function startProcess(
  dir: string,
  name: string,
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): number {
  const log = fs.openSync(path.join(dir, `${name}.log`), 'a');
  const child = spawn(file, args, { detached: true, stdio: ['ignore', log, log], env });
  fs.closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${name} (${file})`);
  return child.pid;
}

async function waitFor(
  what: string,
  deadlineMs: number,
  probe: () => Promise<boolean>,
  server: { pid: number; logFile: string },
): Promise<void> {
  const until = Date.now() + deadlineMs;
  const tail = (): string =>
    fs.existsSync(server.logFile) ? fs.readFileSync(server.logFile, 'utf8').slice(-2000) : '';
  while (Date.now() < until) {
    if (await probe().catch(() => false)) return;
    if (!isAlive(server.pid)) throw new Error(`${what} exited. Last log lines:\n${tail()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${what} did not become healthy within ${deadlineMs / 1000} s. Last log lines:\n${tail()}`,
  );
}

/**
 * A free port is found by binding port 0 and closing it; until the server binds it, any
 * outgoing connection on the machine may take it as its own source port.
 */
function lostPortRace(err: unknown): boolean {
  return err instanceof Error && /address already in use/i.test(err.message);
}

/** Starts on other ports when a chosen one was taken before the server could bind it. */
const START_ATTEMPTS = 3;

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The KMS key name MinIO knows in the local stack: `serverSideEncryption.kmsKeyId` for SSE-KMS. */
export const DEV_KMS_KEY_NAME = 'zipflow-dev-key';

/** The stack's KMS key (base64, 32 bytes): made once per stack folder, so its data stays readable. */
function devKmsKey(dir: string): string {
  const file = path.join(dir, 'kms.key');
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, crypto.randomBytes(32).toString('base64'), { mode: 0o600 });
  }
  return fs.readFileSync(file, 'utf8').trim();
}

export interface StartOptions {
  /** Folder for logs, data and the state file; a new temp folder when omitted. */
  dir?: string;
  log?: (line: string) => void;
  /**
   * MinIO root credentials; random when omitted. A caller that keeps `dir` (and its MinIO
   * data) between runs passes the same ones again so the data stays readable.
   */
  minioCredentials?: { accessKey: string; secretKey: string };
  /** How each port is chosen (default: a free loopback port); tests use it to lose the race. */
  choosePort?: () => Promise<number>;
  /**
   * The S3 stores to run (default: MinIO). MinIO always runs; the first store named is the
   * one the AWS_* settings point at.
   */
  stores?: readonly StoreName[];
}

/**
 * Builds (once) and starts the Temporal dev server, MinIO and, when asked, SeaweedFS on free
 * loopback ports.
 */
export async function startStack(options: StartOptions = {}): Promise<StackState> {
  const log = options.log ?? (() => {});
  const stores = options.stores ?? ['minio'];
  const tools = await ensureTools(log, [
    'temporal',
    'minio',
    ...(stores.includes('seaweedfs') ? (['weed'] as const) : []),
  ]);
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-stack-'));
  fs.mkdirSync(dir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const state = await launchStack(dir, tools, options);
    try {
      await Promise.all([
        waitForServer(state, 'minio'),
        waitForServer(state, 'temporal'),
        ...(state.seaweedfs ? [waitForServer(state, 'seaweedfs')] : []),
      ]);
      log(
        `stack up: Temporal ${state.temporal.address} (UI ${state.temporal.uiUrl}), MinIO ${state.minio.endpoint}` +
          (state.seaweedfs ? `, SeaweedFS ${state.seaweedfs.endpoint}` : ''),
      );
      return state;
    } catch (err) {
      await stopStack(state, { keepData: true });
      if (attempt < START_ATTEMPTS && lostPortRace(err)) {
        log('a chosen port was taken meanwhile: starting again on other ports');
        continue;
      }
      if (!options.dir) fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }
}

async function launchStack(
  dir: string,
  tools: { temporal: string; minio: string; weed?: string },
  options: StartOptions,
): Promise<StackState> {
  const [tPort, uiPort, httpPort, metricsPort, mPort, consolePort] = await Promise.all(
    Array.from({ length: 6 }, options.choosePort ?? freePort),
  );
  const dbFile = path.join(dir, 'temporal.sqlite');
  const temporalArgs = [
    'server',
    'start-dev',
    '--ip',
    LOOPBACK,
    '--port',
    String(tPort),
    '--ui-port',
    String(uiPort),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--db-filename',
    dbFile,
    '--log-level',
    'warn',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, v]) => ['--search-attribute', `${k}=${v}`]),
  ];
  const dataDir = path.join(dir, 'minio-data');
  fs.mkdirSync(dataDir, { recursive: true });
  const accessKey =
    options.minioCredentials?.accessKey ?? `zipflow${crypto.randomBytes(6).toString('hex')}`;
  const secretKey =
    options.minioCredentials?.secretKey ?? crypto.randomBytes(24).toString('base64url');
  const minioEnv = {
    ...process.env,
    MINIO_ROOT_USER: accessKey,
    MINIO_ROOT_PASSWORD: secretKey,
    MINIO_BROWSER: 'on',
    MINIO_UPDATE: 'off',
    // A static KMS key, so SSE-S3 and SSE-KMS (kmsKeyId: DEV_KMS_KEY_NAME) work locally.
    MINIO_KMS_SECRET_KEY: `${DEV_KMS_KEY_NAME}:${devKmsKey(dir)}`,
  };

  const minioArgs = [
    'server',
    dataDir,
    '--quiet',
    '--address',
    `${LOOPBACK}:${mPort}`,
    '--console-address',
    `${LOOPBACK}:${consolePort}`,
  ];
  const temporalPid = startProcess(dir, 'temporal', tools.temporal, temporalArgs, process.env);
  const minioPid = startProcess(dir, 'minio', tools.minio, minioArgs, minioEnv);
  const endpoint = `http://${LOOPBACK}:${mPort}`;
  const address = `${LOOPBACK}:${tPort}`;
  const seaweedfs = tools.weed
    ? await launchSeaweedfs(dir, tools.weed, options.choosePort ?? freePort)
    : undefined;
  const store = options.stores?.[0] ?? 'minio';
  const storeEnv: Record<string, string> = {
    [storeEnvNames('minio').endpoint]: endpoint,
    [storeEnvNames('minio').accessKeyId]: accessKey,
    [storeEnvNames('minio').secretAccessKey]: secretKey,
    ...(seaweedfs
      ? {
          [storeEnvNames('seaweedfs').endpoint]: seaweedfs.state.endpoint,
          [storeEnvNames('seaweedfs').accessKeyId]: seaweedfs.accessKey,
          [storeEnvNames('seaweedfs').secretAccessKey]: seaweedfs.secretKey,
        }
      : {}),
  };
  const names = storeEnvNames(store);
  const state: StackState = {
    dir,
    temporal: {
      pid: temporalPid,
      address,
      uiUrl: `http://${LOOPBACK}:${uiPort}`,
      dbFile,
      args: temporalArgs,
    },
    minio: {
      pid: minioPid,
      endpoint,
      consoleUrl: `http://${LOOPBACK}:${consolePort}`,
      dataDir,
      args: minioArgs,
    },
    ...(seaweedfs ? { seaweedfs: seaweedfs.state } : {}),
    store,
    env: {
      [ENV.temporalAddress]: address,
      [ENV.temporalNamespace]: DEFAULTS.temporalNamespace,
      [ENV.taskQueue]: DEFAULTS.taskQueue,
      [ENV.s3Endpoint]: storeEnv[names.endpoint],
      [ENV.region]: 'us-east-1',
      [ENV.accessKeyId]: storeEnv[names.accessKeyId],
      [ENV.secretAccessKey]: storeEnv[names.secretAccessKey],
      ZIPFLOW_TEMPORAL_UI: `http://${LOOPBACK}:${uiPort}`,
      ...storeEnv,
    },
  };
  writeStackState(state);
  return state;
}

/**
 * SeaweedFS as one process (`weed server -s3`: master, volume server, filer and S3 gateway),
 * every port on loopback and chosen here (its gRPC ports default to HTTP + 10000, which may be
 * taken), and one S3 identity with random credentials. Lighter than `weed mini`, which adds an
 * admin UI, WebDAV, Iceberg and Lance endpoints and background workers. Backslashes stay
 * literal key characters (-s3.allowBackslashInKey), as on AWS S3.
 */
async function launchSeaweedfs(
  dir: string,
  weed: string,
  choosePort: () => Promise<number>,
): Promise<{ state: NonNullable<StackState['seaweedfs']>; accessKey: string; secretKey: string }> {
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3Port, s3Grpc] =
    await Promise.all(Array.from({ length: 8 }, choosePort));
  const dataDir = path.join(dir, 'seaweedfs-data');
  fs.mkdirSync(dataDir, { recursive: true });
  const configFile = path.join(dir, 'seaweedfs-s3.json');
  if (!fs.existsSync(configFile)) {
    const identity = {
      name: 'zipflow',
      credentials: [
        {
          accessKey: `zipflow${crypto.randomBytes(6).toString('hex')}`,
          secretKey: crypto.randomBytes(24).toString('base64url'),
        },
      ],
      actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
    };
    fs.writeFileSync(configFile, JSON.stringify({ identities: [identity] }, null, 2), {
      mode: 0o600,
    });
  }
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as {
    identities: { credentials: { accessKey: string; secretKey: string }[] }[];
  };
  const { accessKey, secretKey } = config.identities[0].credentials[0];
  const args = [
    'server',
    `-dir=${dataDir}`,
    `-ip=${LOOPBACK}`,
    `-ip.bind=${LOOPBACK}`,
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    '-master.telemetry=false',
    // Small volumes, as many as the disk holds: every bucket is a collection of its own volumes.
    '-master.volumeSizeLimitMB=64',
    '-volume.max=0',
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    '-filer',
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    '-s3',
    `-s3.port=${s3Port}`,
    `-s3.port.grpc=${s3Grpc}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    `-s3.config=${configFile}`,
    '-s3.allowBackslashInKey',
    // A write to a bucket that does not exist fails (NoSuchBucket), as on AWS S3 and MinIO.
    '-s3.autoCreateBucket=false',
  ];
  const pid = startProcess(dir, 'seaweedfs', weed, args, process.env);
  return {
    state: { pid, endpoint: `http://${LOOPBACK}:${s3Port}`, dataDir, args },
    accessKey,
    secretKey,
  };
}

function writeStackState(state: StackState): void {
  fs.writeFileSync(path.join(state.dir, 'state.json'), JSON.stringify(state, null, 2), {
    mode: 0o600,
  });
}

async function waitForServer(state: StackState, server: StackServer): Promise<void> {
  const logFile = path.join(state.dir, `${server}.log`);
  if (server === 'seaweedfs') {
    const weed = state.seaweedfs!;
    await waitFor('SeaweedFS', 120_000, () => seaweedfsWrites(state), { pid: weed.pid, logFile });
    return;
  }
  if (server === 'minio') {
    const { endpoint } = state.minio;
    await waitFor('MinIO', 60_000, async () => (await fetch(`${endpoint}/minio/health/live`)).ok, {
      pid: state.minio.pid,
      logFile,
    });
    return;
  }
  const temporal = { pid: state.temporal.pid, logFile };
  await Promise.all([
    waitFor('Temporal dev server', 90_000, () => temporalHealthy(state.temporal.address), temporal),
    waitFor(
      'Temporal Web UI',
      90_000,
      async () => (await fetch(state.temporal.uiUrl)).ok,
      temporal,
    ),
  ]);
}

/**
 * Restarts one server of a running stack as a crash and recovery would: stops it (SIGTERM, then
 * SIGKILL), waits `downMs`, and starts it again on the same ports with the same data (the
 * Temporal database file, MinIO's data folder and credentials). Returns the new state (new pid),
 * also saved to the stack's state file.
 */
export async function restartServer(
  state: StackState,
  server: StackServer,
  options: { downMs?: number } = {},
): Promise<StackState> {
  await stopProcesses([state[server]!.pid]);
  if (options.downMs) await new Promise((r) => setTimeout(r, options.downMs));
  const file = await ensureTool(server === 'seaweedfs' ? 'weed' : server);
  const env =
    server === 'minio'
      ? {
          ...process.env,
          MINIO_ROOT_USER: state.env[ENV.accessKeyId],
          MINIO_ROOT_PASSWORD: state.env[ENV.secretAccessKey],
          MINIO_BROWSER: 'on',
          MINIO_UPDATE: 'off',
        }
      : process.env;
  const pid = startProcess(state.dir, server, file, state[server]!.args, env);
  const next: StackState = { ...state, [server]: { ...state[server]!, pid } };
  writeStackState(next);
  await waitForServer(next, server);
  return next;
}

/**
 * SeaweedFS answers /healthz before its volume server has joined the master; until then writes
 * fail. Healthy once an object can be written and removed with the stack's credentials.
 */
async function seaweedfsWrites(state: StackState): Promise<boolean> {
  const weed = state.seaweedfs!;
  if (!(await fetch(`${weed.endpoint}/healthz`)).ok) return false;
  const names = storeEnvNames('seaweedfs');
  const client = new S3Client({
    endpoint: weed.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: {
      accessKeyId: state.env[names.accessKeyId],
      secretAccessKey: state.env[names.secretAccessKey],
    },
  });
  const Bucket = 'zipflow-health';
  try {
    await client.send(new CreateBucketCommand({ Bucket })).catch((err: unknown) => {
      if ((err as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw err;
    });
    await client.send(new PutObjectCommand({ Bucket, Key: 'probe', Body: 'ok' }));
    await client.send(new DeleteObjectCommand({ Bucket, Key: 'probe' }));
    await client.send(new DeleteBucketCommand({ Bucket }));
    return true;
  } finally {
    client.destroy();
  }
}

async function temporalHealthy(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    await connection.workflowService.describeNamespace({ namespace: DEFAULTS.temporalNamespace });
    return true;
  } finally {
    await connection.close();
  }
}

/** Stops the servers (SIGTERM, then SIGKILL after a grace period) and removes temp data. */
export async function stopStack(
  state: StackState,
  options: { keepData?: boolean } = {},
): Promise<void> {
  await stopProcesses([
    state.temporal.pid,
    state.minio.pid,
    ...(state.seaweedfs ? [state.seaweedfs.pid] : []),
  ]);
  if (!options.keepData) fs.rmSync(state.dir, { recursive: true, force: true });
}

async function stopProcesses(pids: number[]): Promise<void> {
  for (const pid of pids) signalGroup(pid, 'SIGTERM');
  const until = Date.now() + 10_000;
  while (pids.some(isAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids) if (isAlive(pid)) signalGroup(pid, 'SIGKILL');
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal); // detached: the server leads its own process group
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export function readStackState(dir: string): StackState | undefined {
  const file = path.join(dir, 'state.json');
  return fs.existsSync(file)
    ? (JSON.parse(fs.readFileSync(file, 'utf8')) as StackState)
    : undefined;
}

/** Lines for `eval "$(zipflow dev up)"`. */
export function exportLines(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n');
}
