/**
 * The refinement round in memory: first delta, unused ranges, second signature over them,
 * splice; the spliced delta must rebuild the new file exactly, for random files and edits.
 * And the checks on REFINE payloads and the file list codec.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { LibrsyncDeltaEncoder, LibrsyncDeltaGenerator, applyLibrsyncDelta } from '../../src/formats/librsync-delta.js';
import { FileListChecker, FileListEncoder, decodeFileBatch, type ListEntry } from '../../src/remote/wire/file-list.js';
import {
  DeltaOpsReader,
  DeltaSplicer,
  RangeMap,
  decodeRefine,
  encodeRefine,
  unusedRanges,
  type DeltaOp,
} from '../../src/remote/wire/refine.js';
import { SignatureAssembler, SignatureMaker, encodeSignature, refineSpec, signatureSpec } from '../../src/remote/wire/signature.js';
import { concat, randomBytes } from '../helpers/data.js';

function signature(basis: Uint8Array, spec: { blockLength: number; strongLength: number }) {
  const m = new SignatureMaker(spec);
  m.push(basis);
  const built = m.end();
  const { first, more } = encodeSignature(1, 0, built);
  const a = new SignatureAssembler();
  let req = a.first(first);
  for (const x of more) req = a.more(x);
  return req!.signature;
}

/** Both rounds in memory; returns the final delta and whether a second round happened. */
function twoRounds(old: Uint8Array, next: Uint8Array): { delta: Uint8Array; refined: boolean; literal: number } {
  const spec = signatureSpec(old.length);
  const g = new LibrsyncDeltaGenerator(signature(old, spec));
  g.push(next);
  g.end();
  const ops: DeltaOp[] = [];
  const literals: Uint8Array[] = [];
  const copies: [number, number][] = [];
  const reader = new DeltaOpsReader((op, data) => {
    if (op.kind === 'copy') copies.push([op.from, op.length]);
    const last = ops[ops.length - 1];
    if (op.kind === 'literal') {
      literals.push(new Uint8Array(data!));
      if (last?.kind === 'literal') last.length += op.length;
      else ops.push({ ...op });
    } else ops.push(op);
  });
  const first = g.take();
  reader.push(first);
  reader.end();
  const ranges = unusedRanges(copies, old.length, 64);
  if (reader.copyBytes === 0 || reader.literalBytes === 0 || ranges.length === 0)
    return { delta: first, refined: false, literal: reader.literalBytes };
  const virtual = concat(...ranges.map((r) => old.subarray(r.start, r.start + r.length)));
  const g2 = new LibrsyncDeltaGenerator(signature(virtual, refineSpec(virtual.length, spec.blockLength)));
  const out = new LibrsyncDeltaEncoder();
  const splicer = new DeltaSplicer(ops, ranges, out);
  for (const l of literals) {
    g2.push(l);
    splicer.push(g2.take());
  }
  g2.end();
  splicer.push(g2.take());
  splicer.end();
  out.end();
  return { delta: out.take(), refined: true, literal: out.stats.literalBytes };
}

test('a refined delta rebuilds the new file exactly, and carries less literal data', () => {
  let refinedCount = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const old = randomBytes(50_000 + seed * 7919, seed);
    // Scattered edits: insertions, deletions, overwrites, a moved block.
    const cut = (a: number, b: number) => old.subarray(Math.floor(old.length * a), Math.floor(old.length * b));
    const next = concat(
      cut(0, 0.1),
      randomBytes(seed * 3, 100 + seed),
      cut(0.1, 0.3),
      cut(0.31, 0.5),
      randomBytes(700, 200 + seed),
      cut(0.52, 0.7),
      cut(0.9, 1),
      cut(0.7, 0.9),
    );
    const r = twoRounds(old, next);
    assert.deepEqual(Buffer.from(applyLibrsyncDelta(old, r.delta)), Buffer.from(next), `seed ${seed}`);
    if (r.refined) refinedCount++;
  }
  assert.ok(refinedCount >= 25, `refined ${refinedCount} of 30`);
  // Small edits in big blocks: the second round finds most of what the first lost.
  const old = randomBytes(2_000_000, 7);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 20; i++)
    parts.push(
      old.subarray(i * 100_000, i * 100_000 + 50_000),
      Buffer.from(`edit ${i}`),
      old.subarray(i * 100_000 + 50_010, (i + 1) * 100_000),
    );
  const next = concat(...parts);
  const r = twoRounds(old, next);
  assert.deepEqual(Buffer.from(applyLibrsyncDelta(old, r.delta)), Buffer.from(next));
  assert.ok(r.refined);
  assert.ok(
    r.literal < 20 * 1200,
    `literal after refinement ${r.literal} (first blocks are ${signatureSpec(old.length).blockLength} bytes)`,
  );
});

test('unused ranges: the complement of the copies, short gaps dropped', () => {
  assert.deepEqual(
    unusedRanges(
      [
        [10, 10],
        [50, 25],
        [15, 10],
      ],
      100,
      5,
    ),
    [
      { start: 0, length: 10 },
      { start: 25, length: 25 },
      { start: 75, length: 25 },
    ],
  );
  assert.deepEqual(unusedRanges([[3, 10]], 14, 5), []);
  assert.deepEqual(unusedRanges([], 9, 1), [{ start: 0, length: 9 }]);
});

test('a range map splits pieces at range boundaries and refuses copies past its end', () => {
  const m = new RangeMap([
    { start: 100, length: 10 },
    { start: 500, length: 5 },
  ]);
  const got: [number, number][] = [];
  m.pieces(8, 5, (real, n) => got.push([real, n]));
  assert.deepEqual(got, [
    [108, 2],
    [500, 3],
  ]);
  assert.throws(
    () => m.pieces(12, 4, () => {}),
    (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.PROTOCOL,
  );
});

test('REFINE payloads: round trip, and ranges out of order, empty, outside the basis or unasked are refused', () => {
  const ranges = [
    { start: 5, length: 10 },
    { start: 40, length: 1 },
    { start: 41, length: 59 },
  ];
  assert.deepEqual(
    decodeRefine(encodeRefine(3, ranges), () => 100),
    { index: 3, ranges },
  );
  const refused = (payload: Uint8Array, re: RegExp, size: number | null = 100) =>
    assert.throws(
      () => decodeRefine(payload, () => size ?? undefined),
      (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.PROTOCOL && re.test(err.message),
    );
  refused(encodeRefine(3, [{ start: 90, length: 11 }]), /outside the 100-byte basis/);
  refused(encodeRefine(3, [{ start: 1, length: 0 }]), /empty/);
  refused(encodeRefine(3, []), /names no range/);
  refused(encodeRefine(3, ranges), /has no signature to refine/, null);
});

test('file list batches round-trip with shared prefixes, same-mode and same-time flags', () => {
  const entries: ListEntry[] = [
    { path: '', type: 'dir', mode: 0o755, mtime: 1000, size: 0 },
    { path: 'lib', type: 'dir', mode: 0o755, mtime: 1000, size: 0 },
    { path: 'lib/a.js', type: 'file', mode: 0o644, mtime: -5, size: 123 },
    { path: 'lib/ab.js', type: 'file', mode: 0o644, mtime: -5, size: 2 ** 40 },
    { path: 'lib/é', type: 'symlink', mode: 0o777, mtime: 1_700_000_000_123, size: 0, target: '../ä/b' },
  ];
  const enc = new FileListEncoder();
  for (const e of entries) assert.equal(enc.add(e), undefined);
  const batch = enc.take()!;
  assert.deepEqual(decodeFileBatch(batch), entries);
  const checker = new FileListChecker();
  for (const e of entries) checker.check(e);
  assert.equal(checker.count, 5);
  // A truncated batch, a lying count.
  assert.throws(
    () => decodeFileBatch(batch.subarray(0, batch.length - 1)),
    (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.PROTOCOL,
  );
  assert.throws(
    () => decodeFileBatch(new Uint8Array([0xff, 0x7f])),
    (err: unknown) => SyncError.is(err) && /entry count/.test(err.message),
  );
});
