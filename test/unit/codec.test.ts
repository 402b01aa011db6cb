import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { DefaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  CodecConfigError,
  CodecDecodeError,
  codecKeysFromEnv,
  EncryptionCodec,
  payloadCodecsFromEnv,
} from '../../src/runtime/codec';
import { startCodecServer, type JsonPayload } from '../../src/client/codecServer';

const converter = new DefaultPayloadConverter();
const key = (): string => crypto.randomBytes(32).toString('base64');
const request = { source: { bucket: 'secret-source-bucket' }, destination: { key: 'a.zip' } };

function codec(env: Record<string, string>): EncryptionCodec {
  return new EncryptionCodec(codecKeysFromEnv(env)!);
}

test('an encrypted payload decodes to the original, and its bytes do not show the data', async () => {
  const c = codec({ ZIPFLOW_CODEC_KEYS: `k1:${key()}` });
  const original = converter.toPayload(request);
  const [sealed] = await c.encode([original]);
  assert.equal(Buffer.from(sealed.metadata!.encoding!).toString(), 'binary/encrypted');
  assert.equal(Buffer.from(sealed.metadata!['encryption-key-id']!).toString(), 'k1');
  assert.ok(!Buffer.from(sealed.data!).toString('latin1').includes('secret-source-bucket'));
  assert.ok(!Buffer.from(sealed.data!).toString('latin1').includes('json/plain'));
  const [opened] = await c.decode([sealed]);
  assert.deepEqual(converter.fromPayload(opened), request);
  // Fresh IV each time: the same payload never encrypts to the same bytes.
  const [again] = await c.encode([original]);
  assert.notDeepEqual(Buffer.from(again.data!), Buffer.from(sealed.data!));
});

test('a flipped ciphertext bit, or a payload relabelled with another key id, fails authentication', async () => {
  const a = key();
  const c = codec({ ZIPFLOW_CODEC_KEYS: `k1:${a},k2:${a}`, ZIPFLOW_CODEC_KEY_ID: 'k1' });
  const [sealed] = await c.encode([converter.toPayload(request)]);
  const flipped = Buffer.from(sealed.data!);
  flipped[20] ^= 1;
  await assert.rejects(
    c.decode([{ ...sealed, data: new Uint8Array(flipped) }]),
    (err: unknown) => err instanceof CodecDecodeError && /failed authentication/.test(err.message),
  );
  // Same key bytes under k2: only the authenticated key id tells them apart.
  const relabelled: Payload = {
    ...sealed,
    metadata: { ...sealed.metadata, 'encryption-key-id': new TextEncoder().encode('k2') },
  };
  await assert.rejects(c.decode([relabelled]), CodecDecodeError);
});

test('rotation: after the encrypting key changes, payloads under the old key id still decrypt', async () => {
  const old = key();
  const before = codec({ ZIPFLOW_CODEC_KEYS: `2025:${old}` });
  const [oldSealed] = await before.encode([converter.toPayload(request)]);
  const after = codec({
    ZIPFLOW_CODEC_KEYS: `2025:${old},2026:${key()}`,
    ZIPFLOW_CODEC_KEY_ID: '2026',
  });
  const [newSealed] = await after.encode([converter.toPayload('new')]);
  assert.equal(Buffer.from(newSealed.metadata!['encryption-key-id']!).toString(), '2026');
  assert.deepEqual(converter.fromPayload((await after.decode([oldSealed]))[0]), request);
  assert.equal(converter.fromPayload((await after.decode([newSealed]))[0]), 'new');
});

test('decoding with an unknown key id names the id and the variable to set', async () => {
  const [sealed] = await codec({ ZIPFLOW_CODEC_KEYS: `gone:${key()}` }).encode([
    converter.toPayload(1),
  ]);
  await assert.rejects(
    codec({ ZIPFLOW_CODEC_KEYS: `current:${key()}` }).decode([sealed]),
    (err: unknown) => {
      assert.ok(err instanceof CodecDecodeError);
      assert.match(err.message, /"gone"/);
      assert.match(err.message, /ZIPFLOW_CODEC_KEYS/);
      return true;
    },
  );
});

test('payloads that were never encrypted pass through decode unchanged', async () => {
  const plain = converter.toPayload({ before: 'codec' });
  assert.deepEqual(await codec({ ZIPFLOW_CODEC_KEYS: `k:${key()}` }).decode([plain]), [plain]);
});

test('key settings: off without keys; malformed keys and ids name the variable', () => {
  assert.equal(codecKeysFromEnv({}), undefined);
  assert.deepEqual(payloadCodecsFromEnv({}), []);
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ ZIPFLOW_CODEC_KEYS: 'k1:c2hvcnQ=' }, /ZIPFLOW_CODEC_KEYS: key "k1" must be 32 bytes/],
    [{ ZIPFLOW_CODEC_KEYS: 'k1:not base64!' }, /ZIPFLOW_CODEC_KEYS: key "k1"/],
    [{ ZIPFLOW_CODEC_KEYS: key() }, /ZIPFLOW_CODEC_KEYS: each entry is "id:base64key"/],
    [{ ZIPFLOW_CODEC_KEYS: `a:${key()},b:${key()}` }, /set ZIPFLOW_CODEC_KEY_ID/],
    [{ ZIPFLOW_CODEC_KEYS: `a:${key()}`, ZIPFLOW_CODEC_KEY_ID: 'b' }, /ZIPFLOW_CODEC_KEY_ID=b/],
    [{ ZIPFLOW_CODEC_KEY_ID: 'a' }, /ZIPFLOW_CODEC_KEYS is not/],
    [{ ZIPFLOW_CODEC_KEYS: `a:${key()},a:${key()}`, ZIPFLOW_CODEC_KEY_ID: 'a' }, /twice/],
  ];
  for (const [env, message] of bad) {
    assert.throws(
      () => codecKeysFromEnv(env),
      (err: unknown) => err instanceof CodecConfigError && message.test(err.message),
      JSON.stringify(env),
    );
  }
  const url = crypto.randomBytes(32).toString('base64url');
  assert.equal(codecKeysFromEnv({ ZIPFLOW_CODEC_KEYS: `u:${url}` })!.keys.get('u')!.length, 32);
});

test('codec endpoint: CORS preflight for the UI origin, bearer token, and /encode → /decode round trip', async () => {
  const c = codec({ ZIPFLOW_CODEC_KEYS: `k:${key()}` });
  const server = await startCodecServer({
    codec: c,
    corsOrigins: ['http://ui.example:8233'],
    authToken: 'let-me-in',
    host: '127.0.0.1',
    port: 0,
  });
  try {
    const preflight = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://ui.example:8233',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type,authorization,x-namespace',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://ui.example:8233');
    assert.match(preflight.headers.get('access-control-allow-headers')!, /Authorization/);
    const other = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://elsewhere.example' },
    });
    assert.equal(other.headers.get('access-control-allow-origin'), null);

    const plain = converter.toPayload(request);
    const body = JSON.stringify({
      payloads: [
        {
          metadata: { encoding: Buffer.from(plain.metadata!.encoding!).toString('base64') },
          data: Buffer.from(plain.data!).toString('base64'),
        },
      ],
    });
    const post = (path: string, text: string, token?: string): Promise<Response> =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: text,
      });
    assert.equal((await post('/encode', body)).status, 401);
    assert.equal((await post('/encode', body, 'wrong')).status, 401);
    const encoded = await post('/encode', body, 'let-me-in');
    assert.equal(encoded.status, 200);
    const sealed = (await encoded.json()) as { payloads: JsonPayload[] };
    assert.equal(
      Buffer.from(sealed.payloads[0].metadata!.encoding, 'base64').toString(),
      'binary/encrypted',
    );
    const decoded = await post('/decode', JSON.stringify(sealed), 'let-me-in');
    assert.equal(decoded.status, 200);
    const opened = (await decoded.json()) as { payloads: JsonPayload[] };
    assert.deepEqual(
      JSON.parse(Buffer.from(opened.payloads[0].data!, 'base64').toString()),
      request,
    );
    assert.equal((await post('/decode', '{"nope":1}', 'let-me-in')).status, 400);
  } finally {
    await server.close();
  }
});
