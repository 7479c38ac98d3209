/**
 * No `MaxListenersExceededWarning` from the commands that handle many files at once.
 * Node prints it on stderr when an emitter holds more than 10 listeners of one event; a
 * push through a connection slower than the sender (ssh over a real network) held every
 * file's writer waiting on the compressor with listeners of its own, which the warning
 * showed. Here the far end reads slowly through a stand-in for ssh, and each run's stderr
 * is checked, for a first copy and for an update.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';

const FILES = 300;
let dir: string;
let src: string;
/** An rsh that runs the command here, its stdin read at about 4 MB/s (the sender waits on it). */
let slowRsh: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-listeners-'));
  const slowCat = join(dir, 'slow-cat.mjs');
  await writeFile(
    slowCat,
    `process.stdin.on('data', (c) => { process.stdin.pause(); process.stdout.write(c, () => setTimeout(() => process.stdin.resume(), Math.ceil(c.length / 4000))); });
process.stdin.on('end', () => process.stdout.end());
`,
  );
  slowRsh = join(dir, 'slow-rsh');
  // Called as "<rsh> <host> <command...>", as ssh is.
  await writeFile(slowRsh, `#!/bin/sh\nshift\n'${process.execPath}' '${slowCat}' | sh -c "$*"\n`, { mode: 0o755 });
  src = join(dir, 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  // Small files (fetched whole) and files of a few blocks (scanned, patched by blocks).
  for (let i = 0; i < FILES; i++) {
    const size = i % 2 === 0 ? 100 : 20_000;
    await writeFile(join(src, i % 3 === 0 ? 'sub' : '', `f${i}.bin`), randomBytes(size, i + 1));
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function change(folder: string): Promise<void> {
  for (let i = 0; i < FILES; i += 2) await appendFile(join(folder, i % 3 === 0 ? 'sub' : '', `f${i}.bin`), `changed ${i}`);
}

function noWarning(what: string, r: { code: number; stderr: string }): void {
  assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /MaxListenersExceeded|memory leak/, `${what}: ${r.stderr}`);
}

test(`push of ${FILES} files through a slow connection: no MaxListenersExceededWarning`, async () => {
  const remote = ['-e', slowRsh, '--remote-cmd', `'${process.execPath}' '${CLI}'`];
  const dst = `localhost:${join(dir, 'pushed-slowly')}`;
  noWarning('push', await runCli(['push', ...remote, src, dst], { timeoutMs: 120_000 }));
  noWarning('pull', await runCli(['pull', ...remote, dst, join(dir, 'pulled-slowly')], { timeoutMs: 120_000 }));
});

test(`push and pull of ${FILES} files: no MaxListenersExceededWarning`, async () => {
  const dst = join(dir, 'pushed');
  noWarning('push', await runCli(['push', src, dst], { timeoutMs: 120_000 }));
  await change(src);
  noWarning('push (update)', await runCli(['push', src, dst], { timeoutMs: 120_000 }));
  const back = join(dir, 'pulled');
  noWarning('pull', await runCli(['pull', dst, back], { timeoutMs: 120_000 }));
  await change(dst);
  noWarning('pull (update)', await runCli(['pull', '--delete', dst, back], { timeoutMs: 120_000 }));
});

test(`build and patch of a folder of ${FILES} files: no MaxListenersExceededWarning`, async () => {
  const pub = join(dir, 'pub');
  noWarning('build', await runCli(['build', src, '-o', pub], { timeoutMs: 120_000 }));
  const dst = join(dir, 'patched');
  noWarning('patch', await runCli(['patch', dst, join(pub, 'src.tree.json')], { timeoutMs: 120_000 }));
  await change(src);
  noWarning('build (update)', await runCli(['build', src, '-o', pub], { timeoutMs: 120_000 }));
  noWarning('patch (update)', await runCli(['patch', dst, join(pub, 'src.tree.json')], { timeoutMs: 120_000 }));
});
