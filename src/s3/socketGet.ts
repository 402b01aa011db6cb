import net from 'node:net';
import tls from 'node:tls';

/**
 * GetObject's body read off the socket straight into the reader's memory. Node's HTTP client
 * gives every socket read an ArrayBuffer of its own and copies each piece of a body out of it
 * again; here the socket reads into the memory the caller hands out (`BodySink`), through the
 * `onread` option of `net`/`tls` sockets, so a body costs no allocation and no copy per read.
 * In a worker streaming `mid` on loopback this took 0.6 s of CPU per GB off the worker
 * (docs/benchmarks.md, "GetObject read off the socket").
 *
 * It reads only the plainest answer: HTTP/1.1, 200 or 206, with a Content-Length. Anything
 * else (an error status, a chunked or unsized body, a connection that fails before answering)
 * is declined, and the caller sends the request again through the SDK, whose retries and errors
 * apply as they always do. A connection is kept for the next GET once a body is read whole.
 */

/** Where a body's bytes go: memory handed out by the reader, told how much of it was filled. */
export interface BodySink {
  /** Free memory for the next bytes, never empty; only its start may be filled. */
  space(): Buffer;
  /** The first `n` bytes of the last space() were filled. */
  filled(n: number): void;
}

/** Bytes already read elsewhere (the SDK's chunks, a body's start), copied into the sink. */
export function copyIntoSink(sink: BodySink, bytes: Buffer): void {
  for (let at = 0; at < bytes.length;) {
    const n = bytes.copy(sink.space(), 0, at);
    sink.filled(n);
    at += n;
  }
}

/** A request as signed for the wire. */
export interface SignedGet {
  protocol: string;
  hostname: string;
  port?: number;
  /** Path and query string, encoded. */
  target: string;
  headers: Record<string, string>;
}

/** A GET the store answered: its headers, and the body being read into the sink. */
export interface SocketAnswer {
  headers: Record<string, string>;
  /** Settles once the body is read whole; rejects when the connection breaks first. */
  body: Promise<void>;
}

export interface SocketTimeouts {
  connectionTimeoutMs: number;
  socketTimeoutMs: number;
}

/** A response head larger than this is not one a GetObject sends: declined. */
const MAX_HEAD = 16 * 1024;

/** A GET the caller is to send through the SDK: the store's status, or the connection's error. */
export interface Declined {
  declined: true;
  status?: number;
  error?: Error;
  /** The connection had answered a GET before this one. */
  reused?: boolean;
}

/** One kept-alive connection, reading into its own head buffer or the current request's sink. */
class Connection {
  readonly socket: net.Socket;
  private readonly head = Buffer.allocUnsafeSlow(MAX_HEAD);
  private exchange: Exchange | undefined;
  /** Answered a GET before: a failure before the next answer may be the store closing it. */
  served = false;

  constructor(
    readonly key: string,
    protocol: string,
    hostname: string,
    port: number,
    timeouts: SocketTimeouts,
  ) {
    const onread = {
      // Called before each read: where the next bytes may land, at most the body's rest.
      buffer: (): Buffer => this.exchange?.space() ?? this.head,
      callback: (n: number, buffer: Buffer): boolean => {
        if (this.exchange) this.exchange.read(buffer, n);
        else this.socket.destroy(); // bytes no request asked for: the connection is not reused
        return true;
      },
    };
    const options = { host: hostname, port, onread };
    this.socket =
      protocol === 'https:'
        ? tls.connect({ ...options, ...(net.isIP(hostname) ? {} : { servername: hostname }) })
        : net.connect(options);
    this.socket.setNoDelay(true);
    const connectTimer = setTimeout(
      () => this.socket.destroy(timeoutError('connection')),
      timeouts.connectionTimeoutMs,
    );
    this.socket.once(protocol === 'https:' ? 'secureConnect' : 'connect', () =>
      clearTimeout(connectTimer),
    );
    this.socket.setTimeout(timeouts.socketTimeoutMs, () => {
      if (this.exchange) this.socket.destroy(timeoutError('socket'));
    });
    let error: Error | undefined;
    this.socket.on('error', (err) => (error = err)); // reported through 'close'
    this.socket.on('close', () => {
      clearTimeout(connectTimer);
      this.exchange?.fail(error ?? new Error(`connection to ${key} closed`), this.served);
      this.exchange = undefined;
    });
  }

  /** The head buffer, for the exchange reading a response's head. */
  headBuffer(): Buffer {
    return this.head;
  }

  begin(exchange: Exchange, request: string): void {
    this.exchange = exchange;
    this.socket.ref();
    this.socket.write(request);
  }

  /** The exchange is over: reads land in the head buffer again until the next one. */
  end(): void {
    this.exchange = undefined;
    this.socket.unref();
  }
}

/** One GET on a connection: its response head, then its body into the sink. */
class Exchange {
  private headBytes: Buffer[] = [];
  private headLength = 0;
  /** Body bytes still to come; -1 while reading the head. */
  private left = -1;
  private answered = false;
  private keepAlive = true;
  private readonly bodyDone: Promise<void>;
  private endBody!: () => void;
  private failBody!: (err: unknown) => void;

  constructor(
    private readonly conn: Connection,
    private readonly sink: BodySink,
    private readonly onAnswer: (answer: SocketAnswer | Declined) => void,
    private readonly onIdle: (conn: Connection) => void,
  ) {
    this.bodyDone = new Promise<void>((resolve, reject) => {
      this.endBody = resolve;
      this.failBody = reject;
    });
    this.bodyDone.catch(() => {}); // the caller may never get to it (declined)
  }

  space(): Buffer {
    if (this.left < 0) return this.conn.headBuffer();
    const space = this.sink.space();
    return space.length > this.left ? space.subarray(0, this.left) : space;
  }

  read(buffer: Buffer, n: number): void {
    if (this.left >= 0) return this.body(n);
    const bytes = Buffer.from(buffer.subarray(0, n)); // the head buffer is read into again
    this.headBytes.push(bytes);
    this.headLength += n;
    const all = this.headBytes.length === 1 ? bytes : Buffer.concat(this.headBytes);
    const end = all.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.headLength >= MAX_HEAD) this.decline(undefined);
      return;
    }
    const { status, headers } = parseHead(all.toString('latin1', 0, end));
    const length = Number(headers['content-length']);
    if (
      (status !== 200 && status !== 206) ||
      headers['transfer-encoding'] !== undefined ||
      !Number.isSafeInteger(length) ||
      all.length - end - 4 > length
    ) {
      return this.decline(status);
    }
    this.left = length;
    this.answered = true;
    this.keepAlive = !/\bclose\b/i.test(headers.connection ?? '');
    this.onAnswer({ headers, body: this.bodyDone });
    this.copyToSink(all.subarray(end + 4));
  }

  /** Body bytes that came in the head's read: copied into the sink. */
  private copyToSink(bytes: Buffer): void {
    copyIntoSink(this.sink, bytes);
    this.left -= bytes.length;
    this.finishIfRead();
  }

  private body(n: number): void {
    this.left -= n;
    this.sink.filled(n);
    this.finishIfRead();
  }

  private finishIfRead(): void {
    if (this.left !== 0) return;
    this.conn.end();
    this.conn.served = true;
    if (this.keepAlive) this.onIdle(this.conn);
    else this.conn.socket.destroy();
    this.endBody();
  }

  private decline(status: number | undefined): void {
    this.conn.end();
    this.conn.socket.destroy();
    this.onAnswer({ declined: true, ...(status !== undefined ? { status } : {}) });
  }

  fail(err: Error, reused: boolean): void {
    if (this.answered) this.failBody(err);
    else this.onAnswer({ declined: true, error: err, reused });
  }
}

/** The connections of one S3 client, kept alive between GETs; closed with the client. */
export class SocketPool {
  private readonly idle = new Map<string, Connection[]>();
  private readonly open = new Set<Connection>();
  /** Connections made so far (for tests and diagnostics). */
  opened = 0;

  /** `onResend` is told when a GET is sent again on a new connection (a retry of the client). */
  constructor(
    private readonly timeouts: SocketTimeouts,
    private readonly onResend: () => void = () => {},
  ) {}

  /**
   * Sends `request` and reads its body into `sink`, or declines it (the store's status, or the
   * connection's error) for the caller to send through the SDK. A kept-alive connection that
   * breaks before answering is replaced by a new one, once. That counts as a retry, as it does
   * when the SDK's agent meets a reset socket: a store closing an idle connection and a reset
   * of the request look the same from here.
   */
  async get(
    request: SignedGet,
    sink: BodySink,
    signal?: AbortSignal,
  ): Promise<SocketAnswer | Declined> {
    const first = await this.attempt(request, sink, signal, 'kept');
    if (!isDeclined(first) || !first.reused) return first;
    this.onResend();
    return this.attempt(request, sink, signal, 'new');
  }

  private attempt(
    request: SignedGet,
    sink: BodySink,
    signal: AbortSignal | undefined,
    connection: 'kept' | 'new',
  ): Promise<SocketAnswer | Declined> {
    signal?.throwIfAborted();
    const port = request.port ?? (request.protocol === 'https:' ? 443 : 80);
    const key = `${request.protocol}//${request.hostname}:${port}`;
    const kept = connection === 'kept' ? this.idle.get(key)?.pop() : undefined;
    const conn = kept ?? this.connect(key, request, port);
    let text = `GET ${request.target} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(request.headers)) text += `${name}: ${value}\r\n`;
    text += '\r\n';
    return new Promise((resolve, reject) => {
      const abort = (): void => {
        conn.socket.destroy(abortError());
        reject(signal?.reason ?? abortError());
      };
      signal?.addEventListener('abort', abort, { once: true });
      const unlink = (): void => signal?.removeEventListener('abort', abort);
      const exchange = new Exchange(
        conn,
        sink,
        (answer) => {
          if (isDeclined(answer)) unlink();
          else void answer.body.then(unlink, unlink);
          resolve(answer);
        },
        (idle) => this.keep(idle),
      );
      conn.begin(exchange, text);
    });
  }

  private connect(key: string, request: SignedGet, port: number): Connection {
    const conn = new Connection(key, request.protocol, request.hostname, port, this.timeouts);
    this.opened += 1;
    this.open.add(conn);
    conn.socket.on('close', () => {
      this.open.delete(conn);
      const list = this.idle.get(key);
      const at = list?.indexOf(conn) ?? -1;
      if (list && at >= 0) list.splice(at, 1);
    });
    return conn;
  }

  private keep(conn: Connection): void {
    let list = this.idle.get(conn.key);
    if (!list) this.idle.set(conn.key, (list = []));
    list.push(conn);
  }

  /** Ends every connection, idle or not. */
  close(): void {
    for (const conn of this.open) conn.socket.destroy();
    this.idle.clear();
  }
}

/** A declined GET, or one that was answered. */
export function isDeclined(answer: SocketAnswer | Declined): answer is Declined {
  return 'declined' in answer;
}

function parseHead(text: string): { status: number; headers: Record<string, string> } {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1];
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: status === undefined ? 0 : Number(status), headers };
}

function timeoutError(what: 'connection' | 'socket'): Error {
  return Object.assign(new Error(`${what} timed out`), { name: 'TimeoutError' });
}

function abortError(): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
}
