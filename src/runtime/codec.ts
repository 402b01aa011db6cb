import crypto from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { ENV } from './config';

// Not for the workflow bundle: node:crypto. The client and the worker load it; workflows never do.

/** Metadata `encoding` of a payload this codec encrypted. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata entry naming the key that encrypted the payload. */
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** A codec setting that cannot work as given; the message names the variable to fix. */
export class CodecConfigError extends Error {}

/** A payload this process cannot decrypt: unknown key id, or bytes that fail authentication. */
export class CodecDecodeError extends Error {}

export interface CodecKeys {
  /** Key id → 32-byte AES-256 key. Every id can decrypt. */
  keys: ReadonlyMap<string, Buffer>;
  /** The id whose key encrypts new payloads. */
  encryptWith: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * AES-256-GCM over the whole serialized payload (metadata and data), so history shows
 * neither the data nor its original encoding. Each payload gets a fresh random 96-bit IV;
 * the key id is authenticated as associated data, so relabelling a payload with another
 * key id fails like any other tampering. Payloads without `binary/encrypted` pass through
 * decode unchanged, so histories written before the codec was turned on stay readable.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly encryptWith: string;

  constructor(config: CodecKeys) {
    if (!config.keys.has(config.encryptWith)) {
      throw new CodecConfigError(
        `${ENV.codecKeyId}=${config.encryptWith} names no key in ${ENV.codecKeys}`,
      );
    }
    for (const [id, key] of config.keys) {
      if (key.length !== KEY_BYTES) {
        throw new CodecConfigError(`${ENV.codecKeys}: key "${id}" must be ${KEY_BYTES} bytes`);
      }
    }
    this.keys = config.keys;
    this.encryptWith = config.encryptWith;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  private encrypt(payload: Payload): Payload {
    const keyId = this.encryptWith;
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.keys.get(keyId)!, iv);
    cipher.setAAD(Buffer.from(keyId, 'utf8'));
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        encoding: encoder.encode(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: encoder.encode(keyId),
      },
      data: new Uint8Array(sealed),
    };
  }

  private decrypt(payload: Payload): Payload {
    const encoding = payload.metadata?.encoding;
    if (!encoding || decoder.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
    const rawId = payload.metadata?.[KEY_ID_METADATA];
    if (!rawId) throw new CodecDecodeError(`encrypted payload has no ${KEY_ID_METADATA} metadata`);
    const keyId = decoder.decode(rawId);
    const key = this.keys.get(keyId);
    if (!key) {
      throw new CodecDecodeError(
        `payload was encrypted with key id "${keyId}", which this process does not know: ` +
          `add "${keyId}:<base64 key>" to ${ENV.codecKeys}`,
      );
    }
    const sealed = Buffer.from(payload.data ?? new Uint8Array());
    if (sealed.length < IV_BYTES + TAG_BYTES) {
      throw new CodecDecodeError(`encrypted payload (key id "${keyId}") is truncated`);
    }
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(keyId, 'utf8'));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([
        decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new CodecDecodeError(
        `encrypted payload (key id "${keyId}") failed authentication: it was altered, or ` +
          `${ENV.codecKeys} holds a different key under that id`,
      );
    }
    return temporal.api.common.v1.Payload.decode(plain) as Payload;
  }
}

/**
 * Parses `ZIPFLOW_CODEC_KEYS` ("id1:base64key,id2:base64key") and `ZIPFLOW_CODEC_KEY_ID`
 * (the id that encrypts; the only id when just one key is listed). Returns undefined when
 * no keys are configured: payload encryption is off.
 */
export function codecKeysFromEnv(env: NodeJS.ProcessEnv = process.env): CodecKeys | undefined {
  const spec = env[ENV.codecKeys]?.trim();
  const chosen = env[ENV.codecKeyId]?.trim();
  if (!spec) {
    if (chosen) {
      throw new CodecConfigError(`${ENV.codecKeyId} is set but ${ENV.codecKeys} is not`);
    }
    return undefined;
  }
  const keys = new Map<string, Buffer>();
  for (const entry of spec.split(',').map((s) => s.trim())) {
    if (!entry) continue;
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon).trim();
    const material = colon < 0 ? '' : entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) {
      throw new CodecConfigError(
        `${ENV.codecKeys}: each entry is "id:base64key" with an id of letters, digits, ".", "_" or "-"; got an entry ${colon < 0 ? 'without ":"' : `with id "${id}"`}`,
      );
    }
    if (keys.has(id)) throw new CodecConfigError(`${ENV.codecKeys}: key id "${id}" appears twice`);
    const key = Buffer.from(material, 'base64');
    if (key.length !== KEY_BYTES || key.toString('base64') !== normalBase64(material)) {
      throw new CodecConfigError(
        `${ENV.codecKeys}: key "${id}" must be ${KEY_BYTES} bytes in base64 (make one with: openssl rand -base64 32)`,
      );
    }
    keys.set(id, key);
  }
  if (keys.size === 0) throw new CodecConfigError(`${ENV.codecKeys} lists no keys`);
  let encryptWith = chosen;
  if (!encryptWith) {
    if (keys.size > 1) {
      throw new CodecConfigError(
        `${ENV.codecKeys} lists ${keys.size} keys: set ${ENV.codecKeyId} to the one that encrypts`,
      );
    }
    encryptWith = [...keys.keys()][0];
  }
  if (!keys.has(encryptWith)) {
    throw new CodecConfigError(
      `${ENV.codecKeyId}=${encryptWith} names no key in ${ENV.codecKeys} (ids: ${[...keys.keys()].join(', ')})`,
    );
  }
  return { keys, encryptWith };
}

function normalBase64(text: string): string {
  const std = text.replace(/-/g, '+').replace(/_/g, '/');
  return std + '='.repeat((4 - (std.length % 4)) % 4);
}

/** The payload codecs for the configured keys: none when payload encryption is off. */
export function payloadCodecsFromEnv(env: NodeJS.ProcessEnv = process.env): PayloadCodec[] {
  const keys = codecKeysFromEnv(env);
  return keys ? [new EncryptionCodec(keys)] : [];
}

/** `{ dataConverter }` for a Client or a Worker: the codec when configured, else nothing. */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): {
  dataConverter?: { payloadCodecs: PayloadCodec[] };
} {
  const payloadCodecs = payloadCodecsFromEnv(env);
  return payloadCodecs.length > 0 ? { dataConverter: { payloadCodecs } } : {};
}
