/**
 * One response of the static server: writes its body, counts the bytes that reach the
 * connection, and stops as soon as the client has gone.
 *
 * @module
 */

import type { FileHandle } from '../util/fs-promises.js';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

import { drainOrClose } from '../util/drain.js';
import type { BodyPiece, InclusiveRange } from './ranges.js';

/** Bytes read from the file per step while sending a body. */
export const READ_CHUNK = 64 * 1024;

/** The server-wide counter a response adds its body bytes to. */
export interface BodyCounter {
  bodyBytes: number;
}

/** The response to one request. */
export class Exchange {
  readonly #res: ServerResponse;
  readonly #counter: BodyCounter;
  #bytes = 0;
  #gone = false;

  constructor(res: ServerResponse, counter: BodyCounter) {
    this.#res = res;
    this.#counter = counter;
    res.once('close', () => {
      this.#gone = true;
    });
  }

  /** Body bytes of this response written to the connection so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** True once the response can take no more: it has closed (finished, or the client went away) or been destroyed. */
  get gone(): boolean {
    return this.#gone || this.#res.destroyed;
  }

  /** Sends the status and headers. */
  writeHead(status: number, headers: OutgoingHttpHeaders): void {
    this.#res.writeHead(status, headers);
  }

  /** Ends the response (after the headers alone for HEAD and 304). */
  end(): void {
    this.#res.end();
  }

  /** Sends a short text body (errors); HEAD gets the same headers and no body. */
  sendText(status: number, text: string, headers: OutgoingHttpHeaders = {}, head = false): void {
    const body = Buffer.from(text.endsWith('\n') ? text : `${text}\n`);
    this.#res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...headers });
    if (!head) this.#write(body);
    this.#res.end();
  }

  /**
   * Streams `pieces` into the response, then ends it; destroys it if the file came up short.
   *
   * File ranges are read with positional `FileHandle.read` in {@link READ_CHUNK} pieces,
   * honouring backpressure, rather than with `fs.createReadStream({ fd, start, end })`: every
   * part of a multipart answer shares one descriptor (so all parts come from the same inode the
   * ETag describes), and a ReadStream closes its fd whenever it is destroyed, `autoClose: false`
   * or not. Memory stays bounded by the socket's high-water mark plus one chunk.
   */
  async sendBody(file: FileHandle, pieces: readonly BodyPiece[]): Promise<void> {
    for (const piece of pieces) {
      if (this.gone) return;
      const complete = 'bytes' in piece ? await this.#send(piece.bytes) : await this.#sendRange(file, piece.range);
      if (!complete) return;
    }
    if (!this.gone) this.#res.end();
  }

  /** Sends one range of the file; false when the response cannot be completed (client gone, file shrank). */
  async #sendRange(file: FileHandle, range: InclusiveRange): Promise<boolean> {
    let position = range.start;
    while (position <= range.end) {
      if (this.gone) return false;
      // A fresh buffer per chunk: res.write keeps a reference until the socket has sent it.
      const want = Math.min(READ_CHUNK, range.end - position + 1);
      const { bytesRead, buffer } = await file.read(Buffer.allocUnsafe(want), 0, want, position);
      if (bytesRead === 0) {
        // The file shrank under us: the promised Content-Length cannot be met.
        this.#res.destroy();
        return false;
      }
      position += bytesRead;
      if (!(await this.#send(buffer.subarray(0, bytesRead)))) return false;
    }
    return true;
  }

  /** Writes `chunk` and waits for backpressure to clear; false when the client has gone. */
  async #send(chunk: Buffer): Promise<boolean> {
    if (this.gone) return false;
    if (!this.#write(chunk) && !this.#gone) await drainOrClose(this.#res);
    return true;
  }

  /** Writes one chunk, counting it once it has reached the socket. */
  #write(chunk: Buffer): boolean {
    return this.#res.write(chunk, (err) => {
      if (err == null) {
        this.#counter.bodyBytes += chunk.length;
        this.#bytes += chunk.length;
      }
    });
  }
}
