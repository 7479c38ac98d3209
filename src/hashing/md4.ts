/**
 * MD4 (RFC 1320), the strong block hash of zsync's `.zsync` control files.
 *
 * Node 20's OpenSSL 3 refuses MD4 without `--openssl-legacy-provider`, so it is written
 * out here: a straight RFC 1320 implementation over 32-bit integers. It is used only as
 * zsync uses it, as a checksum that a block is the expected one (the whole result is
 * then checked against the file's SHA-1 or SHA-256); MD4 is broken as a cryptographic
 * hash and nothing here relies on it being collision-resistant.
 *
 * `hashInto` allocates nothing: whole 64-byte chunks are read straight from the input and
 * only the padded tail goes through a scratch buffer.
 *
 * @module
 */
import type { IncrementalHash, StrongHash } from './strong-hash.js';

/** The four 32-bit state words of MD4, updated in place. */
type State = Int32Array;

const INIT_A = 0x67452301;
const INIT_B = 0xefcdab89 | 0;
const INIT_C = 0x98badcfe | 0;
const INIT_D = 0x10325476;
const K2 = 0x5a827999;
const K3 = 0x6ed9eba1;

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

/** Runs the compression function over `data[at, at + 64k)` (k whole chunks). */
function compress(s: State, data: Uint8Array, at: number, end: number, x: Int32Array): void {
  let a0 = s[0]!;
  let b0 = s[1]!;
  let c0 = s[2]!;
  let d0 = s[3]!;
  for (let p = at; p < end; p += 64) {
    for (let i = 0, q = p; i < 16; i++, q += 4) {
      x[i] = data[q]! | (data[q + 1]! << 8) | (data[q + 2]! << 16) | (data[q + 3]! << 24);
    }
    let a = a0;
    let b = b0;
    let c = c0;
    let d = d0;
    // Round 1: F(x, y, z) = (x & y) | (~x & z)
    for (let i = 0; i < 16; i += 4) {
      a = rotl((a + ((b & c) | (~b & d)) + x[i]!) | 0, 3);
      d = rotl((d + ((a & b) | (~a & c)) + x[i + 1]!) | 0, 7);
      c = rotl((c + ((d & a) | (~d & b)) + x[i + 2]!) | 0, 11);
      b = rotl((b + ((c & d) | (~c & a)) + x[i + 3]!) | 0, 19);
    }
    // Round 2: G(x, y, z) = (x & y) | (x & z) | (y & z), words 0,4,8,12 / 1,5,9,13 / ...
    for (let i = 0; i < 4; i++) {
      a = rotl((a + ((b & c) | (b & d) | (c & d)) + x[i]! + K2) | 0, 3);
      d = rotl((d + ((a & b) | (a & c) | (b & c)) + x[i + 4]! + K2) | 0, 5);
      c = rotl((c + ((d & a) | (d & b) | (a & b)) + x[i + 8]! + K2) | 0, 9);
      b = rotl((b + ((c & d) | (c & a) | (d & a)) + x[i + 12]! + K2) | 0, 13);
    }
    // Round 3: H(x, y, z) = x ^ y ^ z, words in the order 0,8,4,12,2,10,6,14,1,9,5,13,3,11,7,15
    for (let j = 0; j < 4; j++) {
      const i = ROUND3_START[j]!;
      a = rotl((a + (b ^ c ^ d) + x[i]! + K3) | 0, 3);
      d = rotl((d + (a ^ b ^ c) + x[i + 8]! + K3) | 0, 9);
      c = rotl((c + (d ^ a ^ b) + x[i + 4]! + K3) | 0, 11);
      b = rotl((b + (c ^ d ^ a) + x[i + 12]! + K3) | 0, 15);
    }
    a0 = (a0 + a) | 0;
    b0 = (b0 + b) | 0;
    c0 = (c0 + c) | 0;
    d0 = (d0 + d) | 0;
  }
  s[0] = a0;
  s[1] = b0;
  s[2] = c0;
  s[3] = d0;
}

const ROUND3_START = Int32Array.from([0, 2, 1, 3]);

function reset(s: State): void {
  s[0] = INIT_A;
  s[1] = INIT_B;
  s[2] = INIT_C;
  s[3] = INIT_D;
}

/**
 * Hashes the final `data[at, at + rest)` (rest < 64) with MD4's padding and the total
 * length `total`, using `tail` (128 bytes) as scratch.
 */
function finish(s: State, data: Uint8Array, at: number, rest: number, total: number, tail: Uint8Array, x: Int32Array): void {
  tail.fill(0);
  tail.set(data.subarray(at, at + rest), 0);
  tail[rest] = 0x80;
  const end = rest < 56 ? 64 : 128;
  const bits = total * 8;
  const lo = bits >>> 0;
  const hi = Math.floor(bits / 0x100000000) >>> 0;
  for (let k = 0; k < 4; k++) {
    tail[end - 8 + k] = (lo >>> (8 * k)) & 0xff;
    tail[end - 4 + k] = (hi >>> (8 * k)) & 0xff;
  }
  compress(s, tail, 0, end, x);
}

function writeDigest(s: State, out: Uint8Array, outOffset: number, outLength: number): void {
  for (let i = 0; i < outLength; i++) out[outOffset + i] = (s[i >> 2]! >>> (8 * (i & 3))) & 0xff;
}

// Scratch shared by the one-shot calls (JavaScript runs them one at a time).
const oneShotState: State = new Int32Array(4);
const oneShotWords = new Int32Array(16);
const oneShotTail = new Uint8Array(128);

/** MD4 of `data[start, start + length)`, writing the first `outLength` digest bytes to `out` at `outOffset`. */
export function md4Into(data: Uint8Array, start: number, length: number, out: Uint8Array, outOffset: number, outLength: number): void {
  if (!(outLength >= 0 && outLength <= 16)) throw new RangeError(`MD4 digests are 16 bytes, not ${outLength}`);
  const s = oneShotState;
  reset(s);
  const whole = length - (length % 64);
  compress(s, data, start, start + whole, oneShotWords);
  finish(s, data, start + whole, length - whole, length, oneShotTail, oneShotWords);
  writeDigest(s, out, outOffset, outLength);
}

/** MD4 digest (16 bytes) of `data`. */
export function md4Digest(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  md4Into(data, 0, data.length, out, 0, 16);
  return out;
}

/** An incremental MD4. */
export class Md4 implements IncrementalHash {
  readonly #s: State = new Int32Array(4);
  readonly #x = new Int32Array(16);
  readonly #buf = new Uint8Array(128);
  #buffered = 0;
  #total = 0;
  #done = false;

  constructor() {
    reset(this.#s);
  }

  update(data: Uint8Array): void {
    if (this.#done) throw new Error('Cannot update an MD4 hash after its digest was taken');
    this.#total += data.length;
    let p = 0;
    if (this.#buffered > 0) {
      const take = Math.min(64 - this.#buffered, data.length);
      this.#buf.set(data.subarray(0, take), this.#buffered);
      this.#buffered += take;
      p = take;
      if (this.#buffered < 64) return;
      compress(this.#s, this.#buf, 0, 64, this.#x);
      this.#buffered = 0;
    }
    const whole = (data.length - p) - ((data.length - p) % 64);
    compress(this.#s, data, p, p + whole, this.#x);
    p += whole;
    if (p < data.length) {
      this.#buf.set(data.subarray(p), 0);
      this.#buffered = data.length - p;
    }
  }

  digest(): Uint8Array {
    if (this.#done) throw new Error('Cannot take an MD4 digest twice');
    this.#done = true;
    const pending = this.#buf.slice(0, this.#buffered);
    finish(this.#s, pending, 0, pending.length, this.#total, this.#buf, this.#x);
    const out = new Uint8Array(16);
    writeDigest(this.#s, out, 0, 16);
    return out;
  }
}

/** MD4 as a {@link StrongHash}: the block hash of `.zsync` files. */
export const md4: StrongHash = {
  name: 'md4',
  digestLength: 16,
  hashInto: md4Into,
  create: () => new Md4(),
};
