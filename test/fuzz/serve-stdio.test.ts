/**
 * The short fuzz run of `serve --stdio`'s server side (the long run: `npm run fuzz`,
 * docs/robustness.md): client streams with hostile signatures within the sender's limits
 * (test/fuzz/session-targets.ts), each seed, then mutated. Every session must end, with
 * its result or a SyncError, within the hang bound; no input may add more than the
 * target's memory bound to the resident memory, and the whole run stays bounded too.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SyncError } from '../../src/core/errors.js';
import { type FuzzTarget, fuzz } from './engine.js';
import { HANG_MS, receiveOnce, sessionTargets } from './session-targets.js';

const COUNT = 300;
const SEED = 7;

let dir: string;
let targets: FuzzTarget[];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-fuzz-serve-'));
  targets = await sessionTargets(dir);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What each seed of a target comes to: 'served', or the SyncError's code. */
async function outcomes(t: FuzzTarget, run = t.run): Promise<string[]> {
  const out: string[] = [];
  for (const seed of t.seeds) {
    try {
      await run(seed);
      out.push('served');
    } catch (err) {
      assert.ok(SyncError.is(err), String((err as Error)?.stack ?? err));
      out.push(err.code);
    }
  }
  return out;
}

test('pull: each seed ends; the honest pull and the hostile signatures within limits are served, broken streams refused', async () => {
  const got = await outcomes(targets.find((t) => t.name.includes('pull'))!);
  // The honest pull, nothing asked, both one-weak-sum signatures, 1-byte blocks, the most blocks, identical records.
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 7].map((k) => got[k]),
    Array(7).fill('served'),
    got.join(', '),
  );
  // A signature twice, one for the root folder, a cut stream.
  for (const k of [6, 8, 9]) assert.notEqual(got[k], 'served', `seed ${k}: ${got.join(', ')}`);
});

test('push: each seed ends; honest pushes are received, a bad checksum and unsafe or duplicate paths refused', async () => {
  // A client waits for FINISH as long as the server works: here up to 2 s of silence.
  const got = await outcomes(targets.find((t) => t.name.includes('push'))!, (input) => receiveOnce(join(dir, 'received'), input, 2000));
  assert.deepEqual(got, [
    'served',
    'served',
    'GOSYNC_ERR_NETWORK',
    'GOSYNC_ERR_UNSAFE_PATH',
    'GOSYNC_ERR_UNSAFE_PATH',
    'GOSYNC_ERR_PROTOCOL',
  ]);
});

test(`${COUNT} mutated client streams: nothing but SyncError, no hang (${HANG_MS} ms), resident memory bounded`, async () => {
  for (const target of targets) {
    const rss = process.memoryUsage.rss();
    const r = await fuzz(target, { count: COUNT, seed: SEED, timeBoundMs: HANG_MS });
    const report = r.findings.map((f) => `#${f.input} ${f.kind} ${f.detail.split('\n')[0]} (${f.length} bytes)`);
    assert.deepEqual(report, []);
    assert.equal(r.inputs, COUNT);
    assert.ok(r.accepted > 0, 'no input was served');
    assert.ok(process.memoryUsage.rss() - rss < 256 * 1024 * 1024, `resident memory grew by ${process.memoryUsage.rss() - rss} bytes`);
  }
});
