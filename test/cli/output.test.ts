/**
 * What the commands print and where: `-o -` (the verified result on stdout, the summary on
 * stderr), `rdiff patch` to stdout, `-q` (nothing but errors), `patch --dry-run` of a file,
 * and locations that are not http(s) URLs or paths (usage errors, exit 2, no stack trace).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';

let dir: string;
let ref: string;
let local: string;
let oldData: Buffer;
let newData: Buffer;

/**
 * Runs gosync with stdout as bytes and TMPDIR set to `tmp`. Node's compile cache (which
 * gosync turns on, by default under TMPDIR) is kept elsewhere: `tmp` then holds only what the
 * patch itself left.
 */
function runBinary(args: string[], tmp: string): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        encoding: 'buffer',
        env: { ...process.env, TMPDIR: tmp, NODE_COMPILE_CACHE: join(dir, 'compile-cache') },
        maxBuffer: 64 << 20,
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr: stderr.toString() });
      },
    );
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-cli-output-'));
  oldData = Buffer.from(randomBytes(300_000, 11));
  newData = Buffer.concat([oldData.subarray(0, 150_000), Buffer.from('an insertion'), oldData.subarray(150_000)]);
  ref = join(dir, 'ref.bin');
  local = join(dir, 'local.bin');
  await writeFile(ref, newData);
  await writeFile(local, oldData);
  assert.equal((await runCli(['build', '-q', ref])).code, 0);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('patch -o - writes the verified result to stdout, the summary to stderr, and leaves no temporary file', async () => {
  const tmp = join(dir, 'tmp-ok');
  await mkdir(tmp);
  const r = await runBinary(['patch', local, `${ref}.gosync`, ref, '-o', '-'], tmp);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.equals(newData), 'stdout is the reference');
  assert.match(r.stderr, /^-: .* verified/m);
  assert.deepEqual(await readFile(local), oldData, 'the local file is left as it was');
  assert.deepEqual(await readdir(tmp), []);
  // No local file at all: the whole reference, still verified first.
  const none = await runBinary(['patch', join(dir, 'none.bin'), `${ref}.gosync`, ref, '-o', '-', '-q'], tmp);
  assert.equal(none.code, 0, none.stderr);
  assert.ok(none.stdout.equals(newData));
  assert.equal(none.stderr, '');
});

test('patch -o - writes nothing to stdout when the result does not verify', async () => {
  const tmp = join(dir, 'tmp-bad');
  await mkdir(tmp);
  // A reference that is not what the index describes: its blocks fail their hashes.
  const wrong = join(dir, 'wrong.bin');
  const damaged = Buffer.from(newData);
  for (let i = 100_000; i < 200_000; i += 1000) damaged[i]! ^= 0xff;
  await writeFile(wrong, damaged);
  const r = await runBinary(['patch', local, `${ref}.gosync`, wrong, '-o', '-'], tmp);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout.length, 0, 'no unverified byte on stdout');
  assert.match(r.stderr, /GOSYNC_ERR_/);
  assert.deepEqual(await readdir(tmp), []);
  // -o - carries the file: a JSON report cannot share stdout with it.
  const json = await runCli(['patch', '--json', local, `${ref}.gosync`, ref, '-o', '-']);
  assert.equal(json.code, 2);
  assert.match(json.stderr, /-o - .* --json/);
});

test('rdiff patch writes the new file to stdout ("-" or no name), as rdiff does', async () => {
  const sig = join(dir, 'old.sig');
  const delta = join(dir, 'old-new.delta');
  assert.equal((await runCli(['rdiff', 'signature', local, sig])).code, 0);
  assert.equal((await runCli(['rdiff', 'delta', sig, ref, delta])).code, 0);
  for (const out of [['-'], []]) {
    const r = await runBinary(['rdiff', 'patch', local, delta, ...out], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(newData), `rdiff patch ${out.join(' ')}`);
  }
});

test('-q prints nothing but errors', async () => {
  const out = join(dir, 'quiet-out.bin');
  const runs = [
    ['build', '-q', '-o', join(dir, 'quiet.gosync'), ref],
    ['diff', '-q', local, `${ref}.gosync`],
    ['patch', '-q', local, `${ref}.gosync`, ref, '-o', out],
    ['push', '-q', join(dir, 'ref.bin'), join(dir, 'pushed.bin')],
  ];
  for (const args of runs) {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', args.join(' '));
    assert.equal(r.stderr, '', args.join(' '));
  }
  // An error still shows.
  const failed = await runCli(['patch', '-q', local, join(dir, 'missing.gosync')]);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /GOSYNC_ERR_IO/);
});

test('patch --dry-run of a file shows what would be fetched and writes nothing', async () => {
  const r = await runCli(['patch', '-n', local, `${ref}.gosync`, ref]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^dry run: .*local\.bin: /);
  assert.match(r.stdout, /would reuse .* and fetch /);
  assert.deepEqual(await readFile(local), oldData);
  const refused = await runCli(['patch', '-n', local, `${ref}.gosync`, '-o', join(dir, 'x')]);
  assert.equal(refused.code, 2);
});

test('a location that is neither an http(s) URL nor a path is a usage error, without a stack trace', async () => {
  const cases: [string[], RegExp][] = [
    [['patch', local, 'ftp://example.com/a.gosync'], /ftp:\/\/ URL: gosync reads http:\/\/ and https:\/\/ URLs and local paths/],
    [['patch', local, 'htp://example.com/a.gosync'], /htp:\/\/ URL/],
    [['patch', local, `${ref}.gosync`, 'ftp://example.com/ref.bin'], /the reference "ftp:/],
    [['diff', local, 'file:///tmp/a.gosync'], /file:\/\/ URL/],
    [['patch', local, 'http://'], /not a valid URL|names no host/],
    [['patch', local, 'http://[bad/a.gosync'], /not a valid URL/],
    [['patch', local, 'http://exa mple.com/a.gosync'], /not a valid URL/],
    [['patch', dir, 'ftp://example.com/site.tree.json'], /the manifest "ftp:/],
    [['patch', dir, join(dir, 'x.tree.json'), '--content-base', 'htp://example.com/'], /--content-base "htp:/],
    [['push', dir, 'ftp://example.com/x'], /not a URL/],
    [['pull', 'sftp://example.com/x', join(dir, 'p')], /not a URL/],
    [['build', '--url', 'ftp://example.com/ref.bin', join(dir, 'ref.bin')], /--url "ftp:/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace: ${r.stderr}`);
    assert.match(r.stderr, /--help/);
  }
  // A Windows drive path is a path, not a URL with scheme "c".
  assert.doesNotMatch((await runCli(['patch', local, 'C:\\x\\a.gosync'])).stderr, /URL/);
});

test('push -v and pull -v print a line per entry sent or deleted: new, changed, deleted', async () => {
  const src = join(dir, 'v-src');
  const dst = join(dir, 'v-dst');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'a.txt'), 'a');
  await writeFile(join(src, 'sub', 'b.txt'), 'b');
  const first = await runCli(['push', '-v', src, dst]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^new\s+a\.txt$/m);
  assert.match(first.stdout, /^new\s+sub\/b\.txt$/m);
  await writeFile(join(src, 'a.txt'), 'a, changed');
  await writeFile(join(dst, 'extra.txt'), 'extra');
  const second = await runCli(['push', '-v', '--delete', src, dst]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^changed\s+a\.txt$/m);
  assert.match(second.stdout, /^deleted\s+extra\.txt$/m);
  assert.doesNotMatch(second.stdout, /b\.txt/, 'an unchanged file is not listed');
  assert.match(second.stdout, /1 of 2 files changed/);
  const quiet = await runCli(['pull', '-v', '-q', dst, join(dir, 'v-back')]);
  assert.equal(quiet.stdout, '', '-q wins over -v');
});
