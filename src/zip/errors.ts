/**
 * Errors raised by the ZIP encoder.
 *
 * ZipInputError: the caller asked for something the archive cannot hold (bad name,
 * size mismatch, comment too long …). `field` names the offending input field so
 * request validation can point at it.
 * ZipStateError: the encoder was driven in an order it does not support (two entries
 * at once, checkpoint inside compressed data …). A programming error, not bad data.
 */
export class ZipInputError extends Error {
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ZipInputError';
    this.field = field;
  }
}

export class ZipStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZipStateError';
  }
}
