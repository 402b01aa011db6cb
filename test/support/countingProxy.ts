import net from 'node:net';

/** Bytes one measured process exchanged with S3, counted on the wire (headers included). */
export interface WireBytes {
  /** MinIO → process: response headers and bodies (GET data, listings). */
  read: number;
  /** Process → MinIO: request headers and bodies (UploadPart data). */
  sent: number;
}

/**
 * A loopback TCP relay in front of MinIO that counts the bytes in each direction. A worker
 * under test is given `endpoint` as its S3 endpoint, so every S3 request it makes passes through
 * here and nothing else does (Temporal traffic goes straight to the server). Signatures stay
 * valid: MinIO checks them against the Host header the client sent, which names this relay.
 * (The benchmark counts with /proc instead: relaying every byte costs CPU the measured runs
 * need.)
 */
export class CountingProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  readonly bytes: WireBytes = { read: 0, sent: 0 };
  endpoint = '';

  private constructor(target: URL) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk: Buffer) => {
        this.bytes.sent += chunk.length;
      });
      upstream.on('data', (chunk: Buffer) => {
        this.bytes.read += chunk.length;
      });
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  static async start(targetEndpoint: string): Promise<CountingProxy> {
    const proxy = new CountingProxy(new URL(targetEndpoint));
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = proxy.server.address() as net.AddressInfo;
    proxy.endpoint = process.env.NOPROXY ? targetEndpoint : `http://127.0.0.1:${port}`;
    return proxy;
  }

  /** Closes every connection now open (the store's end of kept-alive ones too); keeps listening. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
