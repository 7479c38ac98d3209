/**
 * Every decoder that reads bytes from elsewhere (a server, a peer, a publisher), as fuzz
 * targets seeded with valid encodings: the gosync index (versions 1–4, the summary alone,
 * the published-forms section alone), `.zsync`, go-sync's index, librsync signatures and
 * deltas (in memory and through rdiff's patch), the delta files of each kind, the folder
 * manifest, multipart/byteranges bodies, and the ssh protocol's frames and payloads.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { brotliCompressSync, crc32 } from 'node:zlib';
import { buildIndex } from '../../src/core/index/builder.js';
import { decodeIndex, encodeIndex, readIndexSummary } from '../../src/core/index/format.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import { type GzipArchive, decodePublished, encodePublished, type PublishedForms } from '../../src/core/index/published.js';
import { decodeGoSyncV0Index, encodeGoSyncV0Index, goSyncV0AsBlockIndex } from '../../src/formats/gosync-v0.js';
import { applyLibrsyncDelta, decodeLibrsyncDelta, encodeLibrsyncDelta } from '../../src/formats/librsync-delta.js';
import { decodeLibrsyncSignature, encodeLibrsyncSignature, librsyncToBlockIndex } from '../../src/formats/librsync-signature.js';
import { rdiffPatchInto } from '../../src/formats/rdiff-file.js';
import { buildZsync, decodeZsync } from '../../src/formats/zsync-control.js';
import { encodeDeltaPayload } from '../../src/forms/delta-encode.js';
import { applyDeltaFile, deltaFile } from '../../src/forms/delta-file.js';
import { encodeLzDelta } from '../../src/forms/lz-delta/mod.js';
import { ByteWriter } from '../../src/remote/wire/binary.js';
import { FileListEncoder, decodeFileBatch } from '../../src/remote/wire/file-list.js';
import { FrameParser, FrameType, encodeFrame } from '../../src/remote/wire/frames.js';
import { decodeError, decodeGreeting, decodeHello, decodeWelcome, encodeGreeting, encodeJson } from '../../src/remote/wire/handshake.js';
import { DeltaOpsReader, decodeRefine, encodeRefine } from '../../src/remote/wire/refine.js';
import { parseFinish } from '../../src/remote/wire/report.js';
import { SignatureAssembler } from '../../src/remote/wire/signature.js';
import { MultipartByteRangesParser } from '../../src/sources/http/multipart.js';
import { decodeManifest, encodeManifest, type Manifest } from '../../src/tree/manifest.js';
import { concat, randomBytes } from '../helpers/data.js';
import type { FuzzTarget } from './engine.js';

/** A text-like file (so the compressors and matchers have something to find). */
function text(n: number, seed: number): Uint8Array {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'function', 'return', '{', '}', '\n', 'const', '=', ';'];
  const r = randomBytes(n, seed);
  let s = '';
  for (let i = 0; s.length < n; i++) s += `${words[r[i % n]! % words.length]} `;
  return new Uint8Array(Buffer.from(s.slice(0, n)));
}

/** An edited copy: a few insertions, deletions and changed bytes. */
function edited(old: Uint8Array, seed: number): Uint8Array {
  const r = randomBytes(64, seed);
  const a = (r[0]! * 7) % old.length;
  const b = Math.min(old.length, a + 50 + r[1]!);
  return concat(old.subarray(0, a), randomBytes(30 + r[2]!, seed + 1), old.subarray(b), text(40, seed + 2));
}

/** The last 4 bytes made the CRC-32 of the ones before (the gosync index's trailer). */
function fixCrc(data: Uint8Array): Uint8Array {
  if (data.length < 4) return data;
  const out = Buffer.from(data);
  out.writeUInt32LE(crc32(out.subarray(0, out.length - 4)), out.length - 4);
  return new Uint8Array(out);
}

const BASE_NAME = (fill: number) => `x.bin.gosyncd-${fill.toString(16).padStart(2, '0').repeat(8)}`;

function publishedSamples(blockCount: number): PublishedForms[] {
  const frames = blockCount >= 3;
  const archive: GzipArchive = {
    kind: 'gzip',
    size: 12_345,
    sha256: new Uint8Array(32).fill(7),
    level: 9,
    memLevel: 8,
    strategy: 0,
    windowBits: 15,
    header: Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]),
    trailer: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
    payload: 'pkg.tgz.gosyncu',
  };
  return [
    {
      ...(frames
        ? {
            frames: {
              codec: 'zstd' as const,
              blocksPerFrame: Math.ceil(blockCount / 3),
              frameSizes: Uint32Array.from([700, 650, 300]),
              name: 'x.bin.gosyncz',
            },
          }
        : {}),
      whole: { codec: 'brotli', size: 1234, name: 'x.bin.gosync.br' },
      bases: [
        { baseSize: 19_000, baseSha256: new Uint8Array(32).fill(9), codec: 'gosync', size: 321, name: BASE_NAME(9) },
        { baseSize: 18_000, baseSha256: new Uint8Array(32).fill(7), codec: 'brotli', size: 400, name: BASE_NAME(7) },
      ],
    },
    { whole: { codec: 'zstd', size: 99, name: 'x.bin.gosync.zst' } },
    { archive, bases: [{ baseSize: 100, baseSha256: new Uint8Array(32).fill(1), codec: 'gosync', size: 50, name: BASE_NAME(1) }] },
  ];
}

/** A version 2 index (forms, no summary), as gosync wrote before version 3. */
function version2(index: BlockIndex, published: PublishedForms): Uint8Array {
  // Version 3's layout: no block digest (versions 5 and 6 add it after the records).
  const { blockDigest: _digest, ...bare } = index;
  const v3 = Buffer.from(encodeIndex({ ...bare, published }));
  // Version 3 = version 2's body + summary + CRC; rebuild version 2's trailer instead.
  const rec = index.weakBytes + index.strongBytes;
  const headerLen = 32 + Buffer.byteLength(index.url ?? '');
  const section = encodePublished(published, index.blockCount);
  const bodyEnd = headerLen + index.blockCount * rec + section.length + 4;
  const body = Buffer.from(v3.subarray(0, bodyEnd));
  body.writeUInt16LE(2, 8);
  const withSha = Buffer.concat([body, index.fileDigest.digest, Buffer.alloc(4)]);
  return fixCrc(withSha);
}

async function indexSeeds(): Promise<{ all: Uint8Array[]; sections: { data: Uint8Array; blockCount: number }[] }> {
  const all: Uint8Array[] = [];
  const sections: { data: Uint8Array; blockCount: number }[] = [];
  for (const [n, bs, seed] of [
    [3000, 256, 1],
    [0, 1024, 2],
    [5000, 1024, 3],
    [700, 16, 4],
  ] as const) {
    const data = text(n, seed);
    const plain = decodeIndex(await buildIndex(data, { fileSize: n, blockSize: bs }));
    all.push(encodeIndex(plain));
    all.push(encodeIndex({ ...plain, url: 'https://example.com/x.bin' }));
    for (const published of publishedSamples(plain.blockCount)) {
      if (published.archive && n === 0) continue;
      all.push(encodeIndex({ ...plain, published }));
      sections.push({ data: encodePublished(published, plain.blockCount), blockCount: plain.blockCount });
      if (!published.archive) all.push(version2(plain, published));
    }
  }
  return { all, sections };
}

async function gosyncTargets(): Promise<FuzzTarget[]> {
  const { all, sections } = await indexSeeds();
  const blockCountOf = new Map(sections.map((s) => [s.data, s.blockCount]));
  return [
    {
      name: 'gosync index (v1-v4)',
      seeds: all,
      run: (input) => decodeIndex(input, { maxBytes: 1 << 20 }),
      fix: fixCrc,
    },
    {
      name: 'gosync index summary',
      seeds: all.filter((s) => readIndexSummary(s.subarray(-80)) !== undefined).map((s) => s.subarray(-80)),
      run: (input) => readIndexSummary(input),
      fix: fixCrc,
    },
    {
      name: 'published forms section',
      seeds: sections.map((s) => s.data),
      // The block count comes from the header, which the section must agree with.
      run: (input) => decodePublished(input, blockCountOf.get(input) ?? 12),
    },
  ];
}

async function otherIndexTargets(): Promise<FuzzTarget[]> {
  const a = text(5000, 7);
  const zsync = [
    await buildZsync(a, { fileSize: a.length, urls: ['x.bin'], filename: 'x.bin', mtime: new Date(1_700_000_000_000) }),
    await buildZsync(a.subarray(0, 100), { fileSize: 100, urls: ['https://example.com/x.bin', 'y'] }),
    await buildZsync(a.subarray(0, 1), { fileSize: 1 }),
    await buildZsync(a, { fileSize: a.length, blockSize: 512, hashLengths: { seqMatches: 1, weakBytes: 4, strongBytes: 16 } }),
  ];
  const gosync = [encodeGoSyncV0Index(a, 512), encodeGoSyncV0Index(a.subarray(0, 10), 4), encodeGoSyncV0Index(new Uint8Array(0), 64)];
  const sigs = [
    encodeLibrsyncSignature(a, { blockLength: 256 }),
    encodeLibrsyncSignature(a, { hash: 'md4', rollsum: 'rollsum', blockLength: 512, strongLength: 8 }),
    encodeLibrsyncSignature(a, { hash: 'md4', rollsum: 'rabinkarp', blockLength: 100 }),
    encodeLibrsyncSignature(a.subarray(0, 300), { hash: 'blake2', rollsum: 'rollsum', blockLength: 64, strongLength: -1 }),
    encodeLibrsyncSignature(new Uint8Array(0), {}),
  ];
  return [
    { name: '.zsync', seeds: zsync, run: (input) => decodeZsync(input, { maxBytes: 1 << 20 }) },
    { name: 'go-sync index', seeds: gosync, run: (input) => goSyncV0AsBlockIndex(decodeGoSyncV0Index(input)) },
    {
      name: 'librsync signature',
      seeds: sigs,
      run: (input) => librsyncToBlockIndex(decodeLibrsyncSignature(input, { maxBytes: 1 << 20 })),
    },
  ];
}

/** The payload of a librsync delta file: the delta in brotli, then that stream's length (u64 LE). */
function librsyncPayload(delta: Uint8Array): Uint8Array {
  const z = brotliCompressSync(delta);
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(z.length));
  return concat(z, n);
}

/** A librsync delta file with its trailer made to match its length again. */
function fixLibrsyncTrailer(file: Uint8Array): Uint8Array {
  if (file.length < 9) return file;
  const out = Buffer.from(file);
  out.writeBigUInt64LE(BigInt(file.length - 9), file.length - 8);
  return new Uint8Array(out);
}

/** A sink that keeps nothing. */
const nullSink = { write: async (_chunk: Uint8Array): Promise<void> => {} };

async function deltaTargets(dir: string): Promise<FuzzTarget[]> {
  const old = text(6000, 11);
  const next = edited(old, 12);
  const basisPath = join(dir, 'fuzz-basis');
  await writeFile(basisPath, old);
  const sig = decodeLibrsyncSignature(encodeLibrsyncSignature(old, { blockLength: 256, hash: 'md4', rollsum: 'rollsum' }));
  const librsync = [encodeLibrsyncDelta(sig, next), encodeLibrsyncDelta(sig, old), encodeLibrsyncDelta(sig, new Uint8Array(0))];
  const newSizes = new Map<Uint8Array, number>();
  const kinds = ['zstd', 'lz', 'bsdiff'] as const;
  const files: Record<string, Uint8Array[]> = {};
  for (const kind of [...kinds, 'librsync'] as const) {
    files[kind] = [];
    for (const [o, n] of [
      [old, next],
      [old, old],
      [old, new Uint8Array(0)],
      [old, text(500, 13)],
    ] as const) {
      const payload = kind === 'librsync' ? librsyncPayload(encodeLibrsyncDelta(sig, n)) : await encodeDeltaPayload(kind, o, n);
      const file = deltaFile(kind, payload);
      newSizes.set(file, n.length);
      files[kind]!.push(file);
    }
  }
  // Kind 3: the lz format's version 1, no longer written, still read.
  files.lzVersion1 = [
    [old, next],
    [old, old],
    [old, text(500, 13)],
  ].map(([o, n]) => {
    const file = Uint8Array.from([3, ...encodeLzDelta(o!, n!, { version: 1 })]);
    newSizes.set(file, n!.length);
    return file;
  });
  const apply = (basis: string | Uint8Array) => async (input: Uint8Array) =>
    // The size the index states; the seeds' own, else the next version's.
    applyDeltaFile(input, basis, nullSink, { newSize: newSizes.get(input) ?? next.length });
  return [
    {
      name: 'librsync delta',
      seeds: librsync,
      run: (input) => {
        decodeLibrsyncDelta(input);
        return applyLibrsyncDelta(old, input);
      },
    },
    { name: 'rdiff patch (file)', seeds: librsync, run: (input) => rdiffPatchInto(basisPath, input, nullSink) },
    { name: 'delta file: zstd', seeds: files.zstd!, run: apply(old) },
    { name: 'delta file: lz', seeds: files.lz!, run: apply(old) },
    { name: 'delta file: lz version 1 (kind 3)', seeds: files.lzVersion1, run: apply(old) },
    { name: 'delta file: bsdiff', seeds: files.bsdiff!, run: apply(old) },
    { name: 'delta file: bsdiff (base file)', seeds: files.bsdiff!, run: apply(basisPath) },
    { name: 'delta file: librsync', seeds: files.librsync!, run: apply(basisPath), fix: fixLibrsyncTrailer },
    // The kind byte of any delta changed to librsync, with a base in memory.
    { name: 'delta file: any kind (base in memory)', seeds: Object.values(files).flat(), run: apply(old) },
  ];
}

function manifestTarget(): FuzzTarget {
  const sha = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
  const m: Manifest = {
    version: 1,
    entries: [
      { type: 'dir', path: 'a', mode: 0o755, mtime: 1_700_000_000 },
      { type: 'file', path: 'a/x.bin', size: 1234, mode: 0o644, mtime: 1_700_000_001, sha256: sha(1) },
      {
        type: 'file',
        path: 'a/y.txt',
        size: 99,
        mode: 0o600,
        mtime: 1_700_000_002,
        sha256: sha(2),
        index: 'compressed',
        br: 50,
        bases: [{ sha256: sha(3), size: 80, delta: 20 }],
      },
      { type: 'symlink', path: 'a/l', target: 'x.bin', mtime: 1_700_000_003 },
      { type: 'file', path: 'empty', size: 0, mode: 0o644, mtime: 0, sha256: sha(4) },
    ],
  };
  const seeds = [
    encodeManifest(m),
    encodeManifest({ version: 1, entries: [] }),
    encodeManifest({ version: 1, entries: m.entries.slice(0, 2) }),
  ];
  return { name: 'folder manifest', seeds, run: (input) => decodeManifest(input, { maxBytes: 1 << 20 }) };
}

function multipartTarget(): FuzzTarget {
  const body = (crlf: string, parts: [number, number][]): Uint8Array => {
    let s = `preamble${crlf}`;
    for (const [a, b] of parts) {
      s += `--BOUND${crlf}Content-Type: application/octet-stream${crlf}Content-Range: bytes ${a}-${b - 1}/1000${crlf}${crlf}`;
      s += `${'x'.repeat(b - a)}${crlf}`;
    }
    return new Uint8Array(Buffer.from(`${s}--BOUND--${crlf}`, 'latin1'));
  };
  const seeds = [
    body('\r\n', [
      [0, 10],
      [100, 150],
    ]),
    body('\n', [[5, 6]]),
    body('\r\n', [
      [0, 1],
      [2, 3],
      [900, 1000],
    ]),
  ];
  return {
    name: 'multipart body',
    seeds,
    run: (input) => {
      const p = new MultipartByteRangesParser('BOUND', 'http://fuzz/', { within: { start: 0, end: 1000 }, maxPartBytes: 4096 });
      // In two chunks, split where the input's first byte says.
      const cut = input.length > 0 ? input[0]! % (input.length + 1) : 0;
      p.push(input.subarray(0, cut));
      p.push(input.subarray(cut));
      p.finish();
    },
  };
}

/** A payload led by its frame type: the decoder of that frame reads the rest. */
function decodePayload(input: Uint8Array): unknown {
  if (input.length === 0) return undefined;
  const type = input[0]!;
  const payload = input.subarray(1);
  switch (type) {
    case 0:
      return decodeGreeting(payload, 'server');
    case FrameType.HELLO:
      return decodeHello(payload);
    case FrameType.WELCOME:
      return decodeWelcome(payload);
    case FrameType.FILES:
      return decodeFileBatch(payload);
    case FrameType.REFINE:
      return decodeRefine(payload, (i) => (i < 4 ? 100_000 : undefined));
    case FrameType.DELTA_DATA: {
      const r = new DeltaOpsReader(() => {});
      r.push(payload);
      r.end();
      return r;
    }
    case FrameType.SIG: {
      // The records in a SIG frame and, past its first byte's worth of 12-byte records, a SIG_MORE.
      const a = new SignatureAssembler();
      const header = 8;
      const cut = Math.min(payload.length, header + 12 * ((payload[payload.length - 1] ?? 0) % 5));
      return a.first(payload.subarray(0, cut)) ?? a.more(payload.subarray(cut));
    }
    case FrameType.FINISH:
      return parseFinish(payload);
    default:
      // An ERROR frame never throws: it becomes the error it reports.
      return decodeError(payload, 'the fuzzer');
  }
}

function wireTargets(): FuzzTarget[] {
  const lead = (type: number, payload: Uint8Array) => concat(Uint8Array.of(type), payload);
  const files = new FileListEncoder();
  files.add({ type: 'dir', path: 'a', mode: 0o755, mtime: 1_700_000_000 } as never);
  files.add({ type: 'file', path: 'a/b.bin', mode: 0o644, mtime: 1_700_000_000, size: 1234 } as never);
  files.add({ type: 'symlink', path: 'a/c', mode: 0o777, mtime: 1_700_000_001, target: 'b.bin' } as never);
  const batch = files.take()!;
  const old = text(3000, 21);
  const sig = decodeLibrsyncSignature(
    encodeLibrsyncSignature(old, { blockLength: 256, hash: 'md4', rollsum: 'rabinkarp', strongLength: 8 }),
  );
  const delta = encodeLibrsyncDelta(sig, edited(old, 22));
  // SIG: file index, flags, algorithm (1), basis size, block length, strong length, records.
  const sigPayload = new ByteWriter(64).varint(3).u8(0).u8(1).varint(1000).varint(256).u8(8).finish();
  const records = randomBytes(4 * 12, 23);
  const payloads = [
    lead(0, encodeGreeting({ maxVersion: 2, minVersion: 1, role: 'server', readOnly: false })),
    lead(FrameType.HELLO, encodeJson({ op: 'push', path: 'dest/dir', delete: true, dryRun: false })),
    lead(FrameType.HELLO, encodeJson({ op: 'pull', path: '.', filter: [{ kind: 'exclude', pattern: '*.o' }], deleteExcluded: true })),
    lead(FrameType.WELCOME, encodeJson({ readOnly: false, filters: true })),
    lead(FrameType.FILES, batch),
    lead(
      FrameType.REFINE,
      encodeRefine(2, [
        { start: 0, length: 500 },
        { start: 1000, length: 3000 },
      ]),
    ),
    lead(FrameType.DELTA_DATA, delta),
    lead(FrameType.SIG, concat(sigPayload, records)),
    lead(
      FrameType.FINISH,
      encodeJson({
        files: 3,
        changed: 1,
        deleted: 0,
        literalBytes: 10,
        matchedBytes: 100,
        transferredFileBytes: 110,
        dryRun: false,
        changedPaths: ['a/b.bin'],
        deletedPaths: [],
      }),
    ),
    lead(FrameType.ERROR, encodeJson({ code: 'GOSYNC_ERR_IO', message: 'Cannot write x: ENOSPC' })),
  ];
  const stream = concat(
    encodeFrame(FrameType.HELLO, payloads[1]!.subarray(1)),
    encodeFrame(FrameType.FILES, batch),
    encodeFrame(FrameType.FILES_END),
    encodeFrame(FrameType.DELTA, new ByteWriter(8).varint(1).finish()),
    encodeFrame(FrameType.DELTA_DATA, delta),
    encodeFrame(FrameType.FINISH, payloads[8]!.subarray(1)),
  );
  return [
    { name: 'ssh frame payloads', seeds: payloads, run: decodePayload },
    {
      name: 'ssh frame stream',
      seeds: [
        stream,
        encodeFrame(FrameType.FILES_END),
        concat(encodeFrame(FrameType.WELCOME, payloads[3]!.subarray(1)), encodeFrame(FrameType.ERROR, payloads[9]!.subarray(1))),
      ],
      run: (input) => {
        const p = new FrameParser('the fuzzer', 64 * 1024);
        const cut = input.length > 0 ? input[input.length - 1]! % (input.length + 1) : 0;
        const frames = [...p.push(input.subarray(0, cut)), ...p.push(input.subarray(cut))];
        p.end();
        for (const f of frames) decodePayload(concat(Uint8Array.of(f.type), f.payload));
      },
    },
  ];
}

/** Every target; `dir` is a folder for the basis files the file-based appliers read. */
export async function makeTargets(dir: string): Promise<FuzzTarget[]> {
  return [
    ...(await gosyncTargets()),
    ...(await otherIndexTargets()),
    ...(await deltaTargets(dir)),
    manifestTarget(),
    multipartTarget(),
    ...wireTargets(),
  ];
}
