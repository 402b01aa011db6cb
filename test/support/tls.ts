import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A throwaway PKI made with openssl: a CA, a server certificate for localhost, a client certificate. */
export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Signed by a different CA: a client certificate the server must refuse. */
  strangerCert: string;
  strangerKey: string;
  remove(): void;
}

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `openssl req` arguments for a new P-256 key and a subject named `name`. */
function newKey(name: string, out: string): string[] {
  const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  return ['req', ...curve, '-keyout', `${name}.key`, '-out', out, '-subj', `/CN=${name}`];
}

function makeCa(dir: string, name: string): void {
  const ext = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
  openssl(dir, [
    ...newKey(name, `${name}.crt`),
    '-x509',
    '-days',
    '2',
    ...ext.flatMap((e) => ['-addext', e]),
  ]);
}

function makeLeaf(dir: string, name: string, ca: string, ext: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, newKey(name, `${name}.csr`));
  const signer = ['-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial'];
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    ...signer,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  ]);
}

export function makeTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'stranger-ca');
  const leaf = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
  makeLeaf(
    dir,
    'server',
    'ca',
    `${leaf}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n`,
  );
  makeLeaf(dir, 'client', 'ca', `${leaf}extendedKeyUsage=clientAuth\n`);
  makeLeaf(dir, 'stranger', 'stranger-ca', `${leaf}extendedKeyUsage=clientAuth\n`);
  const f = (name: string): string => path.join(dir, name);
  return {
    dir,
    caCert: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    strangerCert: f('stranger.crt'),
    strangerKey: f('stranger.key'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsFront {
  /** host:port of the TLS endpoint. */
  address: string;
  /** Request headers of every gRPC call that came through (after the TLS handshake). */
  calls: http2.IncomingHttpHeaders[];
  /** TLS handshakes refused (no client certificate, or one not signed by the CA). */
  refusedHandshakes: number;
  close(): Promise<void>;
}

/**
 * The Temporal CLI dev server speaks plaintext gRPC only (`temporal server start-dev` has no
 * TLS flags), so tests put this in front of it: an HTTP/2 TLS server (mTLS when `clientCa` is
 * given) that forwards every gRPC call to the dev server over cleartext HTTP/2, trailers
 * included, and records each call's request headers.
 */
export async function startTlsFront(options: {
  upstream: string;
  cert: string;
  key: string;
  clientCa?: string;
}): Promise<TlsFront> {
  const upstream = http2.connect(`http://${options.upstream}`);
  upstream.on('error', () => {});
  const calls: http2.IncomingHttpHeaders[] = [];
  let refusedHandshakes = 0;
  const server = http2.createSecureServer({
    cert: fs.readFileSync(options.cert),
    key: fs.readFileSync(options.key),
    ...(options.clientCa
      ? { ca: fs.readFileSync(options.clientCa), requestCert: true, rejectUnauthorized: true }
      : {}),
  });
  server.on('tlsClientError', () => {
    refusedHandshakes += 1;
  });
  server.on('sessionError', () => {});
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    calls.push(headers);
    const forwarded: http2.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name === ':scheme' || name === ':authority') continue;
      forwarded[name] = value;
    }
    const call = upstream.request(forwarded);
    let trailers: http2.IncomingHttpHeaders | undefined;
    call.on('response', (responseHeaders, flags) => {
      const out: http2.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(responseHeaders)) {
        if (!name.startsWith(':') || name === ':status') out[name] = value;
      }
      // A trailers-only response (an immediate gRPC error) ends with its headers.
      if (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) {
        stream.respond(out, { endStream: true });
        return;
      }
      stream.respond(out, { waitForTrailers: true });
      call.pipe(stream);
    });
    call.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('wantTrailers', () => {
      const out: http2.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(trailers ?? {})) {
        if (!name.startsWith(':')) out[name] = value;
      }
      stream.sendTrailers(out);
    });
    stream.pipe(call);
    stream.on('close', () => {
      if (!call.closed) call.close(http2.constants.NGHTTP2_CANCEL);
    });
    call.on('close', () => {
      // A normal end leaves the trailers to 'wantTrailers'; a reset upstream resets the caller.
      if (call.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !stream.closed) {
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    stream.on('error', () => {});
    call.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    calls,
    get refusedHandshakes() {
      return refusedHandshakes;
    },
    close: () =>
      new Promise<void>((resolve) => {
        upstream.close();
        server.close(() => resolve());
        // Open client sessions would hold close() back.
        for (const session of sessions) session.destroy();
      }),
  };
}
