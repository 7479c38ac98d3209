/**
 * The short fuzz run: every decoder that reads remote data gets 1,200 mutated inputs of
 * its valid encodings (the long run, 100,000 each: `npm run fuzz`, docs/robustness.md).
 * Each must decode or fail with a SyncError, within the time bound.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { applyDeltaFile, deltaFile } from '../../src/forms/delta-file.js';
import { type FuzzTarget, fuzz, makeInput } from './engine.js';
import { makeTargets } from './targets.js';

const COUNT = 1200;
/** Not the long run's seed: the short run tries other inputs each time the seed changes. */
const SEED = 7;

let dir: string;
let targets: FuzzTarget[];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-fuzz-test-'));
  targets = await makeTargets(dir);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('the engine reports what is not a SyncError, and replays an input from its number', async () => {
  const seeds = [Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])];
  const target: FuzzTarget = {
    name: 'picky',
    seeds,
    run(input) {
      if (input.length > 8) throw new TypeError('too long');
      if (input.length < 8) throw new SyncError(ErrorCodes.INDEX_CORRUPT, 'Cannot read: short');
    },
  };
  const r = await fuzz(target, { count: 300, seed: 3 });
  assert.equal(r.inputs, 300);
  assert.ok(r.accepted > 0 && (r.refused[ErrorCodes.INDEX_CORRUPT] ?? 0) > 0, JSON.stringify(r.refused));
  assert.ok(r.findings.length > 0 && r.findings.every((f) => f.kind === 'exception' && /TypeError: too long/.test(f.detail)));
  const f = r.findings[0]!;
  assert.equal(Buffer.from(makeInput(target, 3, f.input)).toString('hex'), f.hex);
});

test('the targets cover every decoder of remote data, and each seed is accepted', async () => {
  const names = targets.map((t) => t.name).join('\n');
  for (const part of ['gosync index', 'summary', 'published', '.zsync', 'go-sync', 'librsync signature', 'librsync delta', 'rdiff']) {
    assert.match(names, new RegExp(part.replace('.', '\\.')));
  }
  for (const kind of ['zstd', 'lz', 'bsdiff', 'librsync']) assert.match(names, new RegExp(`delta file: ${kind}`));
  for (const part of ['manifest', 'multipart', 'ssh frame payloads', 'ssh frame stream']) assert.match(names, new RegExp(part));
  // A seed that fails would make the run test only the first checks.
  for (const t of targets) {
    for (const [k, s] of t.seeds.entries()) {
      if (t.name === 'delta file: any kind (base in memory)') continue;
      await assert.doesNotReject(async () => t.run(s), `${t.name}: seed ${k}`);
    }
  }
});

test('a librsync delta file given a base in memory is DELTA_CORRUPT, not a RangeError (found by fuzzing)', async () => {
  const input = Uint8Array.from(Buffer.from('04f02e0080000800', 'hex'));
  await assert.rejects(
    applyDeltaFile(input, new Uint8Array(100), { write: async () => {} }, { newSize: 10 }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.DELTA_CORRUPT,
  );
  await assert.rejects(
    applyDeltaFile(deltaFile('librsync', new Uint8Array(20)), new Uint8Array(0), { write: async () => {} }, { newSize: 0 }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.DELTA_CORRUPT,
  );
});

test(`${COUNT} mutated inputs per decoder: nothing but SyncError, none over the time bound`, async (t) => {
  for (const target of targets) {
    await t.test(target.name, async () => {
      const r = await fuzz(target, { count: COUNT, seed: SEED, timeBoundMs: 5000 });
      assert.equal(r.inputs, COUNT);
      const report = r.findings.map((f) => `#${f.input} ${f.kind} ${f.detail.split('\n')[0]} (${f.length} bytes: ${f.hex.slice(0, 200)})`);
      assert.deepEqual(report, []);
      // Mutations reach past the first check: some inputs still decode.
      assert.ok(r.accepted > 0, `${target.name}: no input was accepted`);
    });
  }
});
