/**
 * The protocol's lowest layers: the frame codec (truncated frames, oversized lengths
 * refused before allocation, unknown types), the greeting and version agreement, the
 * HELLO and ERROR payloads, and the binary field readers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, SyncError } from '../../../src/core/errors.js';
import { ByteReader, ByteWriter } from '../../../src/remote/wire/binary.js';
import { FRAME_HEADER, FrameParser, FrameType, MAX_FRAME_PAYLOAD, encodeFrame, frameHeader } from '../../../src/remote/wire/frames.js';
import {
  GREETING_SIZE,
  MAGIC,
  agreeVersion,
  decodeError,
  decodeGreeting,
  decodeHello,
  encodeError,
  encodeGreeting,
  encodeJson,
  isPeerError,
} from '../../../src/remote/wire/handshake.js';

function isProtocol(re: RegExp) {
  return (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.PROTOCOL && re.test(err.message);
}

test('frames round-trip in any chunking, empty payloads included', () => {
  const frames = [
    encodeFrame(FrameType.FILES, new Uint8Array([1, 2, 3])),
    encodeFrame(FrameType.FILES_END),
    encodeFrame(FrameType.DELTA_DATA, new Uint8Array(70_000).fill(7)),
    encodeFrame(FrameType.FINISH),
  ];
  const all = Buffer.concat(frames);
  for (const step of [1, 2, 5, 6, 4096, all.length]) {
    const p = new FrameParser('a test stream');
    const got = [];
    for (let i = 0; i < all.length; i += step) got.push(...p.push(all.subarray(i, i + step)));
    p.end();
    assert.deepEqual(
      got.map((f) => [f.type, f.payload.length]),
      [
        [FrameType.FILES, 3],
        [FrameType.FILES_END, 0],
        [FrameType.DELTA_DATA, 70_000],
        [FrameType.FINISH, 0],
      ],
      `step ${step}`,
    );
    assert.deepEqual([...got[0]!.payload], [1, 2, 3]);
    assert.ok(got[2]!.payload.every((b) => b === 7));
  }
});

test('a truncated frame is refused at the end of the stream, header or payload', () => {
  const f = encodeFrame(FrameType.SIG, new Uint8Array(10));
  const inHeader = new FrameParser('the stream from the peer');
  inHeader.push(f.subarray(0, 3));
  assert.throws(() => inHeader.end(), isProtocol(/ends inside a frame header \(3 of 5 bytes\)/));
  const inPayload = new FrameParser('the stream from the peer');
  inPayload.push(f.subarray(0, 9));
  assert.throws(() => inPayload.end(), isProtocol(/ends inside a SIG frame \(4 of 10 bytes\)/));
});

test('an oversized length is refused from the header, before any allocation', () => {
  const p = new FrameParser('the stream from the peer');
  const header = new Uint8Array([FrameType.DELTA_DATA, 0xff, 0xff, 0xff, 0xf0]);
  // Were the payload allocated, this would ask for 4 GiB.
  assert.throws(() => p.push(header), isProtocol(/DELTA_DATA frame at byte 0 announces 4294967280 bytes, over the limit of 1048576/));
  const justOver = new FrameParser('x');
  const h = frameHeader(FrameType.FILES, MAX_FRAME_PAYLOAD);
  h[4] = h[4]! + 1;
  assert.throws(() => justOver.push(h), isProtocol(/over the limit/));
  assert.throws(() => frameHeader(FrameType.FILES, MAX_FRAME_PAYLOAD + 1), RangeError);
  assert.equal(frameHeader(FrameType.FILES, MAX_FRAME_PAYLOAD).length, FRAME_HEADER);
});

test('an unknown frame type is refused', () => {
  const p = new FrameParser('the stream from the peer');
  p.push(encodeFrame(FrameType.FILES_END));
  assert.throws(() => p.push(new Uint8Array([0x55, 0, 0, 0, 0])), isProtocol(/frame at byte 5 has the unknown type 0x55/));
});

test('the parser can stop after a frame and hand back the rest (the switch to compressed data)', () => {
  const p = new FrameParser('x');
  const data = Buffer.concat([encodeFrame(FrameType.HELLO, new Uint8Array([9])), Buffer.from('compressed…')]);
  const frames = p.push(data, (f) => f.type === FrameType.HELLO);
  assert.equal(frames.length, 1);
  assert.equal(Buffer.from(p.leftover!).toString(), 'compressed…');
});

test('greetings: magic, role, version range, read-only flag', () => {
  const g = encodeGreeting({ role: 'server', maxVersion: 3, minVersion: 1, readOnly: true });
  assert.equal(g.length, GREETING_SIZE);
  assert.deepEqual([...g.subarray(0, 8)], [...MAGIC]);
  assert.deepEqual(decodeGreeting(g, 'server'), { role: 'server', maxVersion: 3, minVersion: 1, readOnly: true });
  assert.throws(() => decodeGreeting(g, 'client'), isProtocol(/the peer is a server too, not a client/));
  // A login banner or a shell error on stdout instead of gosync.
  const banner = Buffer.from('bash: gosync: command not found\n');
  assert.throws(
    () => decodeGreeting(banner, 'server'),
    isProtocol(
      /the remote end sent "bash: gosync: command not found\\n" instead of gosync's greeting: check that the remote command runs gosync \(--remote-cmd\)/,
    ),
  );
});

test('versions: the highest common one; none is a clear error naming both', () => {
  const peer = (maxVersion: number, minVersion: number) =>
    decodeGreeting(encodeGreeting({ role: 'server', maxVersion, minVersion, readOnly: false }), 'server');
  assert.equal(agreeVersion(peer(1, 1), { maxVersion: 1, minVersion: 1 }), 1);
  assert.equal(agreeVersion(peer(3, 1), { maxVersion: 2, minVersion: 1 }), 2);
  assert.throws(
    () => agreeVersion(peer(2, 2), { maxVersion: 1, minVersion: 1 }),
    isProtocol(
      /Cannot talk to the remote gosync: it speaks protocol version 2 and this gosync speaks version 1: install the same gosync version on both ends/,
    ),
  );
  assert.throws(
    () => agreeVersion(peer(9, 5), { maxVersion: 3, minVersion: 1 }),
    isProtocol(/versions 5 to 9 and this gosync speaks versions 1 to 3/),
  );
});

test('HELLO payloads are checked; unknown fields are ignored', () => {
  assert.deepEqual(decodeHello(encodeJson({ op: 'push', path: 'a/b', delete: true, future: 1 })), {
    op: 'push',
    path: 'a/b',
    delete: true,
    dryRun: false,
  });
  assert.throws(() => decodeHello(Buffer.from('{"op":')), isProtocol(/not JSON/));
  assert.throws(() => decodeHello(encodeJson({ op: 'rm', path: 'x' })), isProtocol(/operation "rm" is not push or pull/));
  assert.throws(() => decodeHello(encodeJson({ op: 'pull', path: 'a\0b' })), isProtocol(/path is not a string/));
  assert.throws(() => decodeHello(encodeJson({ op: 'pull', path: 'x', dryRun: 'yes' })), isProtocol(/"dryRun" is not a boolean/));
});

test("ERROR payloads carry the code and message; the receiving side marks them as the peer's", () => {
  const sent = new SyncError(ErrorCodes.REFUSED, 'Cannot write /srv/x: the server is read-only');
  const got = decodeError(encodeError(sent), 'the remote end');
  assert.equal(got.code, ErrorCodes.REFUSED);
  assert.equal(got.message, 'Cannot write /srv/x: the server is read-only (reported by the remote end)');
  assert.ok(isPeerError(got));
  assert.ok(!isPeerError(sent));
  // An unknown code is kept out of the error family; control characters are neutralised.
  const odd = decodeError(encodeJson({ code: 'EVIL', message: 'a\x1b[2Jb' }), 'x');
  assert.equal(odd.code, ErrorCodes.PROTOCOL);
  assert.match(odd.message, /^a\?\[2Jb/);
});

test('binary fields: varints, strings and bounds', () => {
  const w = new ByteWriter(1)
    .u8(7)
    .u32(0xdeadbeef)
    .varint(0)
    .varint(300)
    .varint(2 ** 53 - 1)
    .string('héllo');
  const r = new ByteReader(w.finish(), 'a test payload');
  assert.equal(r.u8('a'), 7);
  assert.equal(r.u32('b'), 0xdeadbeef);
  assert.equal(r.varint('c'), 0);
  assert.equal(r.varint('d'), 300);
  assert.equal(r.varint('e'), 2 ** 53 - 1);
  assert.equal(r.string('f', 100), 'héllo');
  r.end();
  assert.throws(
    () => new ByteReader(new Uint8Array([0x80, 0x80]), 'p').varint('size'),
    isProtocol(/Cannot read p: it ends inside the size/),
  );
  assert.throws(() => new ByteReader(new Uint8Array(10).fill(0xff), 'p').varint('size'), isProtocol(/varint longer than 8 bytes/));
  assert.throws(
    () => new ByteReader(new ByteWriter().varint(1000).finish(), 'p').varint('count', 999),
    isProtocol(/the count 1000 is over the limit of 999/),
  );
  assert.throws(() => new ByteReader(new Uint8Array([2, 0xc3, 0x28]), 'p').string('name', 10), isProtocol(/not valid UTF-8/));
  const extra = new ByteReader(new Uint8Array([1, 2]), 'p');
  extra.u8('x');
  assert.throws(() => extra.end(), isProtocol(/1 unexpected bytes follow its last field/));
});
