/**
 * Folders published with `gosync build <dir> -o <pub>` and served by a real nginx, updated
 * with `gosync patch <dir> <manifest URL>`; bytes are counted by nginx (manifest and
 * indexes included).
 *
 * - typescript 5.5.4 → 5.6.2, the whole npm package folder (121 files, 22 MB): at most
 *   1.23 MB on the wire (what `rsync -az` moves with an active server).
 * - a renamed 50 MB file: at most 1% of it fetched.
 * - 10,000 small unchanged files: the no-op update fetches the manifest and nothing else.
 * - manifest and objects from different base URLs (`--content-base`).
 *
 * Needs nginx (and the npm registry for the typescript case). Outside CI a missing piece
 * skips the test; with CI=true it fails it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, readlink, lstat, rename, rm, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { startNginx, type NginxServer } from '../helpers/nginx.js';
import { unpackVersion } from '../helpers/npm-pack.js';
import { which } from '../helpers/tools.js';

const CI = process.env.CI === 'true';

let dir: string;
let www: string;
let nginx: NginxServer | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-tree-'));
  www = join(dir, 'www');
  await mkdir(www);
  nginx = await startNginx(www);
});
after(async () => {
  await nginx?.close();
  await rm(dir, { recursive: true, force: true });
});

function need(t: TestContext, ...tools: string[]): NginxServer | undefined {
  const missing = !nginx ? 'nginx not installed' : tools.find((x) => !which(x));
  if (!missing) return nginx;
  if (CI) assert.fail(`${missing}: required under CI`);
  t.skip(typeof missing === 'string' ? missing : `${missing} not installed`);
  return undefined;
}

/** Every entry of a folder: path → content hash, link target or 'dir', with mode for files. */
async function listing(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string) => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, p));
      if (st.isSymbolicLink()) out.set(p, `link:${await readlink(join(root, p))}`);
      else if (st.isDirectory()) {
        out.set(p, 'dir');
        await walk(p);
      } else
        out.set(
          p,
          `${(st.mode & 0o777).toString(8)}:${createHash('sha256')
            .update(await readFile(join(root, p)))
            .digest('hex')}`,
        );
    }
  };
  await walk('');
  return out;
}

async function cli(args: string[]): Promise<string> {
  const r = await runCli(args, { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `gosync ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function patchJson(local: string, manifestUrl: string, extra: string[] = []) {
  return JSON.parse(await cli(['patch', local, manifestUrl, '--json', ...extra])) as {
    receivedBytes: number;
    requests: number;
    fileList: { path: string; action: string; fetchedBytes: number }[];
    totals: { changed: number };
  };
}

test('typescript 5.5.4 → 5.6.2 package folder: identical result, at most 1.23 MB on the wire (rsync -az moves 1.23 MB)', async (t) => {
  const server = need(t, 'npm', 'tar');
  if (!server) return;
  const pkgs = join(dir, 'pkgs');
  const v1 = await unpackVersion('typescript', '5.5.4', pkgs, { touch: true });
  const v2 = await unpackVersion('typescript', '5.6.2', pkgs, { touch: true });
  const pub = join(www, 'ts');
  const local = join(dir, 'ts-local');
  const url = `${server.url}ts/typescript.tree.json`;
  await cli(['build', v1, '-o', pub, '-n', 'typescript', '--compress', '-q']);
  await patchJson(local, url);
  assert.deepEqual(await listing(local), await listing(v1));

  await cli(['build', v2, '-o', pub, '-n', 'typescript', '--compress', '-q']);
  const before = await server.accessEntries();
  const report = await patchJson(local, url);
  const entries = await server.accessEntries({ requests: before.length + report.requests });
  const onWire = entries.slice(before.length).reduce((a, e) => a + e.bodyBytesSent, 0);
  assert.deepEqual(await listing(local), await listing(v2));
  t.diagnostic(
    `typescript folder update: ${onWire} B on the wire in ${entries.length - before.length} requests; ${report.totals.changed} files changed`,
  );
  assert.ok(onWire <= 1_230_000, `moved ${onWire} B, over rsync -az's 1.23 MB`);
  assert.equal(report.receivedBytes, onWire, 'the report counts what nginx sent');
});

test('a renamed 50 MB file costs at most 1% of it, and a rerun is a no-op', async (t) => {
  const server = need(t);
  if (!server) return;
  const src = join(dir, 'rename-src');
  await mkdir(join(src, 'data'), { recursive: true });
  await writeFile(join(src, 'data', 'big.bin'), randomBytes(50_000_000, 7));
  for (let i = 0; i < 20; i++) await writeFile(join(src, `small-${i}.txt`), `file ${i}\n`.repeat(i + 1));
  const pub = join(www, 'rename');
  const url = `${server.url}rename/tree.tree.json`;
  const local = join(dir, 'rename-local');
  await cli(['build', src, '-o', pub, '-n', 'tree', '-q']);
  await patchJson(local, url);
  await mkdir(join(src, 'moved'));
  await rename(join(src, 'data', 'big.bin'), join(src, 'moved', 'renamed.bin'));
  await cli(['build', src, '-o', pub, '-n', 'tree', '-q']);
  const before = await server.accessEntries();
  const report = await patchJson(local, url, ['--delete']);
  const entries = await server.accessEntries({ requests: before.length + report.requests });
  const onWire = entries.slice(before.length).reduce((a, e) => a + e.bodyBytesSent, 0);
  assert.deepEqual(await listing(local), await listing(src));
  const moved = report.fileList.find((f) => f.path === 'moved/renamed.bin');
  assert.equal(moved?.action, 'copy');
  t.diagnostic(`renamed 50 MB file: ${onWire} B on the wire`);
  assert.ok(onWire <= 500_000, `${onWire} B is over 1% of 50 MB`);

  const again = await patchJson(local, url);
  assert.equal(again.totals.changed, 0);
  assert.equal(again.requests, 1, 'only the manifest is fetched');
});

test('10,000 small unchanged files: the no-op update fetches only the manifest', async (t) => {
  const server = need(t);
  if (!server) return;
  const src = join(dir, 'many-src');
  const mtime = new Date('2024-05-01T00:00:00Z');
  for (let d = 0; d < 100; d++) {
    const sub = join(src, `d${d}`);
    await mkdir(sub, { recursive: true });
    await Promise.all(
      Array.from({ length: 100 }, async (_, f) => {
        const p = join(sub, `f${f}.txt`);
        await writeFile(p, `${d}/${f} `.repeat((f % 7) + 1));
        await utimes(p, mtime, mtime);
      }),
    );
  }
  const pub = join(www, 'many');
  const url = `${server.url}many/many.tree.json`;
  const local = join(dir, 'many-local');
  await cli(['build', src, '-o', pub, '-n', 'many', '-q']);
  const first = await patchJson(local, url);
  assert.equal(first.fileList.length, 10_000);
  const before = await server.accessEntries();
  const started = performance.now();
  const report = await patchJson(local, url);
  const seconds = (performance.now() - started) / 1000;
  const entries = await server.accessEntries({ requests: before.length + 1 });
  assert.equal(entries.length - before.length, 1, 'one request: the manifest');
  assert.equal(report.requests, 1, 'the client reports one request: the manifest');
  assert.equal(report.totals.changed, 0);
  assert.ok(report.fileList.every((f) => f.action === 'unchanged'));
  t.diagnostic(`no-op update of 10,000 files: ${seconds.toFixed(2)} s including process start (timed in npm run bench)`);
});

test('manifest and objects from different base URLs (--content-base)', async (t) => {
  const server = need(t);
  if (!server) return;
  const src = join(dir, 'cb-src');
  await mkdir(join(src, 'a'), { recursive: true });
  await writeFile(join(src, 'a', 'one.bin'), randomBytes(300_000, 3));
  await writeFile(join(src, 'two.txt'), 'two\n');
  const pub = join(www, 'objects-here');
  await cli(['build', src, '-o', pub, '-n', 'cb', '-q']);
  // The manifest alone in another folder: objects can only come from --content-base.
  await mkdir(join(www, 'meta'));
  await copyFile(join(pub, 'cb.tree.json'), join(www, 'meta', 'cb.tree.json'));
  const local = join(dir, 'cb-local');
  const missing = await runCli(['patch', local, `${server.url}meta/cb.tree.json`, '-q']);
  assert.notEqual(missing.code, 0, 'without --content-base the objects are looked for next to the manifest');
  assert.match(missing.stderr, /404/);
  await patchJson(local, `${server.url}meta/cb.tree.json`, ['--content-base', `${server.url}objects-here/`]);
  assert.deepEqual(await listing(local), await listing(src));
});
