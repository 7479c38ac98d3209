/** Payloads and gzip files made in memory for the archive tests. */
import { crc32, deflateRawSync, constants } from 'node:zlib';
import { randomBytes } from '../helpers/data.js';

/** Text-like bytes (words drawn by a seeded generator): compressible, like a tar of sources. */
export function textPayload(length: number, seed = 7): Buffer {
  const words = [
    'function ',
    'return ',
    'const ',
    'value',
    '(',
    ') ',
    '{\n',
    '}\n',
    'index ',
    'length ',
    '= ',
    '+ 1;\n',
    'archive ',
    'gzip ',
  ];
  return Buffer.from(Array.from(randomBytes(length, seed), (b) => words[b % words.length]).join('')).subarray(0, length);
}

/** `payload` with a few bytes changed at each of `offsets` and `extra` appended: a new version. */
export function edited(payload: Buffer, offsets: readonly number[], extra = ''): Buffer {
  const out = Buffer.from(payload);
  for (const at of offsets) out.write('CHANGED!', at);
  return Buffer.concat([out, Buffer.from(extra)]);
}

/** The 10-byte gzip header gzip(1) -n writes (no name, no time, OS unix). */
export const PLAIN_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);

/** The gzip trailer of `payload`: CRC-32 and size, little-endian. */
export function trailerOf(payload: Uint8Array): Buffer {
  const t = Buffer.alloc(8);
  t.writeUInt32LE(crc32(payload), 0);
  t.writeUInt32LE(payload.length % 2 ** 32, 4);
  return t;
}

/** A gzip member of `payload` deflated by Node's zlib with these parameters. */
export function gzipOf(payload: Uint8Array, options: { level?: number; memLevel?: number; header?: Buffer } = {}): Buffer {
  const deflated = deflateRawSync(payload, { level: options.level ?? 9, memLevel: options.memLevel ?? 8 });
  return Buffer.concat([options.header ?? PLAIN_HEADER, deflated, trailerOf(payload)]);
}

/**
 * A valid gzip member that no single zlib setting reproduces: its deflate stream is flushed
 * to a byte boundary half-way and restarted (as some writers do), so the second half
 * refers to nothing before the flush.
 */
export function unreproducibleGzip(payload: Uint8Array): Buffer {
  const half = payload.length >> 1;
  const first = deflateRawSync(payload.subarray(0, half), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  const second = deflateRawSync(payload.subarray(half), { level: 9 });
  return Buffer.concat([PLAIN_HEADER, first, second, trailerOf(payload)]);
}
