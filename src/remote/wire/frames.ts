/**
 * Frames of the sync protocol (docs/protocol.md): `[u8 type][u32 BE length][payload]`,
 * the payload at most {@link MAX_FRAME_PAYLOAD} bytes. The {@link FrameParser} checks the
 * type and the length of each frame from its 5-byte header, before anything is
 * allocated for the payload: an unknown type or an oversized length ends the session
 * with a PROTOCOL error, whatever the peer sends next.
 *
 * @module
 */
import { protocolError } from './binary.js';

/** Largest frame payload, in bytes (1 MiB). */
export const MAX_FRAME_PAYLOAD = 1024 * 1024;

/** Bytes of a frame header. */
export const FRAME_HEADER = 5;

/** Frame types. */
export const FrameType = {
  /** client → server: what to do (JSON). */
  HELLO: 0x01,
  /** server → client: the request is accepted (JSON). */
  WELCOME: 0x02,
  /** sender → receiver: a batch of file list entries. */
  FILES: 0x10,
  /** sender → receiver: the file list is complete. */
  FILES_END: 0x11,
  /** sender → receiver: the delta of a file begins. */
  DELTA: 0x12,
  /** sender → receiver: the next bytes of the current delta (librsync format). */
  DELTA_DATA: 0x13,
  /** sender → receiver: the current delta ends; the file's size and SHA-256. */
  DELTA_END: 0x14,
  /** sender → receiver: asks for a finer signature of the parts of a basis that did not match. */
  REFINE: 0x15,
  /** receiver → sender: the signature of a file's basis (first part). */
  SIG: 0x20,
  /** receiver → sender: more signature records. */
  SIG_MORE: 0x21,
  /** receiver → sender: everything is committed; the receiver's report (JSON). */
  FINISH: 0x22,
  /** either way: the session fails (JSON: code, message). */
  ERROR: 0x7f,
} as const;

export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

const names = new Map<number, string>(Object.entries(FrameType).map(([k, v]) => [v, k]));

/** The name of a frame type, for messages ("DELTA_DATA", "0x55"). */
export function frameName(type: number): string {
  return names.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/** True when `type` is a frame type of this protocol version. */
export function isFrameType(type: number): type is FrameTypeValue {
  return names.has(type);
}

/** One received frame. */
export interface Frame {
  type: FrameTypeValue;
  payload: Uint8Array;
}

/** The 5-byte header of a frame with a payload of `length` bytes. */
export function frameHeader(type: FrameTypeValue, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > MAX_FRAME_PAYLOAD)
    throw new RangeError(`Cannot send a frame of ${length} bytes: the limit is ${MAX_FRAME_PAYLOAD}`);
  const h = new Uint8Array(FRAME_HEADER);
  h[0] = type;
  h[1] = length >>> 24;
  h[2] = (length >>> 16) & 0xff;
  h[3] = (length >>> 8) & 0xff;
  h[4] = length & 0xff;
  return h;
}

/** A whole frame (header and payload) in one buffer. */
export function encodeFrame(type: FrameTypeValue, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + payload.length);
  out.set(frameHeader(type, payload.length), 0);
  out.set(payload, FRAME_HEADER);
  return out;
}

/**
 * Splits a byte stream into frames. `push` takes bytes in any chunking and returns the
 * frames they complete; `end` throws if the stream stopped inside a frame.
 */
export class FrameParser {
  readonly #what: string;
  readonly #maxPayload: number;
  readonly #header = new Uint8Array(FRAME_HEADER);
  #headerHave = 0;
  #payload: Uint8Array | undefined;
  #payloadHave = 0;
  #type = 0;
  /** Bytes consumed. */
  position = 0;
  /** After a `push` that stopped early: the bytes of the chunk it did not parse. */
  leftover: Uint8Array | undefined;

  /** `what` names the stream in errors ("the remote's stream"). */
  constructor(what: string, maxPayload = MAX_FRAME_PAYLOAD) {
    this.#what = what;
    this.#maxPayload = maxPayload;
  }

  /**
   * Parses the next bytes. With `stopAfter`, parsing stops right after the first frame it
   * accepts, and the bytes that follow are left in {@link leftover} (the stream changes
   * there, e.g. to compressed data).
   */
  push(chunk: Uint8Array, stopAfter?: (frame: Frame) => boolean): Frame[] {
    const frames: Frame[] = [];
    this.leftover = undefined;
    let p = 0;
    const stop = (): boolean => {
      if (!stopAfter?.(frames[frames.length - 1]!)) return false;
      this.leftover = chunk.subarray(p);
      this.position += p;
      return true;
    };
    while (p < chunk.length) {
      if (this.#payload === undefined) {
        const take = Math.min(FRAME_HEADER - this.#headerHave, chunk.length - p);
        this.#header.set(chunk.subarray(p, p + take), this.#headerHave);
        this.#headerHave += take;
        p += take;
        if (this.#headerHave < FRAME_HEADER) break;
        const h = this.#header;
        const type = h[0]!;
        const length = ((h[1]! << 24) | (h[2]! << 16) | (h[3]! << 8) | h[4]!) >>> 0;
        const at = this.position + p - FRAME_HEADER;
        if (!isFrameType(type))
          throw protocolError(`read ${this.#what}`, `the frame at byte ${at} has the unknown type ${frameName(type)}`);
        if (length > this.#maxPayload) {
          throw protocolError(
            `read ${this.#what}`,
            `the ${frameName(type)} frame at byte ${at} announces ${length} bytes, over the limit of ${this.#maxPayload}`,
          );
        }
        this.#headerHave = 0;
        if (length === 0) {
          frames.push({ type, payload: new Uint8Array(0) });
          if (stop()) return frames;
          continue;
        }
        this.#type = type;
        this.#payload = new Uint8Array(length);
        this.#payloadHave = 0;
      }
      const payload = this.#payload;
      const take = Math.min(payload.length - this.#payloadHave, chunk.length - p);
      payload.set(chunk.subarray(p, p + take), this.#payloadHave);
      this.#payloadHave += take;
      p += take;
      if (this.#payloadHave === payload.length) {
        frames.push({ type: this.#type as FrameTypeValue, payload });
        this.#payload = undefined;
        if (stop()) return frames;
      }
    }
    this.position += chunk.length;
    return frames;
  }

  /** True when no frame is partly read. */
  get idle(): boolean {
    return this.#payload === undefined && this.#headerHave === 0;
  }

  /** Throws PROTOCOL when the stream ended inside a frame. */
  end(): void {
    if (this.idle) return;
    if (this.#payload === undefined)
      throw protocolError(`read ${this.#what}`, `it ends inside a frame header (${this.#headerHave} of ${FRAME_HEADER} bytes)`);
    throw protocolError(
      `read ${this.#what}`,
      `it ends inside a ${frameName(this.#type)} frame (${this.#payloadHave} of ${this.#payload.length} bytes)`,
    );
  }
}
