/**
 * Delta files of every kind: round trips on property-test inputs (insertions, deletions,
 * overwrites, moved blocks, empty, one byte, identical, unrelated), and hostile files
 * (truncated at every length, trailing bytes, an unknown kind, a wrong size) refused with
 * DELTA_CORRUPT.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { encodeBsdiffDelta } from '../../src/forms/bsdiff/format.js';
import { applyDeltaFile, deltaFile, encodeZstdDelta, zstdFrameLength, type DeltaKind } from '../../src/forms/delta-file.js';
import { encodeLzDelta } from '../../src/forms/lz-delta/mod.js';
import { randomBytes } from '../helpers/data.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-delta-file-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

type InMemoryKind = Exclude<DeltaKind, 'librsync'>;
const KINDS: InMemoryKind[] = ['zstd', 'lz', 'bsdiff'];

function encode(kind: InMemoryKind, old: Uint8Array, next: Uint8Array): Uint8Array {
  const payload = kind === 'zstd' ? encodeZstdDelta(old, next) : kind === 'lz' ? encodeLzDelta(old, next) : encodeBsdiffDelta(old, next);
  return deltaFile(kind, payload);
}

async function apply(delta: Uint8Array, old: Uint8Array, newSize: number): Promise<Uint8Array> {
  const basis = join(dir, `base-${n++}`);
  await writeFile(basis, old);
  const parts: Uint8Array[] = [];
  await applyDeltaFile(
    delta,
    basis,
    {
      async write(chunk) {
        parts.push(Uint8Array.from(chunk));
      },
    },
    { newSize },
  );
  return new Uint8Array(Buffer.concat(parts));
}

/** Text-like bytes (a small alphabet, so deltas find repeats) of a given length. */
const textLike = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max, min: 97, max: 106 });

/** An edit of `old`: insert, delete, overwrite or move a block. */
const edited = (old: Uint8Array) =>
  fc
    .array(
      fc.record({
        op: fc.constantFrom('insert', 'delete', 'overwrite', 'move'),
        at: fc.nat(),
        len: fc.integer({ min: 1, max: 300 }),
        seed: fc.nat(),
      }),
      { maxLength: 6 },
    )
    .map((edits) => {
      let data = Buffer.from(old);
      for (const e of edits) {
        const at = data.length === 0 ? 0 : e.at % data.length;
        const fresh = randomBytes(e.len, e.seed);
        if (e.op === 'insert') data = Buffer.concat([data.subarray(0, at), fresh, data.subarray(at)]);
        else if (e.op === 'delete') data = Buffer.concat([data.subarray(0, at), data.subarray(at + e.len)]);
        else if (e.op === 'overwrite') data = Buffer.concat([data.subarray(0, at), fresh, data.subarray(at + e.len)]);
        else {
          const block = data.subarray(at, at + e.len);
          const rest = Buffer.concat([data.subarray(0, at), data.subarray(at + e.len)]);
          const to = rest.length === 0 ? 0 : e.seed % (rest.length + 1);
          data = Buffer.concat([rest.subarray(0, to), block, rest.subarray(to)]);
        }
      }
      return new Uint8Array(data);
    });

for (const kind of KINDS) {
  test(`${kind}: any edit of any file round-trips`, async () => {
    await fc.assert(
      fc.asyncProperty(
        textLike(4000).chain((old) => fc.tuple(fc.constant(old), edited(old))),
        async ([old, next]) => {
          const delta = encode(kind, old, next);
          assert.deepEqual(await apply(delta, old, next.length), new Uint8Array(next));
        },
      ),
      { numRuns: 40 },
    );
  });

  test(`${kind}: empty, one byte, identical and unrelated files round-trip`, async () => {
    const some = randomBytes(5000, 71);
    const cases: [Uint8Array, Uint8Array][] = [
      [new Uint8Array(0), new Uint8Array(0)],
      [new Uint8Array(0), some],
      [some, new Uint8Array(0)],
      [Uint8Array.of(7), Uint8Array.of(8)],
      [some, some],
      [some, randomBytes(5000, 72)],
    ];
    for (const [old, next] of cases) assert.deepEqual(await apply(encode(kind, old, next), old, next.length), new Uint8Array(next));
  });

  test(`${kind}: a truncated delta, trailing bytes or a wrong size is DELTA_CORRUPT`, async () => {
    const old = randomBytes(3000, 73);
    const next = Buffer.concat([old.subarray(0, 1000), randomBytes(50, 74), old.subarray(1200)]);
    const delta = encode(kind, old, next);
    const corrupt = (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.DELTA_CORRUPT;
    for (let cut = 0; cut < delta.length; cut++) {
      await assert.rejects(apply(delta.subarray(0, cut), old, next.length), corrupt, `${kind} cut at ${cut} of ${delta.length}`);
    }
    await assert.rejects(apply(Buffer.concat([delta, Uint8Array.of(0)]), old, next.length), corrupt, 'trailing byte');
    await assert.rejects(apply(delta, old, next.length - 1), corrupt, 'more than expected');
    await assert.rejects(apply(delta, old, next.length + 1), corrupt, 'less than expected');
  });
}

test('lz: written as kind 5 (version 2); kind 3 (version 1, written by earlier gosync) is still read', async () => {
  const old = randomBytes(3000, 76);
  const next = Buffer.concat([old.subarray(0, 1000), randomBytes(50, 77), old.subarray(1200)]);
  const v2 = deltaFile('lz', encodeLzDelta(old, next));
  assert.equal(v2[0], 5);
  assert.deepEqual(await apply(v2, old, next.length), new Uint8Array(next));
  const v1 = Uint8Array.from([3, ...encodeLzDelta(old, next, { version: 1 })]);
  assert.deepEqual(await apply(v1, old, next.length), new Uint8Array(next));
  // The other version's first byte: the payload is read with the other priming and fails, or
  // makes other bytes (which the client's SHA-256 check refuses).
  const swapped = Uint8Array.from([3, ...v2.subarray(1)]);
  const out = await apply(swapped, old, next.length).catch((e: unknown) => {
    assert.ok(SyncError.is(e) && e.code === ErrorCodes.DELTA_CORRUPT, String(e));
    return undefined;
  });
  if (out) assert.notDeepEqual(out, new Uint8Array(next));
});

test('an unknown kind or an empty file is DELTA_CORRUPT', async () => {
  const corrupt = (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.DELTA_CORRUPT;
  await assert.rejects(apply(new Uint8Array(0), Uint8Array.of(1), 1), corrupt);
  await assert.rejects(apply(Uint8Array.of(0, 1, 2), Uint8Array.of(1), 1), corrupt);
  await assert.rejects(apply(Uint8Array.of(200, 1, 2), Uint8Array.of(1), 1), corrupt);
});

test('zstdFrameLength measures a frame from its block headers', () => {
  const old = randomBytes(10_000, 75);
  const frame = encodeZstdDelta(old, Buffer.concat([old, randomBytes(300_000, 76)]));
  assert.equal(zstdFrameLength(frame), frame.length);
  assert.equal(zstdFrameLength(Buffer.concat([frame, Buffer.from('more')])), frame.length);
  assert.throws(() => zstdFrameLength(frame.subarray(0, frame.length - 1)), /truncated/);
  assert.throws(() => zstdFrameLength(Buffer.from('not zstd at all')), /magic/);
});
