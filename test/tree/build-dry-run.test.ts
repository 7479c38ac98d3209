/**
 * `gosync build <folder> -o <pub> --dry-run` writes nothing to the publish folder and
 * names what a real build would write there.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';

/** Every file under `folder`: its path, size, mtime and SHA-256. */
async function snapshot(folder: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(folder, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const st = await stat(path);
    out.set(
      relative(folder, path),
      `${st.size} ${st.mtimeMs} ${createHash('sha256')
        .update(await readFile(path))
        .digest('hex')}`,
    );
  }
  return out;
}

test('build <folder> --dry-run leaves the publish folder as it was and names what a build writes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-build-dry-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const src = join(dir, 'app');
  const pub = join(dir, 'pub');
  await mkdir(join(src, 'lib'), { recursive: true });
  const big = randomBytes(200_000, 31);
  await writeFile(join(src, 'lib', 'big.bin'), big);
  await writeFile(join(src, 'a.txt'), 'one\n');
  const first = await runCli(['build', '-q', src, '-o', pub]);
  assert.equal(first.code, 0, first.stderr);
  // A new version: one file changed, one added.
  await writeFile(join(src, 'lib', 'big.bin'), Buffer.concat([Buffer.from(big.subarray(0, 150_000)), Buffer.from(randomBytes(3000, 32))]));
  await writeFile(join(src, 'b.txt'), 'two\n');
  const before = await snapshot(pub);
  const dry = await runCli(['build', '--json', '--dry-run', src, '-o', pub]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(await snapshot(pub), before, 'the publish folder is untouched');
  const r = JSON.parse(dry.stdout);
  assert.equal(r.dryRun, true);
  assert.equal(r.index, join(pub, 'app.tree.json'));
  assert.ok(r.newFiles >= 2, JSON.stringify(r));
  const would = new Set<string>(r.wouldWrite);
  // A real build writes exactly those files (new ones, and the manifest replaced).
  const real = await runCli(['build', '-q', src, '-o', pub]);
  assert.equal(real.code, 0, real.stderr);
  const after = await snapshot(pub);
  const changed = [...after].filter(([p, v]) => before.get(p) !== v).map(([p]) => join(pub, p));
  assert.deepEqual(new Set(changed), would);
  // The text form says it is a dry run; nothing to do then means only the manifest.
  const again = await runCli(['build', '--dry-run', src, '-o', pub]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^dry run \(nothing written; 1 files would be\)/);
});
