/**
 * Applying a delta while it downloads (applyDeltaChunks): the same bytes as applying it whole,
 * however the download is cut into chunks, for every kind and every bsdiff diff codec and
 * stream order; the output starts before the last bytes arrive; a short, long or oversized
 * download is DELTA_CORRUPT, and a failed download rejects with its own error.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { BSDIFF_VERSION, BSDIFF_VERSION_DIFF_LAST, type DiffCodecName, encodeBsdiffDelta } from '../../src/forms/bsdiff/format.js';
import { applyDeltaChunks, applyDeltaFile, deltaFile, encodeZstdDelta } from '../../src/forms/delta-file.js';
import { encodeLzDelta } from '../../src/forms/lz-delta/mod.js';
import { randomBytes } from '../helpers/data.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-delta-chunks-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function basisFile(old: Uint8Array): Promise<string> {
  const path = join(dir, `base-${n++}`);
  await writeFile(path, old);
  return path;
}

/** `delta` cut at `cuts` (positions, any order), as a download would hand it over. */
async function* pieces(delta: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  const at = [...new Set(cuts.map((c) => c % (delta.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const cut of [...at, delta.length]) {
    if (cut > from) yield delta.subarray(from, cut);
    from = Math.max(from, cut);
  }
}

async function collect(run: (sink: { write(c: Uint8Array): Promise<void> }) => Promise<unknown>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  await run({
    async write(chunk) {
      parts.push(Uint8Array.from(chunk));
    },
  });
  return Buffer.concat(parts);
}

/** A new version with small changes spread out (a diff stream larger than the extra one) and an insertion. */
function relinked(old: Uint8Array, seed: number, spacing = 16): Uint8Array {
  const next = Buffer.from(old);
  const noise = randomBytes(next.length, seed);
  for (let i = 64, k = 0; i < next.length; i += 2 + (noise[k++ % noise.length]! % spacing))
    next[i] = (next[i]! + noise[k % noise.length]!) & 0xff;
  return Buffer.concat([next.subarray(0, 100), randomBytes(50, seed), next.subarray(100)]);
}

const CODECS: DiffCodecName[] = ['runs', 'zstd', 'model'];

test('the same bytes as the whole delta, however it is cut (every bsdiff codec, both stream orders, property)', async () => {
  const old = randomBytes(100_000, 7);
  const cases = [
    { next: relinked(old, 1), version: BSDIFF_VERSION_DIFF_LAST },
    // Mostly new bytes: the extra stream is the largest and stays last.
    { next: Buffer.concat([old.subarray(0, 50_000), randomBytes(120_000, 2)]), version: BSDIFF_VERSION },
  ];
  for (const { next, version } of cases) {
    const basis = await basisFile(old);
    for (const codec of CODECS) {
      const payload = encodeBsdiffDelta(old, next, { diffCodec: codec });
      if (codec !== 'model') assert.equal(payload[4], version, `${codec}: stream order`);
      const delta = deltaFile('bsdiff', payload);
      await fc.assert(
        fc.asyncProperty(fc.array(fc.nat(), { maxLength: 12 }), async (cuts) => {
          const got = await collect((sink) =>
            applyDeltaChunks(pieces(delta, cuts), basis, sink, { newSize: next.length, maxDeltaBytes: delta.length }),
          );
          assert.ok(got.equals(next));
        }),
        { numRuns: 8 },
      );
    }
  }
});

test('the other kinds are gathered and applied whole', async () => {
  const old = randomBytes(50_000, 3);
  const next = relinked(old, 4);
  const basis = await basisFile(old);
  for (const delta of [deltaFile('zstd', encodeZstdDelta(old, next)), deltaFile('lz', encodeLzDelta(old, next))]) {
    const whole = await collect((sink) => applyDeltaFile(delta, basis, sink, { newSize: next.length }));
    const chunked = await collect((sink) =>
      applyDeltaChunks(pieces(delta, [1, 2, 500]), basis, sink, { newSize: next.length, maxDeltaBytes: delta.length }),
    );
    assert.ok(chunked.equals(whole) && whole.equals(next));
  }
});

test('the output starts before the last bytes of the delta arrive', async () => {
  // Changes every few bytes: the diff stream spans many zstd blocks (each decodes once whole).
  const old = randomBytes(2 << 20, 5);
  const next = relinked(old, 6, 6);
  const basis = await basisFile(old);
  const delta = deltaFile('bsdiff', encodeBsdiffDelta(old, next, { diffCodec: 'runs' }));
  const pieceSize = Math.ceil(delta.length / 16);
  let handedOver = 0;
  let handedOverAtFirstOutput = -1;
  async function* slow() {
    for (let at = 0; at < delta.length; at += pieceSize) {
      handedOver++;
      yield delta.subarray(at, at + pieceSize);
      // A download slower than the apply, as over a WAN link.
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
  }
  const out: Uint8Array[] = [];
  await applyDeltaChunks(
    slow(),
    basis,
    {
      async write(chunk) {
        if (handedOverAtFirstOutput < 0) handedOverAtFirstOutput = handedOver;
        out.push(Uint8Array.from(chunk));
      },
    },
    { newSize: next.length, maxDeltaBytes: delta.length },
  );
  assert.ok(Buffer.concat(out).equals(next));
  assert.ok(handedOverAtFirstOutput > 0 && handedOverAtFirstOutput < 16, `first output after ${handedOverAtFirstOutput} of 16 pieces`);
});

test('a short or long download, or one over the limit, is DELTA_CORRUPT; a failed one rejects with its error', async () => {
  const old = randomBytes(100_000, 8);
  const next = relinked(old, 9);
  const basis = await basisFile(old);
  const delta = deltaFile('bsdiff', encodeBsdiffDelta(old, next, { diffCodec: 'runs' }));
  const corrupt = (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.DELTA_CORRUPT;
  const applyFrom = (chunks: AsyncIterable<Uint8Array>, maxDeltaBytes = delta.length + 100) =>
    collect((sink) => applyDeltaChunks(chunks, basis, sink, { newSize: next.length, maxDeltaBytes }));
  for (const cut of [0, 1, 10, 47, 48, delta.length >> 1, delta.length - 1]) {
    await assert.rejects(applyFrom(pieces(delta.subarray(0, cut), [3, 100])), corrupt, `cut at ${cut}`);
  }
  await assert.rejects(applyFrom(pieces(Buffer.concat([delta, Buffer.from([0])]), [delta.length])), corrupt);
  await assert.rejects(applyFrom(pieces(delta, [1000]), delta.length - 1), corrupt);
  const failure = new SyncError(ErrorCodes.NETWORK, 'Cannot fetch: the connection was reset');
  async function* broken() {
    yield delta.subarray(0, delta.length >> 1);
    throw failure;
  }
  await assert.rejects(applyFrom(broken()), (err) => err === failure);
});
