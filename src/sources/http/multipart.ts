/**
 * A streaming parser for `multipart/byteranges` bodies (RFC 9110 §14.6, RFC 2046 §5.1),
 * the answer servers give to a `Range` header with several ranges.
 *
 * Tolerances, because real servers differ: the first boundary may or may not be preceded by
 * a CRLF (or by any short preamble); line ends may be CRLF or bare LF (consistently, as the
 * first boundary line sets them); the closing boundary
 * and the epilogue may be missing once every part has arrived (the caller decides whether it
 * got what it needed). Parts are identified by their own `Content-Range`, never by position.
 *
 * A part is handed out only once the boundary after it has been seen, so a part whose
 * declared length does not match its body is rejected rather than delivered with wrong bytes.
 * Since a part is held until then, a caller that knows which bytes it asked for passes their
 * span and how long a part may be: a part declared outside the span, or longer, is rejected
 * from its headers, before its body is read.
 * Part bodies are `subarray` views of the pushed chunks, not copies (except where a boundary
 * or header block straddles two chunks, which copies at most a few KiB).
 *
 * @module
 */

import { ErrorCodes, SyncError } from '../../core/errors.js';
import { parseContentRange } from './range-headers.js';

/** One part of a `multipart/byteranges` body. */
export interface ByteRangePart {
  /** Offset of the first byte in the resource. */
  readonly start: number;
  /** One past the offset of the last byte. */
  readonly end: number;
  /** Full length of the resource from the part's Content-Range, if given. */
  readonly total: number | undefined;
  /** The part's body, `end - start` bytes in all, as views of the input chunks. */
  readonly chunks: readonly Uint8Array[];
}

/** Longest header block or boundary line accepted, in bytes. */
const MAX_TEXT_BYTES = 16 * 1024;
const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

enum State {
  /** Before the first boundary. */
  Preamble,
  /** Just after a `--boundary`: either `--` (the end) or the rest of the boundary line. */
  BoundaryLine,
  /** In a part's header block. */
  Headers,
  /** In a part's body. */
  Body,
  /** After a part's body: expecting CRLF `--boundary`. */
  Delimiter,
  /** After the closing boundary; the epilogue is ignored. */
  Done,
}

/**
 * Returns the boundary of a `multipart/byteranges` Content-Type, or undefined when the type
 * is something else. Returns `''` for a multipart type without a usable boundary parameter.
 */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const [type = '', ...params] = contentType.split(';');
  if (type.trim().toLowerCase() !== 'multipart/byteranges') return undefined;
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'boundary') continue;
    let value = param.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value.length >= 1 && value.length <= 200) return value;
  }
  return '';
}

/**
 * Incremental `multipart/byteranges` parser: `push` body chunks as they arrive and collect
 * the parts each call completes. Throws an HTTP_RESPONSE SyncError on a garbled body.
 *
 * @example
 * ```ts
 * const parser = new MultipartByteRangesParser(boundary);
 * for await (const chunk of body) for (const part of parser.push(chunk)) use(part);
 * ```
 */
export class MultipartByteRangesParser {
  readonly #delimiter: Buffer;
  readonly #origin: string | undefined;
  #state = State.Preamble;
  /** Unfinished header or boundary text carried over from the previous chunk. */
  #carry: Buffer | undefined;
  #part: { start: number; end: number; total: number | undefined; chunks: Uint8Array[] } | undefined;
  #bodyLeft = 0;
  readonly #within: { readonly start: number; readonly end: number } | undefined;
  readonly #maxPartBytes: number;
  /** Line ends are CRLF (the RFC) unless the first boundary line ended with a bare LF. */
  #crlf = true;
  #boundaryLines = 0;
  #error: unknown;

  /**
   * @param boundary the `boundary` parameter of the Content-Type (see {@link multipartBoundary})
   * @param origin where the body comes from (a URL), for error messages
   * @param options.within the span of the bytes asked for (from the first range's start to
   *   the last one's end): a part outside it is garbled
   * @param options.maxPartBytes the longest part accepted (default: no limit)
   */
  constructor(
    boundary: string,
    origin?: string,
    options: { within?: { readonly start: number; readonly end: number }; maxPartBytes?: number } = {},
  ) {
    this.#origin = origin;
    this.#within = options.within;
    this.#maxPartBytes = options.maxPartBytes ?? Infinity;
    if (boundary.length === 0) throw this.#garbled('the multipart Content-Type has no boundary');
    this.#delimiter = Buffer.from(`--${boundary}`, 'latin1');
  }

  /**
   * Feeds the next body chunk; returns the parts it completed, in body order. When the chunk
   * completes some parts and then turns out garbled, those parts are returned and the error
   * is thrown by the next call (or by {@link finish}).
   */
  push(chunk: Uint8Array): ByteRangePart[] {
    if (this.#error !== undefined) throw this.#error;
    const out: ByteRangePart[] = [];
    try {
      this.#pushInto(asBuffer(chunk), out);
    } catch (error) {
      this.#error = error;
      if (out.length === 0) throw error;
    }
    return out;
  }

  #pushInto(chunk: Buffer, out: ByteRangePart[]): void {
    let input = chunk;
    if (this.#carry !== undefined) {
      // Finish the text item begun in the previous chunk on a copy of the carry plus at most
      // MAX_TEXT_BYTES of this chunk, then go on in the chunk itself.
      const carried = this.#carry.length;
      const window = Buffer.concat([this.#carry, input.subarray(0, MAX_TEXT_BYTES)]);
      this.#carry = undefined;
      const used = this.#consume(window, out);
      if (used < carried) {
        if (window.length < carried + input.length) throw this.#garbled('a part header block or boundary line is too long');
        this.#keep(window.subarray(used));
        return;
      }
      input = input.subarray(used - carried);
    }
    const used = this.#consume(input, out);
    if (used < input.length) this.#keep(input.subarray(used));
  }

  /** Throws unless the body ended cleanly after its closing boundary. */
  finish(): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.#state !== State.Done) throw this.#garbled('the multipart body ended before its closing boundary');
  }

  #garbled(reason: string): SyncError {
    const from = this.#origin === undefined ? '' : ` from ${this.#origin}`;
    return new SyncError(ErrorCodes.HTTP_RESPONSE, `Cannot parse the multipart answer${from}: ${reason}`, {
      ...(this.#origin === undefined ? {} : { url: this.#origin }),
    });
  }

  #keep(rest: Buffer): void {
    if (rest.length > MAX_TEXT_BYTES) throw this.#garbled('a part header block or boundary line is too long');
    this.#carry = Buffer.from(rest);
  }

  /** Parses as much of `buf` as possible; returns how many bytes were used. */
  #consume(buf: Buffer, out: ByteRangePart[]): number {
    let pos = 0;
    while (pos < buf.length) {
      switch (this.#state) {
        case State.Preamble: {
          const at = buf.indexOf(this.#delimiter, pos);
          if (at < 0) return pos;
          pos = at + this.#delimiter.length;
          this.#state = State.BoundaryLine;
          break;
        }
        case State.BoundaryLine: {
          if (buf.length - pos < 2) return pos;
          if (buf[pos] === DASH && buf[pos + 1] === DASH) {
            this.#state = State.Done;
            return buf.length;
          }
          const lf = buf.indexOf(LF, pos);
          if (lf < 0) return pos;
          // Only transport padding (spaces, tabs) and a CR may follow the boundary on its line.
          for (let i = pos; i < lf; i++) {
            const c = buf[i];
            if (c !== 0x20 && c !== 0x09 && !(c === CR && i === lf - 1)) throw this.#garbled('a boundary line has trailing garbage');
          }
          if (this.#boundaryLines++ === 0) this.#crlf = lf > pos && buf[lf - 1] === CR;
          pos = lf + 1;
          this.#state = State.Headers;
          break;
        }
        case State.Headers: {
          const end = findBlankLine(buf, pos);
          if (end === undefined) return pos;
          this.#startPart(buf.toString('latin1', pos, end.textEnd));
          pos = end.bodyStart;
          this.#state = State.Body;
          break;
        }
        case State.Body: {
          const n = Math.min(this.#bodyLeft, buf.length - pos);
          this.#part!.chunks.push(buf.subarray(pos, pos + n));
          pos += n;
          this.#bodyLeft -= n;
          if (this.#bodyLeft === 0) this.#state = State.Delimiter;
          break;
        }
        case State.Delimiter: {
          // The line end must be the style of the first boundary line: with a tolerant
          // "CR optional" rule, a part one byte short would pass with a CR as its last byte.
          const lineEnd = this.#crlf ? 2 : 1;
          if (buf.length - pos < lineEnd + this.#delimiter.length) return pos;
          const ok =
            (!this.#crlf || buf[pos] === CR) &&
            buf[pos + lineEnd - 1] === LF &&
            buf.compare(this.#delimiter, 0, this.#delimiter.length, pos + lineEnd, pos + lineEnd + this.#delimiter.length) === 0;
          const part = this.#part!;
          if (!ok) throw this.#garbled(`the part for bytes ${part.start}-${part.end - 1} is not followed by the boundary (wrong length?)`);
          out.push(part);
          this.#part = undefined;
          pos += lineEnd + this.#delimiter.length;
          this.#state = State.BoundaryLine;
          break;
        }
        case State.Done:
          return buf.length;
      }
    }
    return pos;
  }

  #startPart(headerText: string): void {
    let contentRange: string | undefined;
    for (const line of headerText.split('\n')) {
      const text = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (text.length === 0) continue;
      const colon = text.indexOf(':');
      if (colon <= 0) throw this.#garbled('a part has a malformed header line');
      if (text.slice(0, colon).trim().toLowerCase() === 'content-range') contentRange = text.slice(colon + 1).trim();
    }
    const range = parseContentRange(contentRange);
    if (range === undefined) throw this.#garbled(`a part has ${contentRange === undefined ? 'no' : 'an invalid'} Content-Range`);
    const within = this.#within;
    if (within !== undefined && (range.start < within.start || range.end > within.end)) {
      throw this.#garbled(
        `a part for bytes ${range.start}-${range.end - 1} lies outside the bytes asked for (${within.start}-${within.end - 1})`,
      );
    }
    if (range.end - range.start > this.#maxPartBytes) {
      throw this.#garbled(`a part for bytes ${range.start}-${range.end - 1} is longer than the ${this.#maxPartBytes} bytes accepted`);
    }
    this.#part = { start: range.start, end: range.end, total: range.total, chunks: [] };
    this.#bodyLeft = range.end - range.start;
  }
}

/** Finds the empty line ending a header block that starts at `from`. */
function findBlankLine(buf: Buffer, from: number): { textEnd: number; bodyStart: number } | undefined {
  let line = from;
  for (;;) {
    const lf = buf.indexOf(LF, line);
    if (lf < 0) return undefined;
    const empty = lf === line || (lf === line + 1 && buf[line] === CR);
    if (empty) return { textEnd: Math.max(from, line - 1), bodyStart: lf + 1 };
    line = lf + 1;
  }
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
