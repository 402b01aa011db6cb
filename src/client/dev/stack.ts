import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../shared/searchAttributes';
import { DEFAULTS, ENV } from '../../shared/config';
import { ensureTools } from './tools';

/** What a running local stack looks like; saved as JSON so `zipflow dev down` can find it. */
export interface StackState {
  dir: string;
  temporal: { pid: number; address: string; uiUrl: string; dbFile: string; args: string[] };
  minio: { pid: number; endpoint: string; consoleUrl: string; dataDir: string; args: string[] };
  env: Record<string, string>;
}

export type StackServer = 'temporal' | 'minio';

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
}

/** Builds (once) and starts the Temporal dev server and MinIO on free loopback ports. */
export async function startStack(options: StartOptions = {}): Promise<StackState> {
  const log = options.log ?? (() => {});
  const tools = await ensureTools(log);
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-stack-'));
  fs.mkdirSync(dir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const state = await launchStack(dir, tools, options);
    try {
      await Promise.all([waitForServer(state, 'minio'), waitForServer(state, 'temporal')]);
      log(
        `stack up: Temporal ${state.temporal.address} (UI ${state.temporal.uiUrl}), MinIO ${state.minio.endpoint}`,
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
  tools: { temporal: string; minio: string },
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
    env: {
      [ENV.temporalAddress]: address,
      [ENV.temporalNamespace]: DEFAULTS.temporalNamespace,
      [ENV.taskQueue]: DEFAULTS.taskQueue,
      [ENV.s3Endpoint]: endpoint,
      [ENV.region]: 'us-east-1',
      [ENV.accessKeyId]: accessKey,
      [ENV.secretAccessKey]: secretKey,
      ZIPFLOW_TEMPORAL_UI: `http://${LOOPBACK}:${uiPort}`,
    },
  };
  writeStackState(state);
  return state;
}

function writeStackState(state: StackState): void {
  fs.writeFileSync(path.join(state.dir, 'state.json'), JSON.stringify(state, null, 2), {
    mode: 0o600,
  });
}

async function waitForServer(state: StackState, server: StackServer): Promise<void> {
  const logFile = path.join(state.dir, `${server}.log`);
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
  await stopProcesses([state[server].pid]);
  if (options.downMs) await new Promise((r) => setTimeout(r, options.downMs));
  const tools = await ensureTools(() => {});
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
  const pid = startProcess(state.dir, server, tools[server], state[server].args, env);
  const next: StackState = { ...state, [server]: { ...state[server], pid } };
  writeStackState(next);
  await waitForServer(next, server);
  return next;
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

/** Stops both servers (SIGTERM, then SIGKILL after a grace period) and removes temp data. */
export async function stopStack(
  state: StackState,
  options: { keepData?: boolean } = {},
): Promise<void> {
  await stopProcesses([state.temporal.pid, state.minio.pid]);
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
