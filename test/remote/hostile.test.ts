/**
 * Hostile peers: a scripted client that speaks the protocol but lies (paths that leave
 * the destination, an entry under a link, oversized and unknown frames, deltas that copy
 * past the old file, wrong checksums, corrupt compression), against the real server end;
 * and a scripted receiver against the real sending end. Every case must end the session
 * with a clear SyncError, and nothing may be written: no file outside the destination,
 * the destination as it was, no temporary files left.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { brotliCompressSync, constants as zc, createZstdCompress, zstdCompressSync } from 'node:zlib';
import { ErrorCodes, SyncError, type ErrorCode } from '../../src/core/errors.js';
import { LibrsyncDeltaEncoder } from '../../src/formats/librsync-delta.js';
import { ByteReader, ByteWriter } from '../../src/remote/wire/binary.js';
import { Channel } from '../../src/remote/wire/channel.js';
import { FileListEncoder, decodeFileBatch, type ListEntry } from '../../src/remote/wire/file-list.js';
import { FrameType, encodeFrame, type Frame } from '../../src/remote/wire/frames.js';
import { encodeGreeting, encodeJson } from '../../src/remote/wire/handshake.js';
import { serveSession } from '../../src/remote/serve-stdio.js';
import { SIG_REDO, SIG_RABINKARP_MD4 } from '../../src/remote/wire/signature.js';
import { memoryPipe } from '../../src/remote/transport.js';
import { describe, leftovers, makeTree, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-hostile-'));
});
after(() => cleanup());

const T = Date.UTC(2024, 5, 1);

let n = 0;
/** A fresh server root holding `dst/f` (10 bytes), and a folder next to it that must stay untouched. */
async function setup(): Promise<{ root: string; outside: string }> {
  n++;
  const root = join(dir, `root${n}`);
  const outside = join(dir, `outside${n}`);
  await makeTree(root, { 'dst/f': { data: '0123456789', mtime: T }, 'dst/keep': { data: 'keep', mtime: T } });
  await makeTree(outside, { 'victim.txt': 'untouched' });
  return { root, outside };
}

function entries(...list: Partial<ListEntry>[]): Uint8Array {
  const enc = new FileListEncoder();
  for (const e of list) enc.add({ path: '', type: 'file', mode: 0o644, mtime: T, size: 0, ...e } as ListEntry);
  return enc.take()!;
}

const rootDir: Partial<ListEntry> = { path: '', type: 'dir', mode: 0o755 };

function sha(data: string | Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest();
}

function deltaEnd(size: number, digest: Uint8Array): Uint8Array {
  return new ByteWriter(48).varint(size).bytes(digest).finish();
}

/**
 * Runs a scripted client against a real server end (push into `path` of `root`).
 * `script` gets the client's channel after the handshake; its outgoing side is
 * compressed unless `raw` (then the script writes the compressed stream itself).
 * Resolves with the server's error (or undefined when it succeeded).
 */
async function fakeClient(
  root: string,
  op: 'push' | 'pull',
  path: string,
  script: (ch: Channel) => Promise<void>,
  options: { raw?: boolean; readOnly?: boolean; version?: number; hello?: Record<string, unknown> } = {},
): Promise<unknown> {
  // Version 1 (brotli) unless asked: the scripts' compressed bytes are brotli.
  const version = options.version ?? 1;
  const [mine, theirs] = memoryPipe();
  const server = serveSession(theirs, { root, readOnly: options.readOnly ?? false }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const ch = new Channel(mine, { peer: 'the server' });
  await ch.writeRaw(encodeGreeting({ role: 'client', maxVersion: version, minVersion: 1, readOnly: false }));
  await ch.send(FrameType.HELLO, encodeJson({ op, path, delete: false, dryRun: false, ...options.hello }));
  ch.expectGreeting('server', { maxVersion: version, minVersion: 1 });
  if (op === 'push' && !options.raw) {
    await ch.greeted();
    ch.compressOutgoing();
  }
  if (op === 'pull') ch.decompressAfter((f) => f.type === FrameType.WELCOME);
  ch.expectFirst(FrameType.WELCOME, () => {});
  // The script's own sends and reads may fail once the server gives up; its assertions must not.
  let failed: { err: unknown } | undefined;
  await script(ch).catch((err: unknown) => {
    if (err instanceof assert.AssertionError) failed = { err };
  });
  // The server has failed by now, or finished: close this end so it never waits for more.
  await ch.abort();
  if (failed) throw failed.err;
  return server;
}

function check(err: unknown, code: ErrorCode, message: RegExp): void {
  assert.ok(SyncError.is(err), `expected a SyncError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.match(err.message, message);
}

/** The destination and the outside folder are as they were, and no temporary file is left. */
async function intact(root: string, outside: string): Promise<void> {
  assert.deepEqual(await describe(join(root, 'dst'), { times: false }), {
    '.': 'dir:755',
    f: `file:${createHash('sha256').update('0123456789').digest('hex').slice(0, 16)}:10:644`,
    keep: `file:${createHash('sha256').update('keep').digest('hex').slice(0, 16)}:4:644`,
  });
  assert.equal(await readFile(join(outside, 'victim.txt'), 'utf8'), 'untouched');
  assert.deepEqual(await leftovers(root), []);
  assert.deepEqual((await readdir(root)).sort(), ['dst']);
}

/** Sends the file list and waits for the server's first SIG (or its failure). */
async function sendList(ch: Channel, payload: Uint8Array, count: number): Promise<Frame | undefined> {
  await ch.send(FrameType.FILES, payload);
  await ch.send(FrameType.FILES_END, new ByteWriter().varint(count).finish());
  ch.flush();
  return ch.next();
}

test('a path with .. is refused before anything is written', async () => {
  const { root, outside } = await setup();
  const err = await fakeClient(root, 'push', 'dst', async (ch) => {
    await sendList(ch, entries(rootDir, { path: `../../outside${n}/victim.txt`, size: 6 }), 2);
  });
  check(err, ErrorCodes.UNSAFE_PATH, /Cannot use the listed path "\.\.\/\.\.\/outside\d+\/victim\.txt": it has a "\.\." component/);
  await intact(root, outside);
});

test('an absolute path is refused', async () => {
  const { root, outside } = await setup();
  const err = await fakeClient(root, 'push', 'dst', async (ch) => {
    await sendList(ch, entries(rootDir, { path: join(outside, 'victim.txt'), size: 6 }), 2);
  });
  check(err, ErrorCodes.UNSAFE_PATH, /it is absolute/);
  await intact(root, outside);
});

test("a push's seeds are the server's files inside its root: a seed out of it, absolute or under a link is refused", async () => {
  const { root, outside } = await setup();
  await symlink(outside, join(root, 'via-link'));
  for (const [seed, message] of [
    [`../outside${n}/victim.txt`, /"\.\." component/],
    [join(outside, 'victim.txt'), /absolute/],
    ['via-link/victim.txt', /symbolic link/],
  ] as const) {
    const err = await fakeClient(root, 'push', 'dst', (ch) => ch.next().then(() => {}), { hello: { seeds: [seed] } });
    check(err, ErrorCodes.UNSAFE_PATH, message);
  }
  // Not a list of paths: a protocol error.
  check(await fakeClient(root, 'push', 'dst', (ch) => ch.next().then(() => {}), { hello: { seeds: 'x' } }), ErrorCodes.PROTOCOL, /"seeds"/);
  await unlink(join(root, 'via-link'));
  await intact(root, outside);
});

test('an entry under a listed link is refused (the link would be written through)', async () => {
  const { root, outside } = await setup();
  const err = await fakeClient(root, 'push', 'dst', async (ch) => {
    await sendList(ch, entries(rootDir, { path: 'lnk', type: 'symlink', target: outside }, { path: 'lnk/victim.txt', size: 6 }), 3);
  });
  check(err, ErrorCodes.UNSAFE_PATH, /Cannot use the listed path "lnk\/victim\.txt": "lnk" is a link, not a folder/);
  await intact(root, outside);
});

test('an entry under a folder not listed before it, a duplicate, a list not starting with the source: refused', async () => {
  const cases: [Partial<ListEntry>[], ErrorCode, RegExp][] = [
    [[rootDir, { path: 'a/b', size: 1 }], ErrorCodes.UNSAFE_PATH, /"a" is not listed before it/],
    [[rootDir, { path: 'x', size: 1 }, { path: 'x', size: 1 }], ErrorCodes.PROTOCOL, /it lists "x" twice/],
    [[{ path: 'f', size: 1 }], ErrorCodes.PROTOCOL, /its first entry is "f", not the source itself/],
    [
      [
        { path: '', type: 'file', size: 1 },
        { path: 'x', size: 1 },
      ],
      ErrorCodes.UNSAFE_PATH,
      /the source is a file, not a folder/,
    ],
  ];
  for (const [list, code, re] of cases) {
    const { root, outside } = await setup();
    const err = await fakeClient(root, 'push', 'dst', async (ch) => {
      await sendList(ch, entries(...list), list.length);
    });
    check(err, code, re);
    await intact(root, outside);
  }
});

test('an oversized frame is refused from its header; so are unknown types and corrupt compression', async () => {
  const cases: [Uint8Array, RegExp][] = [
    [
      brotliCompressSync(Buffer.from([FrameType.FILES, 0x7f, 0xff, 0xff, 0xff])),
      /FILES frame at byte 0 announces 2147483647 bytes, over the limit of 1048576/,
    ],
    [brotliCompressSync(Buffer.from([0x55, 0, 0, 0, 0])), /unknown type 0x55/],
    [Buffer.from('this is not brotli at all, not even close'), /Cannot read the compressed stream from the client/],
  ];
  for (const [bytes, re] of cases) {
    const { root, outside } = await setup();
    const err = await fakeClient(
      root,
      'push',
      'dst',
      async (ch) => {
        await ch.writeRaw(bytes);
        await ch.next();
      },
      { raw: true },
    );
    check(err, ErrorCodes.PROTOCOL, re);
    await intact(root, outside);
  }
});

test('frames out of place are refused: a delta nobody asked for, data without a delta, a SIG from the sender', async () => {
  const scripts: [(ch: Channel) => Promise<void>, RegExp][] = [
    [async (ch) => ch.send(FrameType.DELTA, new ByteWriter().varint(1).finish()), /entry 1 was not asked for/],
    [async (ch) => ch.send(FrameType.DELTA_DATA, new Uint8Array(3)), /no delta is in progress/],
    [async (ch) => ch.send(FrameType.SIG, new Uint8Array(3)), /a SIG frame is not expected from the sending end/],
    [async (ch) => ch.send(FrameType.FILES_END, new ByteWriter().varint(7).finish()), /FILES_END counts 7 entries, 0 were listed/],
  ];
  for (const [script, re] of scripts) {
    const { root, outside } = await setup();
    const err = await fakeClient(root, 'push', 'dst', async (ch) => {
      await script(ch);
      ch.flush();
      await ch.next();
    });
    check(err, ErrorCodes.PROTOCOL, re);
    await intact(root, outside);
  }
});

test('a delta that copies past the end of the old file: DELTA_CORRUPT, the file intact', async () => {
  const { root, outside } = await setup();
  const err = await fakeClient(root, 'push', 'dst', async (ch) => {
    const sig = await sendList(ch, entries(rootDir, { path: 'f', size: 20 }, { path: 'keep', size: 4 }), 3);
    assert.equal(sig?.type, FrameType.SIG);
    const e = new LibrsyncDeltaEncoder();
    e.copy(5, 100);
    e.end();
    await ch.send(FrameType.DELTA, new ByteWriter().varint(1).finish());
    await ch.send(FrameType.DELTA_DATA, e.take());
    await ch.send(FrameType.DELTA_END, deltaEnd(100, sha('x')));
    ch.flush();
    await ch.next();
  });
  check(err, ErrorCodes.DELTA_CORRUPT, /a COPY of 100 bytes at 5 goes past the end of the 10-byte basis/);
  await intact(root, outside);
});

test('a wrong checksum is retried once with full-length sums; a second one is FILE_MISMATCH', async () => {
  const content = 'new content of f';
  const literal = (data: string) => {
    const e = new LibrsyncDeltaEncoder();
    e.literal(Buffer.from(data));
    e.end();
    return e.take();
  };
  const sendDelta = async (ch: Channel, data: string, digest: Uint8Array) => {
    await ch.send(FrameType.DELTA, new ByteWriter().varint(1).finish());
    await ch.send(FrameType.DELTA_DATA, literal(data));
    await ch.send(FrameType.DELTA_END, deltaEnd(Buffer.byteLength(data), digest));
    ch.flush();
  };
  // Wrong twice.
  const { root, outside } = await setup();
  let redo: Frame | undefined;
  const err = await fakeClient(root, 'push', 'dst', async (ch) => {
    await sendList(ch, entries(rootDir, { path: 'f', size: content.length }, { path: 'keep', size: 4 }), 3);
    await sendDelta(ch, content, sha('something else'));
    redo = await ch.next();
    while (redo?.type === FrameType.SIG && new ByteReader(redo.payload, 'SIG').varint('index') !== 1) redo = await ch.next();
    await sendDelta(ch, content, sha('still wrong'));
    await ch.next();
  });
  assert.equal(redo?.type, FrameType.SIG);
  const r = new ByteReader(redo!.payload, 'SIG');
  assert.equal(r.varint('index'), 1);
  assert.equal(r.u8('flags') & SIG_REDO, SIG_REDO);
  assert.equal(r.u8('algorithm'), SIG_RABINKARP_MD4);
  check(err, ErrorCodes.FILE_MISMATCH, /twice the result did not match the sender's size and SHA-256/);
  await intact(root, outside);

  // Wrong once, then right: accepted.
  const second = await setup();
  let finish: Frame | undefined;
  const ok = await fakeClient(second.root, 'push', 'dst', async (ch) => {
    await sendList(ch, entries(rootDir, { path: 'f', size: content.length }, { path: 'keep', size: 4 }), 3);
    await sendDelta(ch, content, sha('wrong'));
    await ch.next();
    await sendDelta(ch, content, sha(content));
    finish = await ch.next();
    await ch.end();
  });
  assert.equal(ok, undefined);
  assert.equal(finish?.type, FrameType.FINISH);
  assert.equal(await readFile(join(second.root, 'dst/f'), 'utf8'), content);
  assert.deepEqual(await leftovers(second.root), []);
});

test('the server confines HELLO paths to its root and refuses pushes when read-only', async () => {
  const { root, outside } = await setup();
  await symlink(outside, join(root, 'lnk'));
  const cases: [string, ErrorCode, RegExp, boolean?][] = [
    [
      '../outside',
      ErrorCodes.UNSAFE_PATH,
      /Cannot use the requested path "\.\.\/outside": it has a "\.\." component; this server only serves paths inside its root folder/,
    ],
    [outside, ErrorCodes.UNSAFE_PATH, /it is absolute/],
    ['lnk/x', ErrorCodes.UNSAFE_PATH, /lnk is a symbolic link, and gosync never writes through links/],
    ['dst', ErrorCodes.REFUSED, /Cannot write .*dst: the server is read-only \(serve --read-only\)/, true],
  ];
  for (const [path, code, re, readOnly] of cases) {
    const err = await fakeClient(
      root,
      'push',
      path,
      async (ch) => {
        await ch.next();
      },
      { readOnly: readOnly ?? false },
    );
    check(err, code, re);
  }
  // Pulls through a link inside the root are refused too (a read-only server serves pulls);
  // pulling the link itself gets the link, not what it points to.
  check(
    await fakeClient(root, 'pull', 'lnk/victim.txt', async (ch) => void (await ch.next()), { readOnly: true }),
    ErrorCodes.UNSAFE_PATH,
    /symbolic link/,
  );
  let first: Frame | undefined;
  await fakeClient(
    root,
    'pull',
    'lnk',
    async (ch) => {
      first = await ch.next();
    },
    { readOnly: true },
  );
  assert.equal(first?.type, FrameType.FILES);
  assert.deepEqual(
    decodeFileBatch(first!.payload).map((e) => [e.path, e.type, e.target]),
    [['', 'symlink', outside]],
  );
  assert.equal(await readFile(join(outside, 'victim.txt'), 'utf8'), 'untouched');
});

test('a hostile receiver: signatures for entries that are not files, too large, twice, or oversized frames', async () => {
  const sigPayload = (index: number, basisSize: number, blockLength: number, records = new Uint8Array(0)) =>
    Buffer.concat([
      new ByteWriter().varint(index).u8(1).u8(SIG_RABINKARP_MD4).varint(basisSize).varint(blockLength).u8(4).finish(),
      records,
    ]);
  const cases: [(ch: Channel) => Promise<void>, RegExp][] = [
    [async (ch) => ch.send(FrameType.SIG, sigPayload(0, 0, 512)), /it is for entry 0, which is not a file of the list/],
    [async (ch) => ch.send(FrameType.SIG, sigPayload(99, 0, 512)), /it is for entry 99, which is not a file of the list/],
    [async (ch) => ch.send(FrameType.SIG, sigPayload(1, 2 ** 50, 1)), /over the limit of 268435456/],
    [async (ch) => ch.send(FrameType.SIG, sigPayload(1, 100, 64, new Uint8Array(7))), /not a whole number of 8-byte records/],
    [async (ch) => ch.send(FrameType.SIG_MORE, new Uint8Array(8)), /no signature is in progress/],
    [
      async (ch) => {
        await ch.send(FrameType.SIG, sigPayload(1, 0, 512));
        await ch.send(FrameType.SIG, sigPayload(1, 0, 512));
      },
      /asks for "f" when it may not/,
    ],
    [
      async (ch) => ch.writeRaw(new Uint8Array([FrameType.SIG, 0x40, 0, 0, 0])),
      /SIG frame at byte \d+ announces 1073741824 bytes, over the limit/,
    ],
    [async (ch) => ch.send(FrameType.DELTA, new Uint8Array(1)), /a DELTA frame is not expected from the receiving end/],
  ];
  for (const [script, re] of cases) {
    const { root } = await setup();
    const err = await fakeClient(root, 'pull', 'dst', async (ch) => {
      // Read the file list (entry 1 is "f"), then misbehave.
      for (;;) {
        const f = await ch.next();
        if (!f || f.type === FrameType.FILES_END) break;
      }
      await script(ch);
      for (;;) if (!(await ch.next())) break;
    });
    check(err, ErrorCodes.PROTOCOL, re);
  }
});

test('an ERROR frame from the peer ends the session with its code and message', async () => {
  const { root, outside } = await setup();
  const err = await fakeClient(root, 'push', 'dst', async (ch) => {
    await ch.send(FrameType.ERROR, encodeJson({ code: ErrorCodes.IO, message: 'Cannot read /home/u/x: disk on fire' }));
    ch.flush();
    await ch.next();
  });
  check(err, ErrorCodes.IO, /^Cannot read \/home\/u\/x: disk on fire \(reported by the client\)$/);
  await intact(root, outside);
});

test('the server speaks zstd with a version 2 client and brotli with a version 1 client: both pushes land', async () => {
  const content = 'new content of f, sent as literal data';
  for (const version of [1, 2]) {
    const { root } = await setup();
    let finish: Frame | undefined;
    const err = await fakeClient(
      root,
      'push',
      'dst',
      async (ch) => {
        assert.equal(ch.version, version);
        const sig = await sendList(ch, entries(rootDir, { path: 'f', size: content.length }, { path: 'keep', size: 4 }), 3);
        assert.equal(sig?.type, FrameType.SIG);
        const e = new LibrsyncDeltaEncoder();
        e.literal(Buffer.from(content));
        e.end();
        await ch.send(FrameType.DELTA, new ByteWriter().varint(1).finish());
        await ch.send(FrameType.DELTA_DATA, e.take());
        await ch.send(FrameType.DELTA_END, deltaEnd(content.length, sha(content)));
        ch.flush();
        finish = await ch.next();
        await ch.end();
      },
      { version },
    );
    assert.equal(err, undefined, `version ${version}: ${String(err)}`);
    assert.equal(finish?.type, FrameType.FINISH);
    assert.equal(await readFile(join(root, 'dst/f'), 'utf8'), content);
    assert.deepEqual(await leftovers(root), []);
  }
});

test('version 2: oversized or unknown frames inside zstd, corrupt zstd, brotli, and a zstd window over 16 MiB are refused', async () => {
  const wideWindow = await new Promise<Buffer>((resolve) => {
    // A streaming frame declares its window (64 MiB here) in its header.
    const z = createZstdCompress({ params: { [zc.ZSTD_c_windowLog]: 26 } });
    const parts: Buffer[] = [];
    z.on('data', (c: Buffer) => parts.push(c));
    z.on('end', () => resolve(Buffer.concat(parts)));
    z.end(Buffer.concat([encodeFrame(FrameType.FILES_END, new Uint8Array([0]))]));
  });
  const valid = zstdCompressSync(Buffer.from(new Uint8Array(2000).fill(7)));
  const cases: [Uint8Array, RegExp][] = [
    [
      zstdCompressSync(Buffer.from([FrameType.FILES, 0x7f, 0xff, 0xff, 0xff])),
      /FILES frame at byte 0 announces 2147483647 bytes, over the limit of 1048576/,
    ],
    [zstdCompressSync(Buffer.from([0x55, 0, 0, 0, 0])), /unknown type 0x55/],
    [Buffer.from('this is not zstd at all, not even close'), /Cannot read the compressed stream from the client/],
    [brotliCompressSync(Buffer.from([FrameType.FILES_END, 0, 0, 0, 1, 0])), /Cannot read the compressed stream from the client/],
    [wideWindow, /Cannot read the compressed stream from the client.*(memory|window)/i],
    // A valid frame header, then its block header damaged (a reserved block type).
    [Buffer.concat([valid.subarray(0, 6), Buffer.from([0xff, 0xff, 0xff]), valid.subarray(9)]), /Cannot read the compressed stream/],
  ];
  for (const [bytes, re] of cases) {
    const { root, outside } = await setup();
    const err = await fakeClient(
      root,
      'push',
      'dst',
      async (ch) => {
        await ch.writeRaw(bytes);
        await ch.next();
      },
      { raw: true, version: 2 },
    );
    check(err, ErrorCodes.PROTOCOL, re);
    await intact(root, outside);
  }
});
