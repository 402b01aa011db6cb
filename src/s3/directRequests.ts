import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { noteRetry } from './retryCounts';
import {
  isDeclined,
  SocketPool,
  type BodySink,
  type SocketAnswer,
  type SocketTimeouts,
} from './socketGet';

/**
 * GetObject, HeadObject and UploadPart, the requests an archive sends per object, range and
 * part, sent without the SDK's per-request middleware: signed by the SDK's own SigV4 signer
 * with the client's credentials, and sent by the client's own HTTP handler (its agent and
 * timeouts), except the read side's GetObjects, whose bodies are read off the socket into the
 * reader's memory (getDirect, socketGet.ts). In a worker streaming `mid` on loopback the
 * middleware (serde, endpoint rules, retry and checksum steps) cost more CPU than the archive's
 * CRC-32 (docs/benchmarks.md).
 *
 * Only the success path is direct. The endpoint is not worked out here: it is taken from a
 * request the SDK itself sent for the same bucket (the first of each bucket goes through the
 * SDK), and used only when that request's path is the bucket's path plus the key encoded as
 * the SDK encodes it. Any answer other than success, and any error but the caller's abort,
 * sends the request again through the SDK, whose retries and errors (PreconditionFailed,
 * NoSuchKey, BadDigest, …) then apply as they always do.
 */

/** Where a bucket's objects are, as the SDK addressed them; 'sdk': leave it to the SDK. */
interface BucketEndpoint {
  protocol: string;
  hostname: string;
  port?: number;
  /** The path of an object is this plus its encoded key. */
  prefix: string;
  signingRegion: string;
  signingService: string;
}

interface DirectState {
  endpoints: Map<string, BucketEndpoint | 'sdk'>;
  signer: SignatureV4;
  /** The connections GetObject bodies are read from. */
  sockets: SocketPool;
  /** Requests served directly, and sent again through the SDK (for tests and diagnostics). */
  counts: { direct: number; viaSdk: number };
}

/** The SDK's HTTP handler, as far as this module calls it. */
interface HttpHandler {
  handle(
    request: HttpRequestLike,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ response: HttpResponseLike }>;
}

interface HttpRequestLike {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body?: Buffer;
}

interface HttpResponseLike {
  statusCode: number;
  headers: Record<string, string>;
  body?: unknown;
}

/** The parts of the SDK's resolved configuration sending directly needs. */
interface ResolvedConfig {
  requestHandler: HttpHandler;
  credentials: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
  sha256: ConstructorParameters<typeof SignatureV4>[0]['sha256'];
  systemClockOffset?: number;
}

const states = new WeakMap<S3Client, DirectState>();

/** SHA-256 of an empty body: what the SDK signs a GET with. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Lets `client` send GetObject, HeadObject and UploadPart directly, learning each bucket's
 * endpoint from the requests it sends through the SDK. Called by the client factory, with the
 * timeouts its HTTP handler has.
 */
export function enableDirectRequests(client: S3Client, timeouts: SocketTimeouts): void {
  const config = client.config as unknown as ResolvedConfig;
  const state: DirectState = {
    endpoints: new Map(),
    signer: new SignatureV4({
      credentials: config.credentials,
      sha256: config.sha256,
      region: 'us-east-1', // replaced by the signing region of each bucket's endpoint
      service: 's3',
      uriEscapePath: false, // S3 signs the path as sent
    }),
    sockets: new SocketPool(timeouts, () => noteRetry(client)),
    counts: { direct: 0, viaSdk: 0 },
  };
  states.set(client, state);
  // The GET connections are the client's too: destroying it closes them, as it does its agent's.
  const destroy = client.destroy.bind(client);
  client.destroy = () => {
    state.sockets.close();
    destroy();
  };
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as { Bucket?: unknown; Key?: unknown };
      if (
        typeof input.Bucket === 'string' &&
        typeof input.Key === 'string' &&
        !state.endpoints.has(input.Bucket)
      ) {
        state.endpoints.set(
          input.Bucket,
          endpointOf(args.request as HttpRequestLike, input.Key) ?? 'sdk',
        );
      }
      return next(args);
    },
    // After signing: the request as it goes on the wire.
    { step: 'deserialize', name: 'zipflowLearnEndpoint', priority: 'low' },
  );
}

/** Requests `client` served directly and sent again through the SDK so far. */
export function directRequestCounts(client: S3Client): { direct: number; viaSdk: number } {
  return { ...(states.get(client)?.counts ?? { direct: 0, viaSdk: 0 }) };
}

/** Connections `client` opened to read GetObject bodies from, so far. */
export function getConnectionsOpened(client: S3Client): number {
  return states.get(client)?.sockets.opened ?? 0;
}

/** A key as the SDK puts it in a path: each segment URI-encoded, `!'()*` too. */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join('/');
}

/** The bucket's endpoint, from a signed SDK request for `key`; undefined if it cannot be reused. */
function endpointOf(request: HttpRequestLike, key: string): BucketEndpoint | undefined {
  const encoded = encodeKey(key);
  if (!request.path.endsWith(encoded)) return undefined;
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  // Plain SigV4 only (not S3 Express sessions or SigV4a): its scope is key/date/region/service.
  if (headers['x-amz-s3session-token'] !== undefined) return undefined;
  const scope = /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request,/.exec(
    headers.authorization ?? '',
  );
  if (!scope) return undefined;
  return {
    protocol: request.protocol,
    hostname: request.hostname,
    ...(request.port !== undefined ? { port: request.port } : {}),
    prefix: request.path.slice(0, request.path.length - encoded.length),
    signingRegion: scope[1],
    signingService: scope[2],
  };
}

/** A response served directly: status 2xx, headers and body. */
export interface DirectResponse {
  headers: Record<string, string>;
  body: unknown;
}

/**
 * Sends one request for an object of `bucket` directly, or returns undefined when the SDK is to
 * send it: the bucket's endpoint is not known yet, or the direct attempt did not succeed (its
 * body, if any, is dropped; a failure the SDK would retry counts as a retry of the client).
 */
export async function sendDirect(
  client: S3Client,
  request: DirectRequest & {
    method: 'GET' | 'HEAD' | 'PUT';
    body?: Buffer;
    /** 200 for most; 206 too for a ranged GET. */
    ok: (status: number) => boolean;
  },
  signal?: AbortSignal,
): Promise<DirectResponse | undefined> {
  const signing = await signed(client, request);
  if (!signing) return undefined;
  const { state, request: wire } = signing;
  const config = client.config as unknown as ResolvedConfig;
  let response: HttpResponseLike;
  try {
    ({ response } = await config.requestHandler.handle(wire, { abortSignal: signal }));
  } catch (err) {
    if (signal?.aborted) throw err;
    state.counts.viaSdk += 1;
    noteRetry(client); // a connection error: the SDK would have retried it
    return undefined;
  }
  if (request.ok(response.statusCode)) {
    state.counts.direct += 1;
    // A HEAD's or a PUT's answer is its headers: the body is read off to free the connection.
    if (request.method !== 'GET') dropBody(response.body);
    return { headers: response.headers, body: response.body };
  }
  dropBody(response.body);
  return declined(client, state, response.statusCode);
}

/**
 * GetObject with its body read into `sink` as it comes (socketGet.ts), or undefined when the SDK
 * is to send it, as for sendDirect: no bytes have then been given to the sink.
 */
export async function getDirect(
  client: S3Client,
  request: DirectRequest,
  sink: BodySink,
  signal?: AbortSignal,
): Promise<SocketAnswer | undefined> {
  const signing = await signed(client, { ...request, method: 'GET' });
  if (!signing) return undefined;
  const { state, request: wire } = signing;
  const query = Object.entries(wire.query)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&');
  const answer = await state.sockets.get(
    {
      protocol: wire.protocol,
      hostname: wire.hostname,
      ...(wire.port !== undefined ? { port: wire.port } : {}),
      target: query ? `${wire.path}?${query}` : wire.path,
      headers: wire.headers,
    },
    sink,
    signal,
  );
  if (!isDeclined(answer)) {
    state.counts.direct += 1;
    return answer;
  }
  if (signal?.aborted) throw signal.reason;
  return declined(client, state, answer.status);
}

/** What a request for one object says, besides its method. */
interface DirectRequest {
  bucket: string;
  key: string;
  /** With the SDK's own `x-id` (the operation's name), so logs and proxies see the same URL. */
  query?: Record<string, string>;
  headers: Record<string, string>;
}

/** The request signed for the bucket's endpoint; undefined while the endpoint is not known. */
async function signed(
  client: S3Client,
  request: DirectRequest & { method: 'GET' | 'HEAD' | 'PUT'; body?: Buffer },
): Promise<{ state: DirectState; request: HttpRequestLike } | undefined> {
  const state = states.get(client);
  const endpoint = state?.endpoints.get(request.bucket);
  if (!state || endpoint === undefined || endpoint === 'sdk') return undefined;
  const config = client.config as unknown as ResolvedConfig;
  const host =
    endpoint.port === undefined ? endpoint.hostname : `${endpoint.hostname}:${endpoint.port}`;
  const unsigned: HttpRequestLike = {
    method: request.method,
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    ...(endpoint.port !== undefined ? { port: endpoint.port } : {}),
    path: endpoint.prefix + encodeKey(request.key),
    query: request.query ?? {},
    headers: {
      host,
      'x-amz-content-sha256': request.body ? 'UNSIGNED-PAYLOAD' : EMPTY_SHA256,
      ...request.headers,
    },
    ...(request.body ? { body: request.body } : {}),
  };
  try {
    const wire = (await state.signer.sign(unsigned, {
      signingDate: new Date(Date.now() + (config.systemClockOffset ?? 0)),
      signingRegion: endpoint.signingRegion,
      signingService: endpoint.signingService,
    })) as HttpRequestLike;
    return { state, request: wire };
  } catch {
    state.counts.viaSdk += 1; // no credentials to sign with: the SDK sends it, and says why
    return undefined;
  }
}

/**
 * A direct request that did not succeed, left to the SDK. A throttle, a server error or a
 * connection error (no status) is retried by the SDK: it counts as a retry of the client too.
 */
function declined(client: S3Client, state: DirectState, status: number | undefined): undefined {
  state.counts.viaSdk += 1;
  if (status === undefined || status === 429 || status >= 500) noteRetry(client);
  return undefined;
}

function dropBody(body: unknown): void {
  const stream = body as { resume?: () => void; on?: (e: string, f: () => void) => void };
  stream.on?.('error', () => {});
  stream.resume?.();
}
