/** No output, part or staged file ever gets a setuid/setgid bit from what it replaces or from a listed mode. */
import assert from 'node:assert/strict';
import { chmod, lstat, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AtomicFile } from '../../src/localfs/atomic-file.js';
import { setMetadata } from '../../src/localfs/commit-tree.js';
import { PART_MODE } from '../../src/localfs/staging.js';
import { modeOf, withUmask } from '../helpers/modes.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-set-id-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mode = modeOf;

/** A file with `bits` set (checked: the test is void where the system refuses them). */
async function setIdFile(name: string, bits: number, content = 'program'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  await chmod(path, bits);
  assert.equal(await mode(path), bits, 'the system kept the set-id bits of the fixture');
  return path;
}

async function replace(target: string, content: string, options: { mode?: number } = {}): Promise<void> {
  const f = await AtomicFile.create(target, options);
  await f.write(Buffer.from(content));
  await f.commit();
}

test('over a link to a 4755 file: the link becomes a new file of the default mode; the link target is untouched', async () => {
  const program = await setIdFile('suid-program', 0o4755);
  const link = join(dir, 'slink');
  await symlink(program, link);
  await withUmask(0o022, () => replace(link, 'downloaded'));
  const st = await lstat(link);
  assert.ok(st.isFile(), 'the link was replaced by a regular file');
  assert.equal(st.mode & 0o7777, 0o644);
  assert.equal(await readFile(link, 'utf8'), 'downloaded');
  assert.equal(await mode(program), 0o4755);
  assert.equal(await readFile(program, 'utf8'), 'program');
});

test('replacing a set-id file in place keeps its permission bits, never its set-id bits', async () => {
  for (const [bits, want] of [
    [0o6755, 0o755],
    [0o4755, 0o755],
    [0o2750, 0o750],
    [0o4700, 0o700],
  ] as const) {
    const target = await setIdFile(`in-place-${bits.toString(8)}`, bits);
    await replace(target, 'new content');
    assert.equal(await mode(target), want, `from ${bits.toString(8)}`);
    assert.equal(await readFile(target, 'utf8'), 'new content');
  }
});

test('a link to a link to a set-id file: still the default mode, and nothing behind the links changes', async () => {
  const program = await setIdFile('sgid-program', 0o2755);
  const first = join(dir, 'first-link');
  const second = join(dir, 'second-link');
  await symlink(program, first);
  await symlink(first, second);
  await withUmask(0o027, () => replace(second, 'x'));
  assert.equal((await lstat(second)).mode & 0o7777, 0o640);
  assert.equal(await readlink(first), program);
  assert.equal(await mode(program), 0o2755);
});

test('a part is staged with PART_MODE: never set-id while written or once committed, whatever a stale part had', async () => {
  assert.equal(PART_MODE & 0o7000, 0);
  const stale = await setIdFile('.stale.gosync-part', 0o6777, 'stale');
  const f = await AtomicFile.create(stale, { mode: PART_MODE });
  assert.equal(await mode(f.tempPath), 0o600);
  await f.write(Buffer.from('part'));
  await f.commit();
  assert.equal(await mode(stale), PART_MODE);
  // Over a link to a set-id file, the same; the link's target is untouched.
  const program = await setIdFile('part-target', 0o4755);
  const linked = join(dir, '.linked.gosync-part');
  await symlink(program, linked);
  await replace(linked, 'part', { mode: PART_MODE });
  assert.equal((await lstat(linked)).mode & 0o7777, PART_MODE);
  assert.equal(await mode(program), 0o4755);
  // An explicit mode keeps its permission bits only.
  const explicit = join(dir, 'explicit');
  await replace(explicit, 'x', { mode: 0o4755 });
  assert.equal(await mode(explicit), 0o755);
});

test('setMetadata applies the permission bits and the sticky bit only: no set-id bit from a listed mode', async () => {
  const path = await setIdFile('listed', 0o6755);
  await setMetadata(path, 0o6755, 1_000_000);
  assert.equal(await mode(path), 0o755);
  await setMetadata(path, 0o7640, 2_000_000);
  assert.equal(await mode(path), 0o640 | 0o1000, 'the sticky bit is kept (a 1777 folder never becomes 0777), set-id bits never');
  assert.equal((await stat(path)).mtimeMs, 2_000_000);
});
