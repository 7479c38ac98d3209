/**
 * The package as users get it: `npm pack` of this build, a global install from the
 * tarball (`gosync --help`, the man page under share/man/man1, `gosync completion`), and
 * a project that installs the tarball and imports 'gosync'. Dependencies come from the
 * npm cache `npm ci` filled (the registry only for what it lacks).
 *
 * Needs the build's dist/ (the test script builds first, man page included); `npm pack`
 * runs with --ignore-scripts so its prepack does not rebuild dist/ under the running tests.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
/** Node 24 (this process's) first on PATH: the bin's `#!/usr/bin/env node` and npm run on it. */
const env = {
  ...process.env,
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
  npm_config_update_notifier: 'false',
};
const npmFlags = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

let work: string;
let tarball: string;
let prefix: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'gosync-package-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], {
    cwd: repo,
    env,
    timeout: 60_000,
  });
  tarball = join(work, stdout.trim().split('\n').pop()!);
  prefix = join(work, 'prefix');
  await run('npm', ['install', '-g', '--prefix', prefix, tarball, ...npmFlags], { cwd: work, env, timeout: 120_000 });
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('the tarball holds the build, the sources its maps name, the man page, LICENSE and BENCHMARKS.md', async () => {
  const { stdout } = await run('tar', ['tzf', tarball]);
  const files = new Set(stdout.split('\n'));
  for (const f of [
    'package/package.json',
    'package/LICENSE',
    'package/README.md',
    'package/BENCHMARKS.md',
    'package/dist/man/gosync.1',
    'package/dist/completion/gosync.bash',
    'package/dist/completion/_gosync',
    'package/dist/bundle/cli/main.cjs',
    'package/dist/bundle/cli/worker-main.js',
    'package/dist/src/mod.d.ts',
  ])
    assert.ok(files.has(f), `${f} is packed`);
  // Every source map names a file that is shipped.
  const maps = [...files].filter((f) => f.endsWith('.js.map'));
  assert.ok(maps.length > 0);
  for (const m of maps) {
    const map = JSON.parse(await readFile(join(repo, m.replace(/^package\//, '')), 'utf8')) as { sources: string[] };
    for (const s of map.sources) {
      const shipped = join(dirname(m), s).split('\\').join('/');
      assert.ok(files.has(shipped), `${m} names ${shipped}, which is packed`);
    }
  }
  assert.ok(![...files].some((f) => f.startsWith('package/dist/test/')), 'no tests');
  const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.prepare, undefined, 'no prepare script (npm would run it on every install of the tarball)');
});

test('a global install from the tarball: gosync --help, the man page, completion', async () => {
  const bin = join(prefix, 'bin', 'gosync');
  const help = await run(bin, ['--help'], { env });
  assert.match(help.stdout, /^Usage: gosync <command> \[options\]/);
  const version = await run(bin, ['--version'], { env });
  const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version.stdout, `gosync ${pkg.version}\n`);
  const man = join(prefix, 'share', 'man', 'man1', 'gosync.1');
  assert.ok((await lstat(man)).isFile() || (await lstat(man)).isSymbolicLink());
  const page = await readFile(man, 'utf8');
  assert.match(page, /^\.TH GOSYNC 1 /m);
  assert.match(page, /^\.SS push$/m);
  const bash = await run(bin, ['completion', 'bash'], { env });
  for (const c of ['build', 'patch', 'diff', 'push', 'pull', 'serve', 'rdiff', 'demo', 'completion'])
    assert.match(bash.stdout, new RegExp(`\\b${c}\\b`));
  assert.match(bash.stdout, /push\) opts="[^"]*--exclude /);
  assert.match(bash.stdout, /^complete .* gosync$/m);
});

test("a project that installs the tarball imports 'gosync' and its subpaths", async () => {
  const project = join(work, 'project');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  await run('npm', ['install', tarball, ...npmFlags], { cwd: project, env, timeout: 120_000 });
  const script = `
    const m = await import('gosync');
    const core = await import('gosync/core');
    const pkg = (await import('gosync/package.json', { with: { type: 'json' } })).default;
    console.log(JSON.stringify({ patchFile: typeof m.patchFile, buildIndex: typeof m.buildIndexFile, core: Object.keys(core).length, name: pkg.name }));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: project, env });
  const got = JSON.parse(stdout) as { patchFile: string; buildIndex: string; core: number; name: string };
  assert.equal(got.name, 'gosync');
  assert.equal(got.patchFile, 'function');
  assert.equal(got.buildIndex, 'function');
  assert.ok(got.core > 0);
  assert.ok((await readdir(join(project, 'node_modules', 'gosync', 'dist', 'src'))).includes('mod.js'));
});
