/**
 * Real file versions from the npm registry (fetched with `npm pack`), served by a real
 * nginx: `gosync build` + `gosync patch` must reproduce the new version exactly and, at
 * default settings, move no more bytes in total (index + everything fetched, counted by
 * nginx) than zsync 0.6.2 at its defaults on the same pair.
 *
 * Needs network access to the npm registry, nginx, zsync and zsyncmake. Outside CI a
 * missing piece skips the test; with CI=true it fails it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test, type TestContext } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startNginx, type NginxServer } from '../helpers/nginx.js';
import { which } from '../helpers/tools.js';

const run = promisify(execFile);
const CI = process.env.CI === 'true';

interface Pair {
  name: string;
  pkg: string;
  from: string;
  to: string;
  /** Path inside the package, or '' for the whole package as an uncompressed tar. */
  path: string;
}

const pairs: Pair[] = [
  { name: 'jquery.js', pkg: 'jquery', from: '1.11.1', to: '1.11.2', path: 'dist/jquery.js' },
  { name: 'typescript.js', pkg: 'typescript', from: '5.5.4', to: '5.6.2', path: 'lib/typescript.js' },
  { name: 'esbuild', pkg: '@esbuild/linux-x64', from: '0.25.0', to: '0.25.1', path: 'bin/esbuild' },
  { name: 'typescript.tar', pkg: 'typescript', from: '5.5.4', to: '5.6.2', path: '' },
];

let dir: string;
let root: string;
let nginx: NginxServer | undefined;
let missing: string | undefined;

/** Unpacks `pkg@version` and returns the file at `path` (or a tar of the package). */
async function fetchVersion(pkg: string, version: string, path: string, into: string): Promise<string> {
  const work = join(dir, 'pkgs', `${pkg.replace('/', '_')}-${version}`);
  await mkdir(work, { recursive: true });
  const { stdout } = await run('npm', ['pack', `${pkg}@${version}`, '--silent', '--pack-destination', work], {
    cwd: work,
    timeout: 120_000,
  });
  const tgz = join(work, stdout.trim().split('\n').pop()!);
  await run('tar', ['xzf', tgz, '-C', work]);
  if (path) {
    await copyFile(join(work, 'package', path), into);
  } else {
    await run('tar', ['cf', into, '--sort=name', '--mtime=2000-01-01', '--owner=0', '--group=0', 'package'], { cwd: work });
  }
  return into;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-real-'));
  root = join(dir, 'www');
  await mkdir(root);
  for (const tool of ['zsync', 'zsyncmake', 'npm', 'tar']) if (!which(tool)) missing = `${tool} not installed`;
  if (!missing) nginx = await startNginx(root);
  if (!nginx) missing ??= 'nginx not installed';
});
after(async () => {
  await nginx?.close();
  await rm(dir, { recursive: true, force: true });
});

function needTools(t: TestContext): boolean {
  if (!missing) return true;
  if (CI) assert.fail(`${missing}: required under CI`);
  t.skip(missing);
  return false;
}

for (const pair of pairs) {
  test(`${pair.pkg} ${pair.from} → ${pair.to} ${pair.path || '(whole package tar)'}: exact result, no more bytes than zsync`, {
    timeout: 300_000,
  }, async (t) => {
    if (!needTools(t)) return;
    const n = nginx!;
    const oldFile = await fetchVersion(pair.pkg, pair.from, pair.path, join(dir, `${pair.name}.old`));
    const published = await fetchVersion(pair.pkg, pair.to, pair.path, join(root, pair.name));
    const newBytes = await readFile(published);

    // zsync at its defaults.
    await run('zsyncmake', ['-u', pair.name, '-o', join(root, `${pair.name}.zsync`), published]);
    const zdir = await mkdtemp(join(dir, 'z-'));
    await copyFile(oldFile, join(zdir, 'seed'));
    let before = await n.bytesSent();
    await run('zsync', ['-q', '-i', join(zdir, 'seed'), '-o', join(zdir, 'out'), `${n.url}${pair.name}.zsync`], { cwd: zdir });
    assert.deepEqual(await readFile(join(zdir, 'out')), newBytes, 'zsync reproduced the file');
    const zsyncBytes = (await n.bytesSent()) - before;

    // gosync at its defaults.
    // At its defaults the build also compresses (zstd -19 frames, brotli 11): slow on a loaded machine.
    const built = await runCli(['build', '-q', published], { timeoutMs: 280_000 });
    assert.equal(built.code, 0, built.stderr);
    const local = join(dir, `${pair.name}.local`);
    await copyFile(oldFile, local);
    before = await n.bytesSent();
    const r = await runCli(['patch', '--json', local, `${n.url}${pair.name}.gosync`], { timeoutMs: 280_000 });
    assert.equal(r.code, 0, r.stderr);
    const gosyncBytes = (await n.bytesSent()) - before;
    assert.deepEqual(await readFile(local), newBytes, 'gosync reproduced the file');
    const report = JSON.parse(r.stdout);
    t.diagnostic(
      `${pair.name}: new ${(await stat(published)).size} B; zsync moved ${zsyncBytes} B; gosync moved ${gosyncBytes} B ` +
        `(index ${report.indexBytes}, fetched ${report.fetchedBytes} in ${report.requests} requests); ratio ${(gosyncBytes / zsyncBytes).toFixed(3)}`,
    );
    assert.ok(gosyncBytes <= zsyncBytes, `gosync moved ${gosyncBytes} B, zsync ${zsyncBytes} B`);
  });
}
