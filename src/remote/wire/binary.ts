/**
 * Reading and writing the fields of protocol frames: big-endian integers, unsigned
 * varints (LEB128, at most 2^53 − 1) and length-prefixed strings. A {@link ByteReader}
 * never reads past its payload: a short or malformed field is a PROTOCOL error naming
 * the field, so a hostile peer gets a clear refusal, never an exception from deep inside.
 *
 * @module
 */
import { ErrorCodes, SyncError } from '../../core/errors.js';

/** A PROTOCOL error: "Cannot <action>: <reason>". */
export function protocolError(action: string, reason: string): SyncError {
  return new SyncError(ErrorCodes.PROTOCOL, `Cannot ${action}: ${reason}`);
}

/** A strict UTF-8 decoder (invalid bytes throw), shared: it keeps no state between calls. */
export const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Builds a payload. */
export class ByteWriter {
  #buf: Uint8Array;
  #len = 0;

  constructor(initial = 256) {
    this.#buf = new Uint8Array(initial);
  }

  get length(): number {
    return this.#len;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.#buf.subarray(0, this.#len));
    this.#buf = bigger;
  }

  u8(v: number): this {
    this.#reserve(1);
    this.#buf[this.#len++] = v;
    return this;
  }

  u32(v: number): this {
    this.#reserve(4);
    const b = this.#buf;
    b[this.#len] = v >>> 24;
    b[this.#len + 1] = (v >>> 16) & 0xff;
    b[this.#len + 2] = (v >>> 8) & 0xff;
    b[this.#len + 3] = v & 0xff;
    this.#len += 4;
    return this;
  }

  /** An unsigned LEB128 varint (0 … 2^53 − 1). */
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`Cannot encode ${v} as a varint`);
    this.#reserve(8);
    let x = v;
    while (x >= 0x80) {
      this.#buf[this.#len++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.#buf[this.#len++] = x;
    return this;
  }

  bytes(data: Uint8Array): this {
    this.#reserve(data.length);
    this.#buf.set(data, this.#len);
    this.#len += data.length;
    return this;
  }

  /** A varint byte length, then the UTF-8 bytes. */
  string(s: string): this {
    const data = Buffer.from(s, 'utf8');
    return this.varint(data.length).bytes(data);
  }

  /** The bytes written (a copy the writer no longer touches). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** Reads a payload; every read is bounds-checked. */
export class ByteReader {
  readonly #data: Uint8Array;
  readonly #what: string;
  #pos = 0;

  /** `what` names the payload in errors ("the file list"). */
  constructor(data: Uint8Array, what: string) {
    this.#data = data;
    this.#what = what;
  }

  get position(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#data.length - this.#pos;
  }

  #need(n: number, field: string): void {
    if (this.#data.length - this.#pos < n) {
      throw protocolError(`read ${this.#what}`, `it ends inside the ${field} (at byte ${this.#pos} of ${this.#data.length})`);
    }
  }

  u8(field: string): number {
    this.#need(1, field);
    return this.#data[this.#pos++]!;
  }

  u32(field: string): number {
    this.#need(4, field);
    const d = this.#data;
    const p = this.#pos;
    this.#pos += 4;
    return ((d[p]! << 24) | (d[p + 1]! << 16) | (d[p + 2]! << 8) | d[p + 3]!) >>> 0;
  }

  /** An unsigned varint; at most `max` (default 2^53 − 1). */
  varint(field: string, max = Number.MAX_SAFE_INTEGER): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      this.#need(1, field);
      const b = this.#data[this.#pos++]!;
      v += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) break;
      scale *= 0x80;
      if (i >= 7) throw protocolError(`read ${this.#what}`, `the ${field} is a varint longer than 8 bytes`);
    }
    if (!Number.isSafeInteger(v) || v > max) throw protocolError(`read ${this.#what}`, `the ${field} ${v} is over the limit of ${max}`);
    return v;
  }

  /** `n` bytes, as a view of the payload. */
  bytes(n: number, field: string): Uint8Array {
    this.#need(n, field);
    const out = this.#data.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  /** A varint length (at most `maxBytes`) and that many bytes of UTF-8. */
  string(field: string, maxBytes: number): string {
    const n = this.varint(`${field} length`, maxBytes);
    const raw = this.bytes(n, field);
    try {
      return utf8.decode(raw);
    } catch {
      throw protocolError(`read ${this.#what}`, `the ${field} is not valid UTF-8`);
    }
  }

  /** The rest of the payload, as a view. */
  rest(): Uint8Array {
    const out = this.#data.subarray(this.#pos);
    this.#pos = this.#data.length;
    return out;
  }

  /** Throws unless the payload was read to its end. */
  end(): void {
    if (this.#pos !== this.#data.length) {
      throw protocolError(`read ${this.#what}`, `${this.#data.length - this.#pos} unexpected bytes follow its last field`);
    }
  }
}
