/**
 * The framed channel on its own, over in-memory streams: frames gathered into one write
 * (and a large batch written at once), the compressed direction made readable by a
 * flush, backpressure from a transport that does not take more, a peer that closes
 * (cleanly or inside a frame), a peer's ERROR preferred over the broken connection it
 * left, a local failure reported to the peer, and an abort.
 */
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { brotliDecompressSync, zstdDecompressSync } from 'node:zlib';
import { ErrorCodes, SyncError, type ErrorCode } from '../../../src/core/errors.js';
import { memoryPipe } from '../../../src/remote/transport.js';
import {
  Channel,
  DEFAULT_ZSTD_LEVEL,
  LARGE_STREAM_BYTES,
  LARGE_STREAM_ZSTD_LEVEL,
  streamCompression,
  type Transport,
} from '../../../src/remote/wire/channel.js';
import { FrameParser, FrameType, encodeFrame, type Frame } from '../../../src/remote/wire/frames.js';
import { PROTOCOL_VERSION, ZSTD_VERSION, decodeError, encodeError, encodeGreeting } from '../../../src/remote/wire/handshake.js';

/** A transport whose output records each write; `hold` keeps write callbacks until `release`. */
function recordingTransport(options: { hold?: boolean; highWaterMark?: number } = {}) {
  const writes: Buffer[] = [];
  const held: (() => void)[] = [];
  const input = new PassThrough();
  let closed = 0;
  const output = new Writable({
    highWaterMark: options.highWaterMark ?? 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      writes.push(Buffer.from(chunk));
      if (options.hold) held.push(() => cb());
      else cb();
    },
  });
  const transport: Transport = {
    input,
    output,
    async close() {
      closed++;
      input.destroy();
      if (!output.writableEnded) output.destroy();
    },
  };
  return {
    transport,
    input,
    writes,
    get closed() {
      return closed;
    },
    release() {
      for (const cb of held.splice(0)) cb();
    },
  };
}

function frames(bytes: Uint8Array): Frame[] {
  const p = new FrameParser('a test stream');
  const got = p.push(bytes);
  p.end();
  return got;
}

function isCode(code: ErrorCode, re?: RegExp) {
  return (err: unknown) => SyncError.is(err) && err.code === code && (re === undefined || re.test(err.message));
}

/** Lets pending callbacks and scheduled writes run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

test('small frames sent in one turn go out in one write, in order; the batch is written at end()', async () => {
  const t = recordingTransport();
  const ch = new Channel(t.transport, { peer: 'the test' });
  await ch.send(FrameType.FILES, new Uint8Array([1, 2, 3]));
  await ch.send(FrameType.FILES_END, new Uint8Array([3]));
  await ch.send(FrameType.DELTA, new Uint8Array([7]));
  // Nothing is written while the turn goes on: the frames wait to be written together.
  assert.equal(t.writes.length, 0);
  await ch.end();
  assert.equal(t.writes.length, 1);
  assert.deepEqual(
    frames(t.writes[0]!).map((f) => [f.type, [...f.payload]]),
    [
      [FrameType.FILES, [1, 2, 3]],
      [FrameType.FILES_END, [3]],
      [FrameType.DELTA, [7]],
    ],
  );
  assert.equal(ch.bytesOut, t.writes[0]!.length);
  await assert.rejects(ch.send(FrameType.FINISH), isCode(ErrorCodes.NETWORK, /the session is over/));
});

test('a batch of 64 KiB or more is written before send() resolves', async () => {
  const t = recordingTransport();
  const ch = new Channel(t.transport, { peer: 'the test' });
  await ch.send(FrameType.DELTA_DATA, new Uint8Array(70_000).fill(9));
  assert.equal(t.writes.length, 1);
  const [f] = frames(t.writes[0]!);
  assert.equal(f?.type, FrameType.DELTA_DATA);
  assert.equal(f?.payload.length, 70_000);
  await ch.end();
});

test('a transport that takes no more stalls the writer until it drains', async () => {
  const t = recordingTransport({ hold: true, highWaterMark: 1024 });
  const ch = new Channel(t.transport, { peer: 'the test' });
  let sent = false;
  const sending = ch.send(FrameType.DELTA_DATA, new Uint8Array(100_000)).then(() => {
    sent = true;
  });
  await settle();
  assert.equal(t.writes.length, 1, 'the batch reached the transport');
  assert.equal(sent, false, 'the writer waits while the transport is full');
  t.release();
  await sending;
  assert.equal(sent, true);
  const ending = ch.end();
  await settle();
  t.release();
  await ending;
});

// Without the flush the peer would wait for ever: the timeout turns that into a failure.
test('the compressed direction: flush() lets the peer read what was sent while the stream stays open; bytes are counted on the wire', {
  timeout: 30_000,
}, async () => {
  const [a, b] = memoryPipe();
  const sender = new Channel(a, { peer: 'the receiver' });
  const receiver = new Channel(b, { peer: 'the sender' });
  // As in a pull: WELCOME goes out plain, everything after it through brotli.
  await sender.send(FrameType.WELCOME, new Uint8Array([0x7b, 0x7d]));
  sender.compressOutgoing({ quality: 5 });
  receiver.decompressAfter((f) => f.type === FrameType.WELCOME);
  const big = new Uint8Array(600_000).fill(0x61);
  await sender.send(FrameType.DELTA_DATA, big.subarray(0, 500_000));
  await sender.send(FrameType.DELTA_END, new Uint8Array([1, 2]));
  sender.flush();
  const got: Frame[] = [];
  for (let i = 0; i < 3; i++) got.push((await receiver.next())!);
  assert.deepEqual(
    got.map((f) => [f.type, f.payload.length]),
    [
      [FrameType.WELCOME, 2],
      [FrameType.DELTA_DATA, 500_000],
      [FrameType.DELTA_END, 2],
    ],
  );
  assert.ok(got[1]!.payload.every((x) => x === 0x61));
  await sender.send(FrameType.FINISH);
  await sender.end();
  assert.equal((await receiver.next())?.type, FrameType.FINISH);
  assert.equal(await receiver.next(), undefined);
  assert.equal(receiver.bytesIn, sender.bytesOut);
  assert.ok(sender.bytesOut < 10_000, `repetitive data is compressed: ${sender.bytesOut} bytes sent`);
});

test('a peer that ends at a frame boundary ends the stream; one that stops inside a frame broke the connection', async () => {
  const clean = recordingTransport();
  const a = new Channel(clean.transport, { peer: 'the peer' });
  clean.input.end(encodeFrame(FrameType.FILES_END, new Uint8Array([0])));
  assert.equal((await a.next())?.type, FrameType.FILES_END);
  assert.equal(await a.next(), undefined);

  const cut = recordingTransport();
  const b = new Channel(cut.transport, { peer: 'the peer' });
  cut.input.end(encodeFrame(FrameType.DELTA_DATA, new Uint8Array(100)).subarray(0, 50));
  await assert.rejects(b.next(), isCode(ErrorCodes.NETWORK, /Cannot finish the session: the peer closed the connection/));
  await assert.rejects(
    b.closedError().then((e) => Promise.reject(e)),
    isCode(ErrorCodes.NETWORK, /the peer closed the connection/),
  );
});

test('the greeting is checked before the first frame; something else is shown as it came', async () => {
  const good = recordingTransport();
  const a = new Channel(good.transport, { peer: 'the server' });
  a.expectGreeting('server');
  good.input.end(
    Buffer.concat([
      encodeGreeting({ role: 'server', maxVersion: 1, minVersion: 1, readOnly: true }),
      encodeFrame(FrameType.WELCOME, new Uint8Array([0x7b, 0x7d])),
    ]),
  );
  assert.equal((await a.next())?.type, FrameType.WELCOME);
  assert.equal(a.version, 1);
  assert.equal(a.peerGreeting?.readOnly, true);

  const shell = recordingTransport();
  const b = new Channel(shell.transport, { peer: 'the server' });
  b.expectGreeting('server');
  shell.input.end('bash: gosync: command not found\n');
  await assert.rejects(b.next(), isCode(ErrorCodes.PROTOCOL, /sent "bash: gosync: command not found.*" instead of gosync's greeting/));
});

test('expectFirst: the first frame goes to its handler; a frame of another type, or the peer ERROR, fails the read', async () => {
  const ok = recordingTransport();
  const a = new Channel(ok.transport, { peer: 'the server' });
  const seen: number[][] = [];
  a.expectFirst(FrameType.WELCOME, (payload) => seen.push([...payload]));
  ok.input.end(Buffer.concat([encodeFrame(FrameType.WELCOME, new Uint8Array([5])), encodeFrame(FrameType.FILES, new Uint8Array([6]))]));
  assert.equal((await a.next())?.type, FrameType.FILES);
  assert.deepEqual(seen, [[5]]);

  const wrong = recordingTransport();
  const b = new Channel(wrong.transport, { peer: 'the server' });
  b.expectFirst(FrameType.WELCOME, () => assert.fail('not a WELCOME'));
  wrong.input.end(encodeFrame(FrameType.FILES));
  await assert.rejects(b.next(), isCode(ErrorCodes.PROTOCOL, /the server sent a FILES frame where WELCOME was expected/));

  const refused = recordingTransport();
  const c = new Channel(refused.transport, { peer: 'the server' });
  c.expectFirst(FrameType.WELCOME, () => assert.fail('not a WELCOME'));
  refused.input.end(encodeFrame(FrameType.ERROR, encodeError(new SyncError(ErrorCodes.REFUSED, 'Cannot write x: read-only'))));
  await assert.rejects(c.next(), isCode(ErrorCodes.REFUSED, /Cannot write x: read-only \(reported by the server\)/));
});

test('a task that fails: the peer gets an ERROR frame with its code, the transport is closed, the error is thrown', async () => {
  const [a, b] = memoryPipe();
  const mine = new Channel(a, { peer: 'the peer' });
  const theirs = new Channel(b, { peer: 'the client' });
  const failure = new SyncError(ErrorCodes.TREE_CONFLICT, 'Cannot update x: it is a folder that is not empty');
  let released = 0;
  let otherDone = false;
  const run = mine.runTasks(
    async () => {
      await mine.send(FrameType.FILES, new Uint8Array([1]));
      throw failure;
    },
    [
      async () => {
        // Waits on the peer until the failure releases it.
        await mine.next().catch(() => {});
        otherDone = true;
      },
    ],
    () => released++,
  );
  await assert.rejects(run, (err) => err === failure);
  assert.equal(released, 1);
  assert.equal(otherDone, true, 'every task settled before the error was thrown');
  assert.equal((await theirs.next())?.type, FrameType.FILES);
  const f = await theirs.next();
  assert.equal(f?.type, FrameType.ERROR);
  assert.ok(
    isCode(ErrorCodes.TREE_CONFLICT, /it is a folder that is not empty \(reported by the client\)/)(decodeError(f!.payload, 'the client')),
  );
  assert.equal(await theirs.next(), undefined);
  await assert.rejects(mine.send(FrameType.FINISH), isCode(ErrorCodes.NETWORK));
});

test("a broken connection is reported as the peer's ERROR when the peer sent one before closing", async () => {
  const [a, b] = memoryPipe();
  const mine = new Channel(a, { peer: 'the remote end' });
  const theirs = new Channel(b, { peer: 'the client' });
  // The peer fails: it reports why, ends its output and closes.
  await assert.rejects(
    theirs.runTasks(
      async () => {
        throw new SyncError(ErrorCodes.UNSAFE_PATH, 'Cannot write "a/b": a is a symbolic link');
      },
      [],
      () => {},
    ),
  );
  // This end only writes: its failure is the closed connection, but the peer's reason is what is thrown.
  const run = mine.runTasks(
    async () => {
      for (;;) await mine.send(FrameType.DELTA_DATA, new Uint8Array(70_000));
    },
    [],
    () => {},
  );
  await assert.rejects(run, isCode(ErrorCodes.UNSAFE_PATH, /a is a symbolic link \(reported by the remote end\)/));
});

test('an aborted signal stops sends and reads with ABORTED; abort() closes the transport once', async () => {
  const t = recordingTransport();
  const controller = new AbortController();
  const ch = new Channel(t.transport, { peer: 'the peer', signal: controller.signal });
  await ch.send(FrameType.FILES, new Uint8Array([1]));
  controller.abort();
  await assert.rejects(ch.send(FrameType.FILES_END), isCode(ErrorCodes.ABORTED));
  await assert.rejects(ch.next(), isCode(ErrorCodes.ABORTED));
  await ch.abort();
  await ch.abort();
  assert.equal(t.closed, 1);
  // A frame sent but not yet written when the signal fired is never written.
  await settle();
  assert.equal(t.writes.length, 0);
});

/** zstd's frame magic (RFC 8878), little-endian. */
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/**
 * A server end (greeting of `serverMax`) and a client end (greeting of `clientMax`) over a
 * memory pipe, both greetings read: the pull's direction (server sends) set up as in a
 * session, everything the server writes recorded.
 */
async function greetedPair(serverMax: number, clientMax: number) {
  const [a, b] = memoryPipe();
  const wire: Buffer[] = [];
  const write = a.output.write.bind(a.output);
  a.output.write = ((chunk: Uint8Array, ...rest: never[]) => {
    wire.push(Buffer.from(chunk));
    return write(chunk, ...rest);
  }) as typeof a.output.write;
  const server = new Channel(a, { peer: 'the client' });
  const client = new Channel(b, { peer: 'the server' });
  await server.writeRaw(encodeGreeting({ role: 'server', maxVersion: serverMax, minVersion: 1, readOnly: false }));
  await client.writeRaw(encodeGreeting({ role: 'client', maxVersion: clientMax, minVersion: 1, readOnly: false }));
  server.expectGreeting('client', { maxVersion: serverMax, minVersion: 1 });
  client.expectGreeting('server', { maxVersion: clientMax, minVersion: 1 });
  await server.greeted();
  await client.greeted();
  return { server, client, wire };
}

/** Sends WELCOME plain, then compressed frames; the client reads them all back. */
async function roundTrip(serverMax: number, clientMax: number) {
  const { server, client, wire } = await greetedPair(serverMax, clientMax);
  await server.send(FrameType.WELCOME, new Uint8Array([0x7b, 0x7d]));
  server.compressOutgoing();
  client.decompressAfter((f) => f.type === FrameType.WELCOME);
  // Text-like data repeated across frames, as literal data of related files is.
  const text = Buffer.from('function rebuild(a, b) { return a.concat(b).map((x) => x * 2); }\n'.repeat(4000));
  await server.send(FrameType.DELTA_DATA, text);
  await server.send(FrameType.DELTA_END, new Uint8Array([1, 2]));
  server.flush();
  const got: Frame[] = [];
  for (let i = 0; i < 3; i++) got.push((await client.next())!);
  await server.send(FrameType.FINISH);
  await server.end();
  assert.equal((await client.next())?.type, FrameType.FINISH);
  assert.equal(await client.next(), undefined);
  assert.deepEqual(
    got.map((f) => f.type),
    [FrameType.WELCOME, FrameType.DELTA_DATA, FrameType.DELTA_END],
  );
  assert.ok(Buffer.from(got[1]!.payload).equals(text));
  assert.equal(client.bytesIn, server.bytesOut);
  assert.ok(server.bytesOut < text.length / 20, `compressed: ${server.bytesOut} bytes sent`);
  // What followed the greeting and the plain WELCOME frame: the compressed stream.
  const stream = Buffer.concat(wire).subarray(16 + 5 + 2);
  return { server, client, stream };
}

test("protocol version 2 on both ends: the sender's stream is zstd, and it round-trips", { timeout: 30_000 }, async () => {
  assert.ok(PROTOCOL_VERSION >= ZSTD_VERSION);
  const { server, client, stream } = await roundTrip(PROTOCOL_VERSION, PROTOCOL_VERSION);
  assert.equal(server.version, ZSTD_VERSION);
  assert.equal(client.version, ZSTD_VERSION);
  assert.ok(stream.subarray(0, 4).equals(ZSTD_MAGIC), `zstd frame magic, got ${stream.subarray(0, 4).toString('hex')}`);
  const frames = new FrameParser('the test').push(zstdDecompressSync(stream));
  assert.deepEqual(
    frames.map((f) => f.type),
    [FrameType.DELTA_DATA, FrameType.DELTA_END, FrameType.FINISH],
  );
});

test('a peer that speaks only version 1 gets brotli, whichever end it is', { timeout: 30_000 }, async () => {
  for (const [serverMax, clientMax] of [
    [PROTOCOL_VERSION, 1],
    [1, PROTOCOL_VERSION],
  ] as const) {
    const { server, client, stream } = await roundTrip(serverMax, clientMax);
    assert.equal(server.version, 1);
    assert.equal(client.version, 1);
    assert.ok(!stream.subarray(0, 4).equals(ZSTD_MAGIC));
    const frames = new FrameParser('the test').push(brotliDecompressSync(stream));
    assert.deepEqual(
      frames.map((f) => f.type),
      [FrameType.DELTA_DATA, FrameType.DELTA_END, FrameType.FINISH],
    );
  }
});

test('greeted() reads the greeting once: next() then returns the frames after it; a bad greeting fails both', async () => {
  const good = recordingTransport();
  const a = new Channel(good.transport, { peer: 'the server' });
  a.expectGreeting('server');
  assert.equal(a.version, 0);
  good.input.end(
    Buffer.concat([
      encodeGreeting({ role: 'server', maxVersion: 9, minVersion: 1, readOnly: false }),
      encodeFrame(FrameType.WELCOME, new Uint8Array([0x7b, 0x7d])),
    ]),
  );
  await a.greeted();
  assert.equal(a.version, PROTOCOL_VERSION);
  await a.greeted();
  assert.equal((await a.next())?.type, FrameType.WELCOME);
  assert.equal(await a.next(), undefined);

  const bad = recordingTransport();
  const b = new Channel(bad.transport, { peer: 'the server' });
  b.expectGreeting('server');
  bad.input.end(encodeGreeting({ role: 'client', maxVersion: 2, minVersion: 1, readOnly: false }));
  await assert.rejects(b.greeted(), isCode(ErrorCodes.PROTOCOL, /the peer is a client too/));
  await assert.rejects(b.next(), isCode(ErrorCodes.PROTOCOL, /the peer is a client too/));
});

test("a large source's stream gets the faster zstd level; the caller's level and brotli's quality are kept", () => {
  assert.equal(streamCompression(0).level, DEFAULT_ZSTD_LEVEL);
  assert.equal(streamCompression(LARGE_STREAM_BYTES - 1).level, DEFAULT_ZSTD_LEVEL);
  assert.equal(streamCompression(LARGE_STREAM_BYTES).level, LARGE_STREAM_ZSTD_LEVEL);
  assert.ok(LARGE_STREAM_ZSTD_LEVEL < DEFAULT_ZSTD_LEVEL);
  assert.deepEqual(streamCompression(LARGE_STREAM_BYTES, { level: 9 }), { level: 9 });
  assert.deepEqual(streamCompression(1, { quality: 5 }), { quality: 5, level: DEFAULT_ZSTD_LEVEL });
});
