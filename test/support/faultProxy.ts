import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { Transform } from 'node:stream';
import type { TestContext } from 'node:test';

/**
 * A fault-injecting HTTP proxy between a worker and an S3-compatible store, on loopback.
 * Requests are numbered as they arrive; for each, a seeded PRNG decides whether it fails and
 * how, so a seed replays the same schedule of decisions (which request gets which fault also
 * depends on the order concurrent requests arrive in). Faults:
 *
 * - `internalError` / `slowDown`: 500 InternalError or 503 SlowDown with S3's XML error body
 *   (the request body is read first, and the store never sees the request);
 * - `resetRequest`: the connection is reset while the request is arriving;
 * - `resetResponse`: the store handles the request, and the connection is reset mid-response
 *   (inside the headers when the body is empty, else half-way through the body), so the
 *   client cannot tell whether the request took effect;
 * - `stall`: no response at all for `stallMs`, then the connection is closed.
 */
export const FAULT_KINDS = [
  'internalError',
  'slowDown',
  'resetRequest',
  'resetResponse',
  'stall',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What the delay and fault choices see of a request (its Range header: ranged GETs). */
export interface ProxiedRequest {
  method: string;
  url: string;
  range?: string;
}

function proxied(req: http.IncomingMessage): ProxiedRequest {
  return { method: req.method ?? 'GET', url: req.url ?? '/', range: req.headers.range };
}

export interface FaultProxyOptions {
  /** The store's endpoint, e.g. http://127.0.0.1:9000. */
  target: string;
  seed: number;
  /** Probability that a request gets a fault (0–1). */
  rate: number;
  /** Relative weight of each kind (default 1 each); 0 leaves a kind out. */
  weights?: Partial<Record<FaultKind, number>>;
  /** How long a stalled request gets no answer. */
  stallMs: number;
  /** Delay before each request is handled: a slow store, to stretch a run out. */
  latencyMs?: number;
  /**
   * Bytes per second the store sends at most, shared by every response (a store behind a slow
   * link): latency alone no longer slows a reader that has many GETs in flight.
   */
  bytesPerSecond?: number;
  /** Extra delay for some requests (added to `latencyMs`). */
  delayFor?: (request: ProxiedRequest) => number;
  /** Picks the faults itself, in place of the seeded schedule (`rate` and `weights` unused). */
  faultFor?: (request: ProxiedRequest) => FaultKind | undefined;
}

export interface FaultProxy {
  /** http://127.0.0.1:port: give it to the worker as AWS_ENDPOINT_URL_S3. */
  url: string;
  seed: number;
  /** Requests seen and faults injected so far, by kind. */
  stats(): { requests: number; faults: Record<FaultKind, number> };
  /** Pass every request through untouched (true) or inject faults again (false). */
  pause(paused: boolean): void;
  close(): Promise<void>;
}

/** mulberry32: a small seeded PRNG with uniform floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed from ZIPFLOW_FAULT_SEED (to replay a failure), else a fresh one. */
export function faultSeed(): number {
  const given = process.env.ZIPFLOW_FAULT_SEED;
  return given ? Number(given) >>> 0 : crypto.randomBytes(4).readUInt32BE(0);
}

const ERRORS = {
  internalError: {
    status: 500,
    code: 'InternalError',
    message: 'We encountered an internal error. Please try again.',
  },
  slowDown: { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
} as const;

/** The schedule: for request n, undefined (pass through) or the fault it gets. */
function faultSchedule(options: FaultProxyOptions): () => FaultKind | undefined {
  const random = seededRandom(options.seed);
  const kinds = FAULT_KINDS.filter((k) => (options.weights?.[k] ?? 1) > 0);
  const total = kinds.reduce((n, k) => n + (options.weights?.[k] ?? 1), 0);
  // The first faults take every kind once, in a seeded order, so a short run sees each kind.
  const firstRound = [...kinds].sort(() => random() - 0.5);
  return () => {
    if (random() >= options.rate) return undefined;
    const next = firstRound.shift();
    if (next) return next;
    let pick = random() * total;
    for (const k of kinds) {
      pick -= options.weights?.[k] ?? 1;
      if (pick < 0) return k;
    }
    return kinds[kinds.length - 1];
  };
}

/** A link of `bytesPerSecond` that every response body passes through in turn. */
function sharedLink(bytesPerSecond: number, timers: Set<NodeJS.Timeout>): () => Transform {
  let freeAt = 0; // when the link has sent everything handed to it so far
  return () =>
    new Transform({
      transform(chunk: Buffer, _encoding, done) {
        const now = Date.now();
        freeAt = Math.max(now, freeAt) + (chunk.length / bytesPerSecond) * 1000;
        const timer = setTimeout(() => {
          timers.delete(timer);
          done(null, chunk);
        }, freeAt - now);
        timers.add(timer);
      },
    });
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const scheduled = faultSchedule(options);
  const next = (req: http.IncomingMessage): FaultKind | undefined =>
    options.faultFor ? options.faultFor(proxied(req)) : scheduled();
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  let requests = 0;
  let paused = false;
  const agent = new http.Agent({ keepAlive: true });
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const link = options.bytesPerSecond ? sharedLink(options.bytesPerSecond, timers) : undefined;

  const forward = (
    req: http.IncomingMessage,
    onResponse: (upstream: http.IncomingMessage) => void,
    onError: () => void,
  ): void => {
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers, // Host included: it is part of the SigV4 signature
        agent,
      },
      onResponse,
    );
    upstream.on('error', onError);
    req.pipe(upstream);
  };

  const server = http.createServer((req, res) => {
    const delay = (options.latencyMs ?? 0) + (options.delayFor?.(proxied(req)) ?? 0);
    if (delay > 0) {
      req.pause();
      const timer = setTimeout(() => {
        timers.delete(timer);
        handle(req, res);
      }, delay);
      timers.add(timer);
    } else handle(req, res);
  });
  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    requests += 1;
    const fault = paused ? undefined : next(req);
    if (fault) faults[fault] += 1;
    const socket = req.socket;
    const reset = (): void => {
      if (!socket.destroyed) socket.resetAndDestroy();
    };
    switch (fault) {
      case undefined:
        forward(
          req,
          (upstream) => {
            res.writeHead(upstream.statusCode ?? 502, upstream.rawHeaders);
            if (link) upstream.pipe(link()).pipe(res);
            else upstream.pipe(res);
          },
          reset,
        );
        return;
      case 'internalError':
      case 'slowDown': {
        const { status, code, message } = ERRORS[fault];
        const requestId = crypto.randomBytes(8).toString('hex').toUpperCase();
        req.resume();
        req.on('end', () => {
          const body =
            req.method === 'HEAD'
              ? ''
              : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>${escapeXml(req.url ?? '/')}</Resource><RequestId>${requestId}</RequestId></Error>`;
          res.writeHead(status, {
            'Content-Type': 'application/xml',
            'Content-Length': Buffer.byteLength(body),
            'x-amz-request-id': requestId,
            ...(fault === 'slowDown' ? { 'Retry-After': '1' } : {}),
          });
          res.end(body);
        });
        return;
      }
      case 'resetRequest':
        // After the first bytes of the body, or at once when there is none.
        req.once('data', reset);
        req.once('end', reset);
        return;
      case 'resetResponse':
        forward(
          req,
          (upstream) => {
            const length = Number(upstream.headers['content-length'] ?? 0);
            if (!(length > 1) || req.method === 'HEAD') {
              // Cut inside the headers: the store did the work, the client never hears of it.
              upstream.resume();
              socket.write(`HTTP/1.1 ${upstream.statusCode} OK\r\nContent-Le`, reset);
              return;
            }
            res.writeHead(upstream.statusCode ?? 502, upstream.rawHeaders);
            let sent = 0;
            upstream.on('data', (chunk: Buffer) => {
              if (socket.destroyed) return;
              const room = Math.floor(length / 2) - sent;
              if (chunk.length < room) {
                sent += chunk.length;
                res.write(chunk);
                return;
              }
              res.write(chunk.subarray(0, room), reset);
              upstream.destroy();
            });
          },
          reset,
        );
        return;
      case 'stall': {
        req.resume();
        const timer = setTimeout(() => {
          timers.delete(timer);
          socket.destroy();
        }, options.stallMs);
        timers.add(timer);
        socket.once('close', () => {
          clearTimeout(timer);
          timers.delete(timer);
        });
        return;
      }
    }
  };
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seed: options.seed,
    stats: () => ({ requests, faults: { ...faults } }),
    pause: (p) => {
      paused = p;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * MinIO (AWS_ENDPOINT_URL_S3) behind a proxy with no faults that adds `latencyMs` to every
 * request (and with `bytesPerSecond`, sends no faster), so that a run lasts long enough for a
 * kill or a cancel to land while parts are still being made; closed when the test ends.
 */
export async function slowStoreFor(
  t: Pick<TestContext, 'after'>,
  latencyMs = 300,
  seed = faultSeed(),
  bytesPerSecond?: number,
): Promise<FaultProxy> {
  const proxy = await startFaultProxy({
    target: process.env.AWS_ENDPOINT_URL_S3!,
    seed,
    rate: 0,
    stallMs: 0,
    latencyMs,
    bytesPerSecond,
  });
  t.after(() => proxy.close());
  return proxy;
}
