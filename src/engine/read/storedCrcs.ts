import type { S3Client } from '@aws-sdk/client-s3';
import { sourceCrc32 } from '../../s3/checksums';
import type { ListedObject } from '../../s3/objects';

type StoredCrc = Awaited<ReturnType<typeof sourceCrc32>>;

/** Objects asked about ahead of the one being encoded (a HeadObject each, small). */
const LOOKUPS_AHEAD = 8;

/**
 * The CRC-32s S3 stores for the objects of a plan chunk, asked a few objects ahead of the
 * encoder. Each lookup is a HeadObject round trip (and GetObjectAttributes for a multipart
 * source): asked only when an entry starts, a far store would stall the encoder once per large
 * entry. The answer does not depend on when it is asked (the lookup is pinned to the listed
 * ETag), so asking early leaves the archive's bytes as they are. A failed lookup (the object
 * changed) surfaces when its entry is reached, as it would have then.
 */
export class StoredCrcLookups {
  private readonly asked = new Map<number, Promise<StoredCrc>>();

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly objects: ListedObject[],
    /** Whether an object's entry may use a stored CRC-32 (others are never asked about). */
    private readonly wanted: (object: ListedObject) => boolean,
  ) {}

  /** The stored CRC-32 of objects[index]; starts the lookups of the next few wanted objects. */
  crc32Of(index: number): Promise<StoredCrc> {
    const end = Math.min(this.objects.length, index + 1 + LOOKUPS_AHEAD);
    for (let i = index + 1; i < end; i++) {
      if (this.asked.has(i) || !this.wanted(this.objects[i])) continue;
      const lookup = sourceCrc32(this.client, this.bucket, this.objects[i]);
      lookup.catch(() => undefined); // surfaces when its entry asks for it
      this.asked.set(i, lookup);
    }
    const answer =
      this.asked.get(index) ?? sourceCrc32(this.client, this.bucket, this.objects[index]);
    for (const i of this.asked.keys()) if (i <= index) this.asked.delete(i);
    return answer;
  }
}
