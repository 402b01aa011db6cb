import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { ENV } from '../runtime/config';

/** A payload as the Temporal Web UI and CLI send it to a codec endpoint (proto JSON: base64). */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Origins allowed to call from a browser (the Web UI's origin); `*` allows any. */
  corsOrigins: readonly string[];
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  authToken?: string;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
}

export interface RunningCodecServer {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

/** The default Web UI origins of `temporal server start-dev`. */
export const DEFAULT_CORS_ORIGINS = ['http://localhost:8233', 'http://127.0.0.1:8233'];

/** ZIPFLOW_CODEC_CORS_ORIGINS ("origin1,origin2"), else the dev server's Web UI. */
export function corsOriginsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const listed = (env[ENV.codecCorsOrigins] ?? '')
    .split(',')
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  return listed.length > 0 ? listed : DEFAULT_CORS_ORIGINS;
}

function fromJson(p: JsonPayload): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) {
    if (typeof v !== 'string') throw new BadRequest(`metadata.${k} must be a base64 string`);
    metadata[k] = new Uint8Array(Buffer.from(v, 'base64'));
  }
  if (p.data !== undefined && typeof p.data !== 'string') {
    throw new BadRequest('data must be a base64 string');
  }
  return { metadata, data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')) };
}

function toJson(p: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) {
    if (v) metadata[k] = Buffer.from(v).toString('base64');
  }
  return { metadata, data: Buffer.from(p.data ?? new Uint8Array()).toString('base64') };
}

class BadRequest extends Error {}

function sameSecret(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BadRequest(`request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The request handler of a Temporal codec endpoint: POST /encode and POST /decode with
 * `{"payloads": [...]}` (what the Web UI's "Codec Server" setting and `temporal` CLI send),
 * CORS for the listed UI origins, and an optional bearer token.
 */
export function codecRequestHandler(options: CodecServerOptions): http.RequestListener {
  const origins = new Set(options.corsOrigins.map((o) => o.replace(/\/+$/, '')));
  const limit = options.maxBodyBytes ?? 8 * 1024 * 1024;
  return (req, res) => {
    const origin = req.headers.origin;
    if (origin && (origins.has('*') || origins.has(origin))) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
      res.setHeader('Access-Control-Max-Age', '600');
    }
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return;
    }
    const path = (req.url ?? '').split('?')[0].replace(/\/+$/, '');
    const op = path === '/encode' ? 'encode' : path === '/decode' ? 'decode' : undefined;
    if (!op) return send(404, { error: 'use POST /encode or POST /decode' });
    if (req.method !== 'POST') return send(405, { error: `${path} takes POST` });
    if (options.authToken !== undefined) {
      const header = req.headers.authorization ?? '';
      const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
      if (!token || !sameSecret(token, options.authToken)) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        return send(401, { error: 'a valid bearer token is required' });
      }
    }
    void (async () => {
      try {
        const parsed: unknown = JSON.parse(await readBody(req, limit));
        const payloads = (parsed as { payloads?: unknown })?.payloads;
        if (!Array.isArray(payloads)) throw new BadRequest('body must be {"payloads": [...]}');
        const input = payloads.map((p: unknown) => fromJson((p ?? {}) as JsonPayload));
        const output = await options.codec[op](input);
        send(200, { payloads: output.map(toJson) });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        send(err instanceof BadRequest || err instanceof SyntaxError ? 400 : 422, {
          error: message,
        });
      }
    })();
  };
}

/** Starts a codec endpoint on `host:port` (port 0: any free port). */
export async function startCodecServer(
  options: CodecServerOptions & { host: string; port: number },
): Promise<RunningCodecServer> {
  const server = http.createServer(codecRequestHandler(options));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
