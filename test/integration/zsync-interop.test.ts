/**
 * Interoperability with the real zsync 0.6.2 tools, through a real nginx:
 * - `zsyncmake` → `gosync patch`: gosync reads zsync's control files and rebuilds the file;
 * - `gosync build --format zsync` → `zsync`: the real client accepts gosync's control files
 *   (which are byte-identical to zsyncmake's) and rebuilds the file.
 *
 * Needs zsync, zsyncmake and nginx. Outside CI a missing tool skips the tests; with
 * CI=true it fails them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test, type TestContext } from 'node:test';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { buildZsyncFile } from '../../src/file/build-zsync.js';
import { runCli } from '../helpers/cli.js';
import { concat, randomBytes } from '../helpers/data.js';
import { nginxPath, startNginx, type NginxServer } from '../helpers/nginx.js';
import { which } from '../helpers/tools.js';

const run = promisify(execFile);
const CI = process.env.CI === 'true';

let dir: string;
let root: string;
let nginx: NginxServer | undefined;
let missing: string | undefined;
let serial = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-zsync-'));
  root = join(dir, 'www');
  await mkdir(root);
  for (const tool of ['zsync', 'zsyncmake']) if (!which(tool)) missing ??= `${tool} not installed`;
  nginx = await startNginx(root); // throws under CI=true when nginx is missing
  if (!nginx) missing ??= 'nginx not installed';
});
after(async () => {
  await nginx?.close();
  await rm(dir, { recursive: true, force: true });
});

function needTools(t: TestContext): NginxServer | undefined {
  if (!missing) return nginx;
  if (CI) assert.fail(`${missing}: required under CI`);
  t.skip(missing);
  return undefined;
}

/** An older version of `data`: an overwrite, an insertion and a deletion. */
function olderVersion(data: Uint8Array, seed: number): Uint8Array {
  const n = data.length;
  if (n < 64) return randomBytes(n, seed);
  const q = Math.floor(n / 4);
  return concat(
    data.subarray(0, q),
    randomBytes(100, seed),
    data.subarray(q + 50, 2 * q),
    data.subarray(2 * q + 700, 3 * q),
    randomBytes(33, seed + 1),
    data.subarray(3 * q),
  );
}

/** Publishes `data` as `www/<name>` and returns a fresh folder for a client. */
async function publish(name: string, data: Uint8Array): Promise<string> {
  await writeFile(join(root, name), data);
  const client = join(dir, `client-${serial++}`);
  await mkdir(client);
  return client;
}

interface Case {
  name: string;
  size: number;
  /** zsyncmake / gosync --block-size. */
  blockSize?: number;
}

const cases: Case[] = [
  { name: 'exact-multiple.bin', size: 50 * 2048 },
  { name: 'one-byte.bin', size: 1 },
  { name: 'small-blocks.bin', size: 300_001, blockSize: 512 },
  { name: 'blocks-1k.bin', size: 300_000, blockSize: 1024 },
  { name: 'blocks-16k.bin', size: 1_000_003, blockSize: 16384 },
  { name: 'blocks-64k.bin', size: 1_000_000, blockSize: 65536 },
  { name: 'default-3m.bin', size: 3_000_000 },
  { name: 'tiny-blocks.txt', size: 40, blockSize: 16 },
];

test('zsyncmake → gosync patch through nginx: identical output at every size and block size', { timeout: 120_000 }, async (t) => {
  const n = needTools(t);
  if (!n) return;
  for (const c of cases) {
    const data = randomBytes(c.size, c.size);
    const client = await publish(`zm-${c.name}`, data);
    const name = `zm-${c.name}`;
    await run('zsyncmake', [
      '-u',
      name,
      '-o',
      join(root, `${name}.zsync`),
      ...(c.blockSize ? ['-b', String(c.blockSize)] : []),
      join(root, name),
    ]);
    const local = join(client, name);
    const old = olderVersion(data, c.size + 1);
    await writeFile(local, old);
    const r = await runCli(['patch', '--json', local, `${n.url}${name}.zsync`]);
    assert.equal(r.code, 0, `${c.name}: ${r.stderr}`);
    assert.deepEqual(await readFile(local), Buffer.from(data), c.name);
    const report = JSON.parse(r.stdout);
    assert.equal(report.fileSize, c.size);
    assert.equal(report.blockSize, c.blockSize ?? 2048);
    assert.equal(report.reference, `${n.url}${name}`);
    if (c.size >= 100_000) assert.ok(report.reusedBytes > c.size / 2, `${c.name}: reused only ${report.reusedBytes}`);
    t.diagnostic(`${c.name}: reused ${report.reusedBytes}, fetched ${report.fetchedBytes} of ${c.size}`);
  }
  // No local file at all: everything is fetched.
  const name = 'zm-default-3m.bin';
  const fresh = join(dir, 'fresh.bin');
  const r = await runCli(['patch', '--json', fresh, `${n.url}${name}.zsync`]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await readFile(fresh), await readFile(join(root, name)));
});

test("gosync build --format zsync → the real zsync client through nginx: rc 0, identical output; the file equals zsyncmake's", {
  timeout: 120_000,
}, async (t) => {
  const n = needTools(t);
  if (!n) return;
  for (const c of cases) {
    const name = `gb-${c.name}`;
    const data = randomBytes(c.size, c.size + 7);
    const client = await publish(name, data);
    const file = join(root, name);
    const built = await runCli([
      'build',
      '--json',
      '--format',
      'zsync',
      ...(c.blockSize ? ['--block-size', String(c.blockSize)] : []),
      file,
    ]);
    assert.equal(built.code, 0, built.stderr);
    const report = JSON.parse(built.stdout);
    assert.equal(report.index, `${file}.zsync`);
    assert.equal(report.format, 'zsync');
    assert.equal(report.indexBytes, (await stat(`${file}.zsync`)).size);
    // zsyncmake with the same URL (the file name) writes the same bytes: same name, MTime, parameters, sums.
    await run('zsyncmake', ['-u', name, '-o', join(dir, `${name}.zsyncmake`), ...(c.blockSize ? ['-b', String(c.blockSize)] : []), file]);
    assert.deepEqual(await readFile(`${file}.zsync`), await readFile(join(dir, `${name}.zsyncmake`)), `${c.name}: same bytes as zsyncmake`);
    // The real client, seeded with an older version.
    await writeFile(join(client, 'seed'), olderVersion(data, c.size + 8));
    const z: { code: number; stderr: string } = await run('zsync', ['-q', '-i', 'seed', '-o', 'out', `${n.url}${name}.zsync`], {
      cwd: client,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? String(e) }),
    );
    assert.equal(z.code, 0, `${c.name}: zsync failed: ${z.stderr}`);
    assert.deepEqual(await readFile(join(client, 'out')), Buffer.from(data), c.name);
  }
});

test('a .zsync with File-Hash SHA-256 (listed in Safe) is accepted by zsync 0.6.2 and verified with SHA-256 by gosync', {
  timeout: 60_000,
}, async (t) => {
  const n = needTools(t);
  if (!n) return;
  const name = 'sha256.bin';
  const data = randomBytes(200_000, 77);
  const client = await publish(name, data);
  await buildZsyncFile(join(root, name), join(root, `${name}.zsync`), { sha256: true, blockSize: 1024 });
  assert.match(await readFile(join(root, `${name}.zsync`), 'latin1'), /\nSafe: File-Hash\n[\s\S]*\nFile-Hash: SHA-256:[0-9a-f]{64}\n\n/);
  await writeFile(join(client, 'seed'), olderVersion(data, 78));
  await run('zsync', ['-q', '-i', 'seed', '-o', 'out', `${n.url}${name}.zsync`], { cwd: client });
  assert.deepEqual(await readFile(join(client, 'out')), Buffer.from(data));
  // The file also has a SHA-1 line (zsync 0.6.2 needs it): gosync checks the SHA-256.
  assert.match(await readFile(join(root, `${name}.zsync`), 'latin1'), /\nSHA-1: [0-9a-f]{40}\n/);
  await writeFile(join(client, 'local'), olderVersion(data, 78));
  const r = await runCli(['patch', join(client, 'local'), `${n.url}${name}.zsync`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /: [^\n]* verified \(sha256\)\n/, r.stdout);
  assert.deepEqual(await readFile(join(client, 'local')), Buffer.from(data));
});

test("real files: zsync and gosync rebuild them from each other's control files", { timeout: 180_000 }, async (t) => {
  const n = needTools(t);
  if (!n) return;
  const require = createRequire(import.meta.url);
  const tsLib = join(require.resolve('typescript'), '..');
  const nginxBinary = nginxPath();
  const pairs: { name: string; newer: string; older: string | Uint8Array }[] = [
    // Two real, related files: the compiler bundle and the language-service bundle of TypeScript.
    { name: 'typescript.js', newer: join(tsLib, 'typescript.js'), older: join(tsLib, '_tsc.js') },
  ];
  if (nginxBinary) pairs.push({ name: 'nginx', newer: nginxBinary, older: olderVersion(await readFile(nginxBinary), 5) });
  for (const p of pairs) {
    const client = join(dir, `real-${serial++}`);
    await mkdir(client);
    await copyFile(p.newer, join(root, p.name));
    const data = await readFile(p.newer);
    const older = typeof p.older === 'string' ? await readFile(p.older) : p.older;
    // zsyncmake → gosync patch
    await run('zsyncmake', ['-u', p.name, '-o', join(root, `${p.name}.zsync`), join(root, p.name)]);
    await writeFile(join(client, 'local'), older);
    const r = await runCli(['patch', '--json', join(client, 'local'), `${n.url}${p.name}.zsync`], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(join(client, 'local')), data, `${p.name}: gosync from zsyncmake's file`);
    const report = JSON.parse(r.stdout);
    t.diagnostic(`${p.name} (${data.length} B): gosync reused ${report.reusedBytes}, fetched ${report.fetchedBytes}`);
    // gosync build --format zsync → zsync
    const built = await runCli([
      'build',
      '-q',
      '--format',
      'zsync',
      '-o',
      join(root, `${p.name}.g.zsync`),
      '--url',
      p.name,
      join(root, p.name),
    ]);
    assert.equal(built.code, 0, built.stderr);
    await writeFile(join(client, 'seed'), older);
    await run('zsync', ['-q', '-i', 'seed', '-o', 'out', `${n.url}${p.name}.g.zsync`], { cwd: client });
    assert.deepEqual(await readFile(join(client, 'out')), data, `${p.name}: zsync from gosync's file`);
  }
});

test('gzip look-inside .zsync (Z-URL, Z-Map2) from zsyncmake: read through its plain URL; refused without one', {
  timeout: 60_000,
}, async (t) => {
  const n = needTools(t);
  if (!n) return;
  const text = Buffer.from(Buffer.from(randomBytes(300_000, 90)).toString('base64'));
  await writeFile(join(root, 'text.txt'), text);
  await writeFile(join(root, 'text.txt.gz'), gzipSync(text));
  await run('zsyncmake', ['-o', join(root, 'text.txt.zsync'), 'text.txt.gz'], { cwd: root });
  const control = await readFile(join(root, 'text.txt.zsync'));
  const header = control.toString('latin1', 0, control.indexOf('Z-Map2:') + 40);
  assert.match(header, /\nZ-URL: text\.txt\.gz\n/);
  assert.match(header, /\nURL: text\.txt\n/);
  assert.match(header, /\nZ-Map2: \d+\n/);
  const client = join(dir, 'gz-client');
  await mkdir(client);
  await writeFile(join(client, 'text.txt'), olderVersion(text, 91));
  const r = await runCli(['patch', '--json', join(client, 'text.txt'), `${n.url}text.txt.zsync`]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await readFile(join(client, 'text.txt')), text);
  // The same file with only Z-URL: a clear refusal.
  const start = control.indexOf('\nURL: text.txt\n');
  await writeFile(
    join(root, 'zonly.zsync'),
    Buffer.concat([control.subarray(0, start + 1), control.subarray(start + '\nURL: text.txt\n'.length)]),
  );
  const z = await runCli(['patch', join(client, 'text.txt'), `${n.url}zonly.zsync`]);
  assert.equal(z.code, 1);
  assert.match(z.stderr, /gzip.*no plain URL.*GOSYNC_ERR_INDEX_UNSUPPORTED/s);
});

test('command line: a local .zsync with a relative URL needs the reference; empty files and bad input fail clearly', {
  timeout: 60_000,
}, async () => {
  const work = join(dir, 'cli');
  await mkdir(work);
  const data = randomBytes(20_000, 55);
  const file = join(work, 'app.bin');
  await writeFile(file, data);
  const built = await runCli(['build', '--format', 'zsync', file]);
  assert.equal(built.code, 0, built.stderr);
  const control = await readFile(`${file}.zsync`, 'latin1');
  assert.match(control, /\nURL: app\.bin\n/);
  assert.match(control, /\nFilename: app\.bin\n/);
  const local = join(work, 'local.bin');
  await writeFile(local, olderVersion(data, 56));
  const noRef = await runCli(['patch', local, `${file}.zsync`]);
  assert.equal(noRef.code, 1);
  assert.match(noRef.stderr, /relative to the URL the index is published at.*GOSYNC_ERR_NO_REFERENCE/s);
  const withRef = await runCli(['patch', local, `${file}.zsync`, file]);
  assert.equal(withRef.code, 0, withRef.stderr);
  assert.deepEqual(await readFile(local), Buffer.from(data));
  // Empty file: zsync clients reject Length: 0, so no .zsync is written.
  const empty = join(work, 'empty.bin');
  await writeFile(empty, '');
  const e = await runCli(['build', '--format', 'zsync', empty]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /empty.*GOSYNC_ERR_INDEX_UNSUPPORTED/s);
  await assert.rejects(stat(`${empty}.zsync`));
  const bad = await runCli(['build', '--format', 'rsync', file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--format must be gosync or zsync/);
  // A damaged control file.
  await writeFile(join(work, 'broken.zsync'), control.replace(/Hash-Lengths: [^\n]*/, 'Hash-Lengths: 2,2,99'), 'latin1');
  const broken = await runCli(['patch', local, join(work, 'broken.zsync'), file]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /Hash-Lengths.*GOSYNC_ERR_INDEX_CORRUPT/s);
});
