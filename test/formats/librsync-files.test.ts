/** rdiffSignature / rdiffDelta / rdiffPatch on files and streams (no rdiff needed). */
import assert from 'node:assert/strict';
import { chmod, lstat, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { encodeLibrsyncSignature } from '../../src/formats/librsync-signature.js';
import { rdiffDelta, rdiffPatch, rdiffSignature } from '../../src/formats/rdiff-file.js';
import { chunked, concat, randomBytes } from '../helpers/data.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-rdiff-files-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const p = (name: string) => join(dir, name);
const isCode = (code: string) => (e: unknown) => SyncError.is(e) && e.code === code;

test('signature, delta and patch on files (5 MiB: several read pieces), with reports', async () => {
  const old = randomBytes(5 * 1024 * 1024 + 123, 1);
  const nw = concat(old.subarray(0, 1_000_000), randomBytes(5000, 2), old.subarray(1_000_100));
  await writeFile(p('old'), old);
  await writeFile(p('new'), nw);
  const progress: number[] = [];
  const s = await rdiffSignature(p('old'), p('sig'), { onProgress: (done) => progress.push(done) });
  assert.equal(s.blockLength, 2176); // ⌊√5243003⌋ = 2289, rounded down to a multiple of 128
  assert.deepEqual(await readFile(p('sig')), Buffer.from(encodeLibrsyncSignature(old)));
  assert.equal(s.signatureBytes, 12 + s.blockCount * 36);
  assert.equal(progress.at(-1), old.length);
  const d = await rdiffDelta(p('sig'), p('new'), p('delta'));
  assert.equal(d.newBytes, nw.length);
  assert.equal(d.literalBytes + d.copyBytes, nw.length);
  assert.ok(d.literalBytes < 5000 + 2 * s.blockLength, `literal ${d.literalBytes}`);
  const r = await rdiffPatch(p('old'), p('delta'), p('out'));
  assert.equal(r.outputBytes, nw.length);
  assert.equal(r.copyBytes, d.copyBytes);
  assert.equal(r.copyCommands, d.copyCommands);
  assert.deepEqual(await readFile(p('out')), Buffer.from(nw));
});

test('streams in and out: stdin-like inputs, stdout-like outputs', async () => {
  const old = randomBytes(300_000, 3);
  const nw = concat(randomBytes(10, 4), old);
  await writeFile(p('s-old'), old);
  const collect = () => {
    const out = new PassThrough();
    const parts: Buffer[] = [];
    out.on('data', (c: Buffer) => parts.push(c));
    return { out, bytes: () => Buffer.concat(parts) };
  };
  const sigOut = collect();
  // A stream of unknown size gets rdiff's pipe defaults (block 2048).
  const s = await rdiffSignature(Readable.from(chunked(old, [777])), sigOut.out);
  assert.equal(s.blockLength, 2048);
  assert.deepEqual(sigOut.bytes(), Buffer.from(encodeLibrsyncSignature(old, { blockLength: 2048 })));
  // With the size given, the file defaults.
  const sized = collect();
  await rdiffSignature(Readable.from(chunked(old, [4096])), sized.out, { basisSize: old.length });
  assert.deepEqual(sized.bytes(), Buffer.from(encodeLibrsyncSignature(old)));
  const deltaOut = collect();
  await rdiffDelta(Readable.from([sigOut.bytes()]), Readable.from(chunked(nw, [1000, 3])), deltaOut.out);
  const patched = collect();
  await rdiffPatch(p('s-old'), Readable.from(chunked(deltaOut.bytes(), [5])), patched.out);
  assert.deepEqual(patched.bytes(), Buffer.from(nw));
  // Bytes in memory work too.
  await rdiffPatch(p('s-old'), new Uint8Array(deltaOut.bytes()), p('s-out'));
  assert.deepEqual(await readFile(p('s-out')), Buffer.from(nw));
});

test('overwrite: false refuses an existing output; the output may be the basis itself', async () => {
  const old = randomBytes(10_000, 5);
  const nw = concat(old.subarray(0, 5000), randomBytes(100, 6));
  await writeFile(p('o-old'), old);
  await writeFile(p('o-new'), nw);
  await writeFile(p('o-sig'), 'already here');
  await assert.rejects(
    rdiffSignature(p('o-old'), p('o-sig'), { overwrite: false }),
    (e: unknown) => isCode(ErrorCodes.IO)(e) && /exists/.test((e as Error).message),
  );
  assert.equal(await readFile(p('o-sig'), 'utf8'), 'already here');
  await rdiffSignature(p('o-old'), p('o-sig'));
  await rdiffDelta(p('o-sig'), p('o-new'), p('o-delta'));
  await rdiffPatch(p('o-old'), p('o-delta'), p('o-old')); // in place: replaced once complete
  assert.deepEqual(await readFile(p('o-old')), Buffer.from(nw));
});

test('a patched output never inherits set-id bits: through a link (replaced, its target untouched) or in place', async () => {
  const old = randomBytes(20_000, 7);
  const nw = concat(randomBytes(300, 8), old.subarray(1000));
  await writeFile(p('s-basis'), old);
  await writeFile(p('s-new'), nw);
  await rdiffSignature(p('s-basis'), p('s-sig'));
  await rdiffDelta(p('s-sig'), p('s-new'), p('s-delta'));
  const modeOf = async (path: string) => (await stat(path)).mode & 0o7777;
  // A link to a setuid program: the output is a new file, of the default mode.
  await writeFile(p('suid'), 'program');
  await chmod(p('suid'), 0o4755);
  assert.equal(await modeOf(p('suid')), 0o4755, 'the system kept the setuid bit of the fixture');
  await symlink(p('suid'), p('slink'));
  const mask = process.umask(0o022);
  try {
    await rdiffPatch(p('s-basis'), p('s-delta'), p('slink'));
  } finally {
    process.umask(mask);
  }
  const st = await lstat(p('slink'));
  assert.ok(st.isFile(), 'the link was replaced by a regular file');
  assert.equal(st.mode & 0o7777, 0o644);
  assert.deepEqual(await readFile(p('slink')), Buffer.from(nw));
  assert.equal(await modeOf(p('suid')), 0o4755);
  assert.equal(await readFile(p('suid'), 'utf8'), 'program');
  // In place over a 6755 basis: its permission bits stay, its set-id bits go.
  await chmod(p('s-basis'), 0o6755);
  await rdiffPatch(p('s-basis'), p('s-delta'), p('s-basis'));
  assert.equal(await modeOf(p('s-basis')), 0o755);
  assert.deepEqual(await readFile(p('s-basis')), Buffer.from(nw));
});

test('abort: ABORTED, nothing written, no temporary file left', async () => {
  const old = randomBytes(9 * 1024 * 1024, 7);
  await writeFile(p('a-old'), old);
  const ac = new AbortController();
  const run = rdiffSignature(p('a-old'), p('a-sig'), { signal: ac.signal, onProgress: () => ac.abort(new Error('stop')) });
  await assert.rejects(run, isCode(ErrorCodes.ABORTED));
  await assert.rejects(readFile(p('a-sig')));
  const aborted = AbortSignal.abort();
  await assert.rejects(rdiffDelta(p('nope'), p('a-old'), p('a-delta'), { signal: aborted }), isCode(ErrorCodes.ABORTED));
  await assert.rejects(rdiffPatch(p('a-old'), p('nope'), p('a-out'), { signal: aborted }), isCode(ErrorCodes.ABORTED));
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.includes('gosync-tmp')),
    [],
  );
});

test('missing files and oversized signatures are clear errors', async () => {
  await assert.rejects(
    rdiffSignature(p('missing'), p('x')),
    (e: unknown) => isCode(ErrorCodes.IO)(e) && /missing/.test((e as Error).message),
  );
  await assert.rejects(
    rdiffPatch(dir, p('x'), p('y')),
    (e: unknown) => isCode(ErrorCodes.IO)(e) && /not a regular file/.test((e as Error).message),
  );
  await writeFile(p('big-sig'), encodeLibrsyncSignature(randomBytes(100_000, 8), { blockLength: 64 }));
  await writeFile(p('n'), 'x');
  await assert.rejects(
    rdiffDelta(p('big-sig'), p('n'), p('d'), { maxSignatureBytes: 1000 }),
    (e: unknown) => isCode(ErrorCodes.INDEX_CORRUPT)(e) && /over the limit of 1000/.test((e as Error).message),
  );
  await assert.rejects(readFile(p('d')));
});
