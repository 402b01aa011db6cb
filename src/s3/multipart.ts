import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type ChecksumType,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import crypto from 'node:crypto';
import { sendDirect } from './directRequests';
import { crc32Of } from '../zip/crc32';

export interface MultipartTarget {
  bucket: string;
  key: string;
  contentType?: string;
  storageClass?: string;
  serverSideEncryption?: { type: 'AES256' } | { type: 'aws:kms'; kmsKeyId?: string };
  /** User metadata (x-amz-meta-*) for the completed object. */
  metadata?: Record<string, string>;
  /**
   * false: no checksum algorithm on the upload (parts are still checked request by request).
   * Needed for UploadPartCopy on MinIO, which refuses copied parts into an upload with one.
   */
  checksums?: boolean;
}

/**
 * Leaves a part's body out of its SigV4 signature. The part's CRC-32 or MD5, which the store
 * checks, already covers its bytes; over plain HTTP the SDK would otherwise hash every part
 * again with SHA-256 to sign it (over HTTPS it does not), a tenth of a streaming worker's CPU.
 */
function leaveBodyUnsigned(command: UploadPartCommand): void {
  command.middlewareStack.add(
    (next) => (args) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers;
      if (headers) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'zipflowUnsignedPayload' },
  );
}

/** The request fields for `serverSideEncryption` (CreateMultipartUpload, PutObject, Upload). */
export function sseParams(sse: MultipartTarget['serverSideEncryption']): {
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
} {
  if (!sse) return {};
  return {
    ServerSideEncryption: sse.type,
    ...(sse.type === 'aws:kms' && sse.kmsKeyId ? { SSEKMSKeyId: sse.kmsKeyId } : {}),
  };
}

/** A part S3 holds, as ListParts reports it. */
export interface HeldPart {
  partNumber: number;
  etag: string;
  size: number;
  checksumCRC32?: string;
}

/** A part S3 holds: its number, ETag and our CRC-32 of its bytes. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
  crc32: number;
}

/**
 * The one multipart session: CreateMultipartUpload / UploadPart / ListParts /
 * CompleteMultipartUpload / AbortMultipartUpload, driven directly because
 * lib-storage's Upload cannot resume an existing upload id.
 */
export class MultipartSession {
  private constructor(
    readonly client: S3Client,
    readonly target: MultipartTarget,
    readonly uploadId: string,
    /**
     * FULL_OBJECT: the store validates the whole object's CRC-32 at completion. NONE: the upload
     * has no checksum algorithm (parts are sent with Content-MD5, which every store checks).
     */
    readonly checksumType: ChecksumType | 'NONE',
  ) {}

  /**
   * Starts an upload whose CRC-32 covers the whole object (FULL_OBJECT), which the store then
   * validates at completion; a store that does not support that gets per-part (COMPOSITE)
   * checksums, still verified part by part.
   */
  static async create(client: S3Client, target: MultipartTarget): Promise<MultipartSession> {
    if (target.checksums === false) return MultipartSession.createWith(client, target, 'NONE');
    try {
      return await MultipartSession.createWith(client, target, 'FULL_OBJECT');
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name !== 'InvalidRequest' && name !== 'NotImplemented' && name !== 'InvalidArgument')
        throw err;
      return MultipartSession.createWith(client, target, 'COMPOSITE');
    }
  }

  private static async createWith(
    client: S3Client,
    target: MultipartTarget,
    checksumType: ChecksumType | 'NONE',
  ): Promise<MultipartSession> {
    const out = await client.send(
      new CreateMultipartUploadCommand({
        ...(checksumType !== 'NONE'
          ? { ChecksumType: checksumType, ChecksumAlgorithm: 'CRC32' as const }
          : {}),
        Metadata: target.metadata,
        Bucket: target.bucket,
        Key: target.key,
        ContentType: target.contentType ?? 'application/zip',
        ...(target.storageClass ? { StorageClass: target.storageClass as never } : {}),
        ...sseParams(target.serverSideEncryption),
      }),
    );
    if (!out.UploadId)
      throw new Error(
        `CreateMultipartUpload returned no UploadId for s3://${target.bucket}/${target.key}`,
      );
    return new MultipartSession(client, target, out.UploadId, checksumType);
  }

  static attach(
    client: S3Client,
    target: MultipartTarget,
    uploadId: string,
    checksumType: ChecksumType | 'NONE' = 'COMPOSITE',
  ): MultipartSession {
    return new MultipartSession(client, target, uploadId, checksumType);
  }

  /**
   * Uploads one part with a CRC-32 the store verifies (x-amz-checksum-crc32), or, in an upload
   * without a checksum algorithm (where AWS refuses that header), with Content-MD5. `known`:
   * the body's CRC-32 when the caller kept it as the bytes were written (a wrong one is refused
   * by the store, BadDigest, never stored).
   */
  async uploadPart(partNumber: number, body: Buffer, known?: number): Promise<UploadedPart> {
    const crc32 = known ?? crc32Of(body);
    const md5 =
      this.checksumType === 'NONE' ? crypto.createHash('md5').update(body).digest('base64') : '';
    const integrity = md5 ? { ContentMD5: md5 } : { ChecksumCRC32: crc32Base64(crc32) };
    const direct = await sendDirect(this.client, {
      method: 'PUT',
      bucket: this.target.bucket,
      key: this.target.key,
      query: { 'x-id': 'UploadPart', partNumber: String(partNumber), uploadId: this.uploadId },
      headers: {
        'content-length': String(body.length),
        ...(md5 ? { 'content-md5': md5 } : { 'x-amz-checksum-crc32': crc32Base64(crc32) }),
      },
      body,
      ok: (status) => status === 200,
    });
    if (direct?.headers.etag)
      return { partNumber, etag: direct.headers.etag, size: body.length, crc32 };
    const command = new UploadPartCommand({
      Bucket: this.target.bucket,
      Key: this.target.key,
      UploadId: this.uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: body.length,
      ...integrity,
    });
    leaveBodyUnsigned(command);
    const out = await this.client.send(command);
    if (!out.ETag) throw new Error(`UploadPart ${partNumber} returned no ETag`);
    return { partNumber, etag: out.ETag, size: body.length, crc32 };
  }

  /**
   * Has S3 copy source bytes [from, to) of an object into a part (UploadPartCopy), provided
   * the object still has the listed ETag.
   */
  async uploadPartCopy(
    partNumber: number,
    source: { bucket: string; key: string; etag: string; from: number; to: number },
  ): Promise<HeldPart> {
    const out = await this.client.send(
      new UploadPartCopyCommand({
        Bucket: this.target.bucket,
        Key: this.target.key,
        UploadId: this.uploadId,
        PartNumber: partNumber,
        CopySource: `${source.bucket}/${source.key.split('/').map(encodeURIComponent).join('/')}`,
        CopySourceRange: `bytes=${source.from}-${source.to - 1}`,
        CopySourceIfMatch: source.etag,
      }),
    );
    const etag = out.CopyPartResult?.ETag;
    if (!etag) throw new Error(`UploadPartCopy ${partNumber} returned no ETag`);
    return { partNumber, etag, size: source.to - source.from };
  }

  /**
   * Every part S3 holds for this upload, in part-number order, one per part number. A store may
   * list a part sent twice twice (SeaweedFS keeps each upload of a part number until
   * completion, which uses the latest): the latest listed one counts.
   */
  async listParts(): Promise<HeldPart[]> {
    const parts = new Map<number, HeldPart & { at: number }>();
    let marker: string | undefined;
    do {
      const out = await this.client.send(
        new ListPartsCommand({
          Bucket: this.target.bucket,
          Key: this.target.key,
          UploadId: this.uploadId,
          PartNumberMarker: marker,
        }),
      );
      for (const p of out.Parts ?? []) {
        const at = p.LastModified?.getTime() ?? 0;
        if ((parts.get(p.PartNumber!)?.at ?? -Infinity) > at) continue;
        parts.set(p.PartNumber!, {
          partNumber: p.PartNumber!,
          etag: p.ETag!,
          size: p.Size ?? 0,
          checksumCRC32: p.ChecksumCRC32,
          at,
        });
      }
      marker = out.IsTruncated ? out.NextPartNumberMarker : undefined;
    } while (marker);
    return [...parts.values()]
      .sort((a, b) => a.partNumber - b.partNumber)
      .map(({ at: _at, ...part }) => part);
  }

  /**
   * Completes the upload. Without `overwrite`, If-None-Match: * makes the store refuse when
   * the key appeared meanwhile, so an existing object is never replaced by accident.
   */
  async complete(
    parts: HeldPart[],
    /** crc32: the whole object's, when known; without it the store combines the parts' own. */
    options: { overwrite: boolean; crc32?: number },
  ): Promise<{
    etag?: string;
    versionId?: string;
    /** The whole object's CRC-32, as the store validated it against ours. */
    validatedCrc32?: string;
    /** The whole object's CRC-32 as the store reports it (combined from the parts' own). */
    storeCrc32?: string;
  }> {
    const completed: CompletedPart[] = parts.map((p) => ({
      PartNumber: p.partNumber,
      ETag: p.etag,
      ChecksumCRC32: p.checksumCRC32,
    }));
    const out = await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.target.bucket,
        Key: this.target.key,
        UploadId: this.uploadId,
        MultipartUpload: { Parts: completed },
        ...(options.overwrite ? {} : { IfNoneMatch: '*' }),
        ...(this.checksumType === 'FULL_OBJECT' ? { ChecksumType: 'FULL_OBJECT' } : {}),
        ...(this.checksumType === 'FULL_OBJECT' && options.crc32 !== undefined
          ? { ChecksumCRC32: crc32Base64(options.crc32) }
          : {}),
      }),
    );
    // The store refuses a FULL_OBJECT completion whose CRC-32 does not match what it holds.
    const validated =
      this.checksumType === 'FULL_OBJECT' && options.crc32 !== undefined
        ? out.ChecksumCRC32
        : undefined;
    return {
      etag: out.ETag,
      versionId: out.VersionId,
      validatedCrc32: validated,
      storeCrc32: out.ChecksumType === 'FULL_OBJECT' ? out.ChecksumCRC32 : undefined,
    };
  }

  async abort(): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({
          Bucket: this.target.bucket,
          Key: this.target.key,
          UploadId: this.uploadId,
        }),
      );
    } catch (err) {
      if ((err as { name?: string }).name !== 'NoSuchUpload') throw err;
    }
  }
}

export function crc32Base64(crc: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
}
