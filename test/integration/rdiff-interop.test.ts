/**
 * Interoperability with the real `rdiff` (librsync 2.3.2): for each of the four signature
 * magics, signatures are byte-identical, and every mix of signature, delta and patch
 * between rdiff and gosync rebuilds the new file; malformed files fail cleanly.
 *
 * Needs rdiff. Outside CI a missing rdiff skips the tests; with CI=true it fails them.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test, type TestContext } from 'node:test';
import { rdiffDelta, rdiffPatch, rdiffSignature } from '../../src/formats/rdiff-file.js';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { CLI, runCli } from '../helpers/cli.js';
import { concat, randomBytes } from '../helpers/data.js';

const run = promisify(execFile);
const CI = process.env.CI === 'true';

let dir: string;
let missing: string | undefined;
let serial = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-rdiff-'));
  try {
    execFileSync('sh', ['-c', 'command -v rdiff'], { stdio: 'ignore' });
  } catch {
    missing = 'rdiff not installed (apt-get install rdiff)';
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function needRdiff(t: TestContext): boolean {
  if (!missing) return true;
  if (CI) assert.fail(`${missing}: required under CI`);
  t.skip(missing);
  return false;
}

const rdiff = (args: string[]) => run('rdiff', args, { maxBuffer: 64 << 20 });
const path = (name: string) => join(dir, `${serial}-${name}`);

/** Each magic as rdiff's options. */
const MAGICS: [string, string[], { hash: 'md4' | 'blake2'; rollsum: 'rollsum' | 'rabinkarp' }][] = [
  ['0x72730136 rollsum + MD4', ['-H', 'md4', '-R', 'rollsum'], { hash: 'md4', rollsum: 'rollsum' }],
  ['0x72730137 rollsum + BLAKE2', ['-H', 'blake2', '-R', 'rollsum'], { hash: 'blake2', rollsum: 'rollsum' }],
  ['0x72730146 RabinKarp + MD4', ['-H', 'md4', '-R', 'rabinkarp'], { hash: 'md4', rollsum: 'rabinkarp' }],
  ['0x72730147 RabinKarp + BLAKE2', [], { hash: 'blake2', rollsum: 'rabinkarp' }],
];

/** An edited version of `data`: insertions, a deletion, an overwrite. */
function edited(data: Uint8Array, seed: number): Uint8Array {
  const n = data.length;
  if (n < 64) return concat(data, randomBytes(7, seed));
  const q = Math.floor(n / 5);
  return concat(
    randomBytes(3, seed), // an insertion at the very start
    data.subarray(0, q),
    randomBytes(1000, seed + 1), // an insertion
    data.subarray(q, 2 * q),
    data.subarray(2 * q + 777, 3 * q), // a deletion
    randomBytes(300, seed + 2), // an overwrite
    data.subarray(3 * q + 300),
  );
}

interface Pair {
  name: string;
  old: Uint8Array;
  new: Uint8Array;
  /** Extra rdiff signature options (block and sum sizes). */
  options: string[];
}

const B = 256;
const PAIRS: Pair[] = [
  { name: 'edited, 100 kB, default block', old: randomBytes(100_000, 1), new: new Uint8Array(0), options: [] },
  { name: 'exact multiple of the block size', old: randomBytes(B * 300, 2), new: new Uint8Array(0), options: ['-b', String(B)] },
  { name: 'short last block', old: randomBytes(B * 300 + 77, 3), new: new Uint8Array(0), options: ['-b', String(B), '-S', '-1'] },
  { name: 'empty old file', old: new Uint8Array(0), new: randomBytes(5000, 4), options: [] },
  { name: 'one-byte old file', old: Uint8Array.of(0x78), new: Uint8Array.of(0x78), options: [] },
  { name: 'one-byte file to a longer one', old: Uint8Array.of(0x78), new: concat(Uint8Array.of(0x78), randomBytes(300, 5)), options: [] },
  { name: 'edited, 3 MB, default block (1664), 8-byte sums', old: randomBytes(3_000_000, 6), new: new Uint8Array(0), options: ['-S', '8'] },
  { name: 'new file empty', old: randomBytes(2000, 7), new: new Uint8Array(0), options: ['-b', '100'] },
];
for (const p of PAIRS) if (p.new.length === 0 && p.name !== 'new file empty') p.new = edited(p.old, 17);

for (const [magicName, magicArgs, kind] of MAGICS) {
  test(`rdiff interop, ${magicName}: identical signatures and all four mixes rebuild the new file`, async (t) => {
    if (!needRdiff(t)) return;
    for (const pair of PAIRS) {
      serial++;
      const what = `${magicName}, ${pair.name}`;
      const oldPath = path('old');
      const newPath = path('new');
      await writeFile(oldPath, pair.old);
      await writeFile(newPath, pair.new);
      const rdiffArgs = [...magicArgs, ...pair.options];
      const block = pair.options.includes('-b') ? Number(pair.options[pair.options.indexOf('-b') + 1]) : 0;
      const sum = pair.options.includes('-S') ? Number(pair.options[pair.options.indexOf('-S') + 1]) : 0;

      // Signatures: byte-identical.
      await rdiff([...rdiffArgs, 'signature', oldPath, path('their.sig')]);
      await rdiffSignature(oldPath, path('our.sig'), { ...kind, blockLength: block, strongLength: sum });
      assert.deepEqual(await readFile(path('our.sig')), await readFile(path('their.sig')), `${what}: signature bytes`);

      // 1. our signature + their delta + our patch
      await rdiff(['delta', path('our.sig'), newPath, path('1.delta')]);
      await rdiffPatch(oldPath, path('1.delta'), path('1.out'));
      assert.deepEqual(await readFile(path('1.out')), Buffer.from(pair.new), `${what}: our sig + their delta + our patch`);

      // 2. their signature + our delta + their patch
      await rdiffDelta(path('their.sig'), newPath, path('2.delta'));
      await rdiff(['patch', oldPath, path('2.delta'), path('2.out')]);
      assert.deepEqual(await readFile(path('2.out')), Buffer.from(pair.new), `${what}: their sig + our delta + their patch`);

      // 3. our signature + our delta + their patch
      await rdiffDelta(path('our.sig'), newPath, path('3.delta'));
      await rdiff(['patch', oldPath, path('3.delta'), path('3.out')]);
      assert.deepEqual(await readFile(path('3.out')), Buffer.from(pair.new), `${what}: our sig + our delta + their patch`);

      // 4. their signature + their delta + our patch
      await rdiff(['delta', path('their.sig'), newPath, path('4.delta')]);
      await rdiffPatch(oldPath, path('4.delta'), path('4.out'));
      assert.deepEqual(await readFile(path('4.out')), Buffer.from(pair.new), `${what}: their sig + their delta + our patch`);

      // Our delta is no larger than rdiff's (the same matches, merged copies).
      const ours = (await readFile(path('2.delta'))).length;
      const theirs = (await readFile(path('4.delta'))).length;
      assert.ok(ours <= theirs, `${what}: our delta ${ours} B, rdiff's ${theirs} B`);
    }
  });
}

test('the worked example, byte for byte against rdiff: both signatures and the delta', async (t) => {
  if (!needRdiff(t)) return;
  serial++;
  const old = new TextEncoder().encode('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!?');
  const nw = concat(old.subarray(0, 16), new TextEncoder().encode('hello, '), old.subarray(16));
  await writeFile(path('old'), old);
  await writeFile(path('new'), nw);
  for (const opts of [
    ['-b', '16', '-S', '8'],
    ['-b', '16', '-S', '8', '-H', 'md4', '-R', 'rollsum'],
  ]) {
    await rdiff([...opts, 'signature', path('old'), path('their.sig')]);
    const ours = await runCli(['rdiff', ...opts, 'signature', path('old'), path('our.sig')]);
    assert.equal(ours.code, 0, ours.stderr);
    assert.deepEqual(await readFile(path('our.sig')), await readFile(path('their.sig')));
    await rm(path('our.sig'));
    await rm(path('their.sig'));
  }
  await rdiff(['-b', '16', '-S', '8', 'signature', path('old'), path('sig')]);
  await rdiff(['delta', path('sig'), path('new'), path('their.delta')]);
  const d = await runCli(['rdiff', 'delta', path('sig'), path('new'), path('our.delta')]);
  assert.equal(d.code, 0, d.stderr);
  const ours = await readFile(path('our.delta'));
  assert.equal(ours.toString('hex'), '72730236450010' + '0768656c6c6f2c20' + '451030' + '00');
  assert.deepEqual(ours, await readFile(path('their.delta')));
});

test("gosync rdiff takes rdiff's arguments: options anywhere, -S -1, stdin and stdout, -f", async (t) => {
  if (!needRdiff(t)) return;
  serial++;
  const old = randomBytes(200_000, 31);
  const nw = edited(old, 32);
  await writeFile(path('old'), old);
  await writeFile(path('new'), nw);
  // Options before the action, "-S -1" with a separate negative value.
  let r = await runCli(['rdiff', '-S', '-1', '-H', 'md4', 'signature', path('old'), path('our.sig')]);
  assert.equal(r.code, 0, r.stderr);
  await rdiff(['-S', '-1', '-H', 'md4', 'signature', path('old'), path('their.sig')]);
  assert.deepEqual(await readFile(path('our.sig')), await readFile(path('their.sig')));
  // rdiff refuses to overwrite without -f; so does gosync rdiff (exit 1, file untouched).
  await writeFile(path('exists'), 'keep me');
  r = await runCli(['rdiff', 'signature', path('old'), path('exists')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /exists \(use -f/);
  assert.equal(await readFile(path('exists'), 'utf8'), 'keep me');
  await rdiff(['signature', path('old'), path('default.sig')]);
  const defaultSig = await readFile(path('default.sig'));
  r = await runCli(['rdiff', '-f', 'signature', path('old'), path('exists')]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await readFile(path('exists')), defaultSig);
  // Statistics on stderr; stdout stays empty.
  r = await runCli(['rdiff', '-s', 'delta', path('our.sig'), path('new'), path('our.delta')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /delta statistics: literal\[\d+ cmds, \d+ bytes, \d+ cmdbytes\] copy\[\d+ cmds/);
  await rdiff(['patch', path('old'), path('our.delta'), path('out')]);
  assert.deepEqual(await readFile(path('out')), Buffer.from(nw));
  // A pipeline: signature to stdout, delta from stdin to stdout, patch from stdin.
  const sig = await pipe(['rdiff', 'signature', path('old')], undefined);
  assert.deepEqual(sig, defaultSig);
  // From stdin the size is unknown: rdiff's defaults for a pipe (block 2048).
  const piped = await pipe(['rdiff', 'signature', '-', '-'], old);
  assert.equal(piped.readUInt32BE(4), 2048);
  const theirPiped = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn('rdiff', ['signature'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const parts: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => parts.push(c));
    child.on('error', reject);
    child.on('close', () => resolve(Buffer.concat(parts)));
    child.stdin.end(old);
  });
  assert.deepEqual(piped, theirPiped);
  const delta = await pipe(['rdiff', 'delta', '-', path('new')], sig);
  const out = await pipe(['rdiff', 'patch', path('old'), '-', '-'], delta);
  assert.deepEqual(out, Buffer.from(nw));
});

/** Runs the CLI with `input` on stdin; resolves with stdout (rejects on a non-zero exit). */
function pipe(args: string[], input: Uint8Array | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`exit ${code}: ${err}`))));
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

test('misuse exits 2: compressed deltas, an unknown action, bad option values', async () => {
  const cases: [string[], RegExp][] = [
    [['rdiff', '-z', 'delta', 'a', 'b', 'c'], /compressed deltas/],
    [['rdiff', '-i', 'delta', 'a', 'b', 'c'], /compressed deltas/],
    [['rdiff'], /needs an action/],
    [['rdiff', 'frob'], /unknown rdiff action "frob"/],
    [['rdiff', '-H', 'sha1', 'signature', 'a', 'b'], /--hash must be blake2 or md4/],
    [['rdiff', '-R', 'adler', 'signature', 'a', 'b'], /--rollsum must be rabinkarp or rollsum/],
    [['rdiff', '-S', '33', 'signature', 'a', 'b'], /--sum-size must be/],
    [['rdiff', '-H', 'md4', '-S', '17', 'signature', 'a', 'b'], /1 to 16 for md4/],
    [['rdiff', '-b', 'x', 'signature', 'a', 'b'], /--block-size must be an integer/],
    [['rdiff', '-b', '99999999', 'signature', 'a', 'b'], /--block-size must be 0/],
    [['rdiff', 'patch', '-', 'd', 'o'], /basis as a file/],
    [['rdiff', 'delta', '-', '-', 'o'], /only one input can be stdin/],
    [['rdiff', 'signature', 'a', 'b', 'c'], /signature takes/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  const h = await runCli(['rdiff', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Usage: gosync rdiff \[options\] signature/);
});

test('malformed signatures and deltas: a clear error, exit 1, nothing written', async (t) => {
  serial++;
  const old = randomBytes(10_000, 41);
  const nw = edited(old, 42);
  await writeFile(path('old'), old);
  await writeFile(path('new'), nw);
  await rdiffSignature(path('old'), path('good.sig'), { blockLength: 512 });
  await rdiffDelta(path('good.sig'), path('new'), path('good.delta'));
  const sig = await readFile(path('good.sig'));
  const delta = await readFile(path('good.delta'));
  const u32 = (b: Buffer, at: number, v: number) => {
    const c = Buffer.from(b);
    c.writeUInt32BE(v, at);
    return c;
  };
  const badSigs: [string, Buffer, RegExp, string][] = [
    ['truncated record', sig.subarray(0, sig.length - 3), /last block record is truncated/, ErrorCodes.INDEX_CORRUPT],
    ['wrong magic', u32(sig, 0, 0x12345678), /magic number 0x12345678/, ErrorCodes.INDEX_CORRUPT],
    ['a delta as the signature', delta, /it is a delta/, ErrorCodes.INDEX_CORRUPT],
    ['block_len 0', u32(sig, 4, 0), /block length is 0/, ErrorCodes.INDEX_CORRUPT],
    ['absurd block_len', u32(sig, 4, 0x7fffffff), /block length 2147483647 is over/, ErrorCodes.INDEX_UNSUPPORTED],
    ['strong_len 40', u32(sig, 8, 40), /strong sum length 40/, ErrorCodes.INDEX_CORRUPT],
  ];
  for (const [what, bytes, message, code] of badSigs) {
    await writeFile(path('bad.sig'), bytes);
    const r = await runCli(['rdiff', 'delta', path('bad.sig'), path('new'), path('out.delta')]);
    assert.equal(r.code, 1, what);
    assert.match(r.stderr, message, what);
    assert.match(r.stderr, new RegExp(`\\[${code}\\]`), what);
    await assert.rejects(readFile(path('out.delta')), what);
    await assert.rejects(rdiffDelta(path('bad.sig'), path('new'), path('out.delta')), (e: unknown) => SyncError.is(e) && e.code === code);
  }
  const badDeltas: [string, Buffer, RegExp][] = [
    ['truncated command', Buffer.concat([delta.subarray(0, 4), Buffer.from([0x4e, 0x00, 0x01])]), /truncated/],
    ['truncated literal', Buffer.concat([delta.subarray(0, 4), Buffer.from([0x10, 0x61])]), /missing \(truncated\)/],
    ['no END', delta.subarray(0, delta.length - 1), /without an END command|truncated/],
    ['reserved opcode', Buffer.concat([delta.subarray(0, 4), Buffer.from([0x55, 0x00])]), /reserved opcode 0x55/],
    [
      'COPY past the old file',
      Buffer.concat([delta.subarray(0, 4), Buffer.from([0x49, 0x27, 0x10, 0x01, 0x00])]),
      /COPY of 1 bytes at 10000 goes past the end of the 10000-byte basis/,
    ],
    ['bytes after END', Buffer.concat([delta, Buffer.from([0x00])]), /follow the END command/],
    ['wrong magic', u32(delta, 0, 0x72730137), /a librsync signature, not a delta/],
  ];
  for (const [what, bytes, message] of badDeltas) {
    await writeFile(path('bad.delta'), bytes);
    const r = await runCli(['rdiff', 'patch', path('old'), path('bad.delta'), path('out')]);
    assert.equal(r.code, 1, `${what}: ${r.stderr}`);
    assert.match(r.stderr, message, what);
    assert.match(r.stderr, /\[GOSYNC_ERR_DELTA_CORRUPT\]/, what);
    await assert.rejects(readFile(path('out')), what);
    await assert.rejects(
      rdiffPatch(path('old'), path('bad.delta'), path('out')),
      (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.DELTA_CORRUPT,
    );
  }
  // No temporary files left behind.
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.endsWith('.gosync-tmp')),
    [],
  );
  if (!missing) {
    // rdiff itself refuses the same deltas (except bytes after END, which it ignores).
    for (const [what, bytes] of badDeltas.filter(([w]) => w !== 'bytes after END')) {
      await writeFile(path('bad.delta'), bytes);
      await assert.rejects(rdiff(['-f', 'patch', path('old'), path('bad.delta'), path('rdiff.out')]), what);
    }
  } else t.diagnostic(`${missing}: rdiff's own verdicts not checked`);
});
