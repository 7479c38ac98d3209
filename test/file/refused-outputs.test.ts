/**
 * The command line never replaces what is not a regular file: `gosync patch` (-o, or a
 * local path that is one) and `gosync rdiff` refuse a FIFO, a directory or a device with
 * an IO error before anything is read or fetched, and leave it as it was.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndexFile } from '../../src/file/build-file.js';
import { type StaticServer, startStaticServer } from '../../src/serve/static-server.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';

let dir: string;
let pub: string;
let server: StaticServer;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-refused-'));
  pub = join(dir, 'pub');
  await mkdir(pub);
  await writeFile(join(pub, 'app.bin'), randomBytes(200_000, 41));
  await buildIndexFile(join(pub, 'app.bin'), join(pub, 'app.bin.gosync'), { threads: 1 });
  server = await startStaticServer({ root: pub });
});
after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A FIFO, a directory and (as root) a device node in a fresh folder. */
async function specials(name: string): Promise<{ folder: string; outputs: [string, RegExp, (p: string) => Promise<boolean>][] }> {
  const folder = join(dir, name);
  await mkdir(folder);
  const fifo = join(folder, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const sub = join(folder, 'sub');
  await mkdir(sub);
  const outputs: [string, RegExp, (p: string) => Promise<boolean>][] = [
    [fifo, /a FIFO/, async (p) => (await lstat(p)).isFIFO()],
    [sub, /a directory/, async (p) => (await lstat(p)).isDirectory()],
  ];
  if (isRoot) {
    const dev = join(folder, 'full');
    execFileSync('mknod', [dev, 'c', '1', '7']);
    outputs.push([dev, /a device/, async (p) => (await lstat(p)).isCharacterDevice()]);
  }
  return { folder, outputs };
}

test('gosync patch -o <FIFO|directory|device> is refused before the index is fetched', async () => {
  const { folder, outputs } = await specials('patch-o');
  const local = join(folder, 'local.bin');
  await writeFile(local, randomBytes(1000, 42));
  for (const [output, what, still] of outputs) {
    const requests = server.stats.requests;
    const r = await runCli(['patch', local, `${server.url}app.bin.gosync`, '-o', output, '-q']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Cannot replace .*not a regular file.*\[GOSYNC_ERR_IO\]/);
    assert.match(r.stderr, what);
    assert.equal(server.stats.requests, requests, 'nothing was fetched');
    assert.ok(await still(output));
  }
  // A local path that is one of them (the output by default) is refused the same way.
  const r = await runCli(['patch', outputs[0]![0], `${server.url}app.bin.gosync`, '-q']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /Cannot replace .*a FIFO/);
  assert.deepEqual(
    (await readdir(folder)).filter((n) => n.includes('gosync')),
    [],
  );
});

test('gosync rdiff signature, delta and patch refuse an output that is a FIFO, a directory or a device, even with -f', async () => {
  const { folder, outputs } = await specials('rdiff');
  const basis = join(folder, 'basis');
  await writeFile(basis, randomBytes(5000, 43));
  const sig = join(folder, 'basis.sig');
  const delta = join(folder, 'basis.delta');
  assert.equal((await runCli(['rdiff', 'signature', basis, sig])).code, 0);
  assert.equal((await runCli(['rdiff', 'delta', sig, basis, delta])).code, 0);
  for (const [output, what, still] of outputs) {
    for (const args of [
      ['signature', basis, output],
      ['delta', sig, basis, output],
      ['patch', basis, delta, output],
    ]) {
      const r = await runCli(['rdiff', '-f', ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /Cannot replace .*not a regular file/);
      assert.match(r.stderr, what);
      assert.ok(await still(output));
    }
  }
  assert.deepEqual(
    (await readdir(folder)).filter((n) => n.includes('gosync')),
    [],
  );
});
