/**
 * crc32Combine(crc1, crc2, len2): the CRC-32 of A‖B from crc(A), crc(B) and |B|, as zlib's
 * crc32_combine does it: crc(A‖B) = crc(A)·x^(8·len2) mod P  xor  crc(B), with polynomial
 * arithmetic over GF(2) in the reflected bit order CRC-32 uses. len2 may exceed 4 GiB.
 */

const POLY = 0xedb88320; // reflected CRC-32 polynomial
const X0 = 0x80000000; // the polynomial "1" (x^0) in reflected order

/** a·b mod P over GF(2), both reflected. */
function multModP(a: number, b: number): number {
  let m = X0;
  let p = 0;
  for (;;) {
    if (a & m) {
      p = (p ^ b) >>> 0;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? ((b >>> 1) ^ POLY) >>> 0 : b >>> 1;
  }
  return p;
}

// X2N[k] = x^(2^k) mod P, squaring from x^1 (= 0x40000000 reflected).
const X2N: number[] = [0x40000000];
for (let k = 1; k < 32; k++) X2N.push(multModP(X2N[k - 1], X2N[k - 1]));

/**
 * x^(8·len) mod P: the table powers of each set bit of len, from x^8 (one byte, k = 3). len is
 * a safe integer, halved with arithmetic rather than BigInt: this runs for every chunk streamed
 * (the entry's CRC and the part's), and BigInt steps allocated ~12 MB per GB.
 */
function x8nModP(len: number): number {
  let p = X0;
  for (let n = len, k = 3; n > 0; n = Math.floor(n / 2), k++) {
    if (n % 2 === 1) p = multModP(X2N[k & 31], p);
  }
  return p;
}

/** The last length's power: chunks mostly have one length, and each is combined twice. */
let lastLen = -1;
let lastPower = X0;

function power(len: number): number {
  if (len !== lastLen) {
    lastPower = x8nModP(len);
    lastLen = len;
  }
  return lastPower;
}

export function crc32Combine(crc1: number, crc2: number, len2: number | bigint): number {
  const n = typeof len2 === 'bigint' ? Number(len2) : len2;
  if (!Number.isSafeInteger(n)) throw new RangeError(`len2 must be a safe integer, got ${len2}`);
  if (n < 0) throw new RangeError(`len2 must be >= 0, got ${n}`);
  return (multModP(power(n), crc1 >>> 0) ^ (crc2 >>> 0)) >>> 0;
}
