import { RequestError } from '../shared/validate';

/** Parses `s3://bucket/key-or-prefix`; names the argument in the error. */
export function parseS3Url(argument: string, value: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(value);
  if (!match) {
    throw new RequestError(argument, `"${value}" is not an S3 URL: write it as s3://bucket/key`);
  }
  return { bucket: match[1], key: match[2] };
}
