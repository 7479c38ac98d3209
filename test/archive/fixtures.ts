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

/** One entry of a zip made by {@link zipOf}. */
export interface ZipEntrySpec {
  name: string;
  data: Uint8Array;
  /** Deflate the data (method 8) instead of storing it. */
  deflate?: boolean;
  /** Write sizes and CRC in a data descriptor after the data (flag bit 3), with its signature. */
  descriptor?: boolean;
}

/**
 * A zip archive as zip tools write it: local header, data (and descriptor) per entry, then
 * the central directory and the end record. `prefix` goes before the first entry (as a
 * self-extractor's stub); `localOrder` lays the entries out in another order than the
 * directory lists them.
 */
export function zipOf(
  entries: readonly ZipEntrySpec[],
  options: { prefix?: Uint8Array; comment?: string; localOrder?: number[] } = {},
): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  if (options.prefix) push(Buffer.from(options.prefix));
  const records: Buffer[] = new Array(entries.length);
  for (const i of options.localOrder ?? entries.map((_, k) => k)) {
    const e = entries[i]!;
    const name = Buffer.from(e.name);
    const body = e.deflate ? deflateRawSync(e.data) : Buffer.from(e.data);
    const crc = crc32(e.data);
    const flags = e.descriptor ? 8 : 0;
    const method = e.deflate ? 8 : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    if (!e.descriptor) {
      local.writeUInt32LE(crc, 14);
      local.writeUInt32LE(body.length, 18);
      local.writeUInt32LE(e.data.length, 22);
    }
    local.writeUInt16LE(name.length, 26);
    const at = offset;
    push(Buffer.concat([local, name, body]));
    if (e.descriptor) {
      const d = Buffer.alloc(16);
      d.writeUInt32LE(0x08074b50, 0);
      d.writeUInt32LE(crc, 4);
      d.writeUInt32LE(body.length, 8);
      d.writeUInt32LE(e.data.length, 12);
      push(d);
    }
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(flags, 8);
    cd.writeUInt16LE(method, 10);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(e.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(at, 42);
    records[i] = Buffer.concat([cd, name]);
  }
  const cdStart = offset;
  const cd = Buffer.concat(records);
  const comment = Buffer.from(options.comment ?? '');
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(cdStart, 16);
  eocd.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...parts, cd, eocd, comment]);
}
