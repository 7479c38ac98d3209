/**
 * archive/gzip.ts and archive/payload.ts: reading gzip headers, inflating with the payload
 * capped and every mismatch refused, finding the zlib parameters that reproduce a stream,
 * and recompressing to the same bytes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { GzipArchive } from '../../src/core/index/published.js';
import { findDeflateParams, gzipHeaderLength, inflateGzip, isGzip, writeGzip } from '../../src/archive/gzip.js';
import { inflateToScratch, payloadCap } from '../../src/archive/payload.js';
import { PLAIN_HEADER, gzipOf, textPayload, trailerOf, unreproducibleGzip } from './fixtures.js';

let dir: string;
const payload = textPayload(200_000);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-gzip-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function inflateFile(bytes: Uint8Array, maxPayload = 1 << 30) {
  const path = join(dir, `in-${Math.random().toString(16).slice(2)}.gz`);
  await writeFile(path, bytes);
  const parts: Uint8Array[] = [];
  const r = await inflateGzip(path, async (c) => void parts.push(Buffer.from(c)), { maxPayload });
  return { path, r, out: Buffer.concat(parts) };
}

test('gzip headers: the plain one, every optional field, and the ones refused', () => {
  assert.equal(gzipHeaderLength(PLAIN_HEADER), 10);
  assert.ok(isGzip(gzipSync('x')));
  // FEXTRA (4 bytes) + FNAME "a.tar" + FCOMMENT "hi" + FHCRC.
  const full = Buffer.concat([
    Buffer.from([0x1f, 0x8b, 8, 4 | 8 | 16 | 2, 0, 0, 0, 0, 0, 3]),
    Buffer.from([4, 0, 1, 2, 3, 4]),
    Buffer.from('a.tar\0hi\0'),
    Buffer.from([0xaa, 0xbb]),
  ]);
  assert.equal(gzipHeaderLength(Buffer.concat([full, Buffer.alloc(20)])), full.length);
  assert.deepEqual(gzipHeaderLength(Buffer.from([0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3])), {
    problem: 'its gzip header has reserved flags set',
  });
  const unterminated = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3]), Buffer.from('name without end')]);
  assert.match((gzipHeaderLength(unterminated) as { problem: string }).problem, /name is unterminated/);
  assert.deepEqual(gzipHeaderLength(Buffer.from('PK\x03\x04 not gzip')), { problem: 'it is not a gzip file' });
  // An extra field longer than what is there.
  const longExtra = Buffer.from([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 0xff, 0xff]);
  assert.match((gzipHeaderLength(longExtra) as { problem: string }).problem, /truncated or too long/);
});

test('inflating a gzip member gives its payload, header, trailer and deflate size', async () => {
  const gz = gzipOf(payload);
  const { r, out } = await inflateFile(gz);
  assert.ok(!('problem' in r));
  assert.deepEqual(out, payload);
  assert.equal(r.payloadSize, payload.length);
  assert.equal(r.fileSize, gz.length);
  assert.equal(r.deflateSize, gz.length - 18);
  assert.deepEqual(Buffer.from(r.header), PLAIN_HEADER);
  assert.deepEqual(Buffer.from(r.trailer), trailerOf(payload));
});

test('hostile gzip files are refused with a reason, never inflated past the cap', async () => {
  const gz = gzipOf(payload);
  // A bomb: 64 MiB of zeros in about 64 kB; the cap stops it after its first megabyte.
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
  const { r: bombed, out } = await inflateFile(bomb, 1024 * 1024);
  assert.deepEqual(bombed, { problem: 'its payload is over 1048576 bytes' });
  assert.ok(out.length <= 1024 * 1024, 'nothing past the cap was written');
  // A second member (or any trailing bytes).
  const two = Buffer.concat([gz, gzipSync('more')]);
  assert.match(((await inflateFile(two)).r as { problem: string }).problem, /bytes follow its first gzip member/);
  // The trailer's CRC, then its size, not the payload's.
  const badCrc = Buffer.from(gz);
  badCrc[gz.length - 8]! ^= 1;
  assert.match(((await inflateFile(badCrc)).r as { problem: string }).problem, /CRC-32 does not match/);
  const badSize = Buffer.from(gz);
  badSize[gz.length - 4]! ^= 1;
  assert.match(((await inflateFile(badSize)).r as { problem: string }).problem, /size does not match/);
  // Truncated inside the deflate stream, and inside the trailer.
  assert.match(((await inflateFile(gz.subarray(0, gz.length >> 1))).r as { problem: string }).problem, /damaged|truncated/);
  assert.match(((await inflateFile(gz.subarray(0, gz.length - 3))).r as { problem: string }).problem, /trailer is truncated/);
  // Damaged deflate data.
  const damaged = Buffer.from(gz);
  for (let i = 100; i < 140; i++) damaged[i] = 0xff;
  const d = (await inflateFile(damaged)).r as { problem: string };
  assert.ok('problem' in d, 'a damaged stream is refused');
});

test('the parameters that reproduce a stream are found: level 9, level 6, memLevel 9; none for a restarted stream', async () => {
  for (const [level, memLevel] of [
    [9, 8],
    [6, 8],
    [4, 9],
  ] as const) {
    const gz = gzipOf(payload, { level, memLevel });
    const { path } = await inflateFile(gz);
    const scratch = await inflateToScratch(path, join(dir, 'payload'));
    assert.ok(!('problem' in scratch));
    try {
      const params = await findDeflateParams(path, scratch.inflated!, scratch.path);
      assert.ok(params, `level ${level} memLevel ${memLevel} is reproduced`);
      // Another level may give the same bytes on this input; what matters is the output.
      const archive: GzipArchive = {
        kind: 'gzip',
        size: gz.length,
        sha256: new Uint8Array(32),
        ...params,
        header: scratch.inflated!.header,
        trailer: scratch.inflated!.trailer,
        payload: 'p',
      };
      const parts: Uint8Array[] = [];
      const got = await writeGzip(scratch.path, archive, async (c) => void parts.push(Buffer.from(c)));
      assert.deepEqual(Buffer.concat(parts), gz);
      assert.equal(got.size, gz.length);
    } finally {
      await scratch.discard();
    }
  }
  const odd = unreproducibleGzip(payload);
  assert.deepEqual(gunzipSync(odd), payload, 'the restarted stream is valid gzip');
  const { path } = await inflateFile(odd);
  const scratch = await inflateToScratch(path, join(dir, 'payload'));
  assert.ok(!('problem' in scratch));
  try {
    assert.equal(await findDeflateParams(path, scratch.inflated!, scratch.path), undefined);
  } finally {
    await scratch.discard();
  }
});

test('inflateToScratch: a missing file, a file that is not gzip and a bomb leave nothing behind', async () => {
  const sub = await mkdtemp(join(dir, 'scratch-'));
  const near = join(sub, 'out');
  assert.deepEqual(await inflateToScratch(join(sub, 'missing'), near), { problem: 'it cannot be read' });
  await writeFile(join(sub, 'plain'), 'not compressed');
  assert.deepEqual(await inflateToScratch(join(sub, 'plain'), near), { problem: 'it is not a gzip file' });
  await writeFile(join(sub, 'bomb.gz'), gzipSync(Buffer.alloc(70 * 1024 * 1024)));
  assert.equal(payloadCap(70_000), 64 * 1024 * 1024, 'small files are capped at 64 MiB');
  const r = await inflateToScratch(join(sub, 'bomb.gz'), near);
  assert.match((r as { problem: string }).problem, /payload is over 67108864 bytes/);
  assert.deepEqual((await readdir(sub)).sort(), ['bomb.gz', 'plain']);
  // A good one is a file with the payload until discarded.
  await writeFile(join(sub, 'good.gz'), gzipOf(payload));
  const good = await inflateToScratch(join(sub, 'good.gz'), near);
  assert.ok(!('problem' in good));
  assert.deepEqual(await readFile(good.path), payload);
  await good.discard();
  assert.deepEqual((await readdir(sub)).sort(), ['bomb.gz', 'good.gz', 'plain']);
});
