/**
 * Modes on the receiving end of push and pull, as rsync's: an entry that was there takes
 * the source's permission bits, a new file or folder the source's bits less the umask
 * (the CLI passes its process's), the sticky bit a peer sends is kept; a metadata-only
 * update of a file hard-linked from outside the destination goes through a copy, so the
 * outside file keeps its mode and time.
 */
import assert from 'node:assert/strict';
import { chmod, link, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TreeRoot } from '../../src/localfs/tree-path.js';
import { pull, push } from '../../src/remote/push-pull.js';
import { Receiver } from '../../src/remote/receiver.js';
import { memoryPipe } from '../../src/remote/transport.js';
import { ByteWriter } from '../../src/remote/wire/binary.js';
import { Channel } from '../../src/remote/wire/channel.js';
import { FileListEncoder, type ListEntry } from '../../src/remote/wire/file-list.js';
import { makeTree, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-modes-'));
});
after(() => cleanup());

const T0 = Date.UTC(2024, 5, 6, 7, 8, 9, 120);
const modeOf = async (p: string): Promise<number> => (await lstat(p)).mode & 0o7777;
let n = 0;

for (const op of ['push', 'pull'] as const) {
  test(`${op} with a umask: new files and folders masked, what was there takes the source's mode`, async () => {
    n++;
    const src = join(dir, `src${n}`);
    const dst = join(dir, `dst${n}`);
    await makeTree(src, {
      'new/f.txt': { data: 'new file', mode: 0o666, mtime: T0 },
      'old/g.txt': { data: 'changed content', mode: 0o666, mtime: T0 },
      'same.txt': { data: 'same', mode: 0o666, mtime: T0 },
    });
    await chmod(join(src, 'new'), 0o777);
    await chmod(join(src, 'old'), 0o777);
    await makeTree(dst, {
      'old/g.txt': { data: 'old content', mode: 0o600, mtime: T0 - 1000 },
      'same.txt': { data: 'same', mode: 0o600, mtime: T0 },
    });
    await chmod(join(dst, 'old'), 0o700);
    await (op === 'push' ? push : pull)(src, dst, { umask: 0o022 });
    assert.equal(await modeOf(join(dst, 'new')), 0o755, 'a new folder');
    assert.equal(await modeOf(join(dst, 'new/f.txt')), 0o644, 'a new file');
    assert.equal(await modeOf(join(dst, 'old')), 0o777, 'a folder that was there');
    assert.equal(await modeOf(join(dst, 'old/g.txt')), 0o666, 'a file that was there, new content');
    assert.equal(await modeOf(join(dst, 'same.txt')), 0o666, 'a file that was there, same content');
    assert.equal(await readFile(join(dst, 'old/g.txt'), 'utf8'), 'changed content');
  });
}

test('push of a single new file with a umask: masked; over an existing file: the source mode', async () => {
  n++;
  const src = join(dir, `src${n}`);
  await makeTree(src, { 'f.txt': { data: 'one file', mode: 0o666, mtime: T0 } });
  await push(join(src, 'f.txt'), join(dir, `single${n}`), { umask: 0o027 });
  assert.equal(await modeOf(join(dir, `single${n}`)), 0o640);
  await writeFile(join(dir, `over${n}`), 'old');
  await chmod(join(dir, `over${n}`), 0o600);
  await push(join(src, 'f.txt'), join(dir, `over${n}`), { umask: 0o027 });
  assert.equal(await modeOf(join(dir, `over${n}`)), 0o666);
});

test('a sticky bit the sender lists is kept: a 1777 folder stays 1777', async () => {
  n++;
  const root = join(dir, `c${n}`);
  await mkdir(join(root, 'dst', 'was'), { recursive: true });
  const [a, b] = memoryPipe();
  const r = await Receiver.open(new Channel(a, { peer: 'the sender' }), { container: new TreeRoot(root), name: 'dst' }, { umask: 0o022 });
  void b;
  const list: ListEntry[] = [
    { path: '', type: 'dir', mode: 0o755, mtime: T0, size: 0 },
    { path: 'was', type: 'dir', mode: 0o1777, mtime: T0, size: 0 },
    { path: 'new', type: 'dir', mode: 0o1777, mtime: T0, size: 0 },
  ];
  const enc = new FileListEncoder();
  for (const e of list) enc.add(e);
  await r.receiveFiles(enc.take()!);
  r.endFileList(new ByteWriter(8).varint(list.length).finish());
  await r.sendSignatures();
  await r.whenStaged();
  await r.commit();
  assert.equal(await modeOf(join(root, 'dst', 'was')), 0o1777);
  assert.equal(await modeOf(join(root, 'dst', 'new')), 0o1755, 'new: masked, the sticky bit kept');
});

for (const single of [false, true]) {
  test(`a metadata-only push over a file hard-linked from outside (${single ? 'a single file' : 'in a folder'}): the outside file keeps its mode and time`, async () => {
    n++;
    const src = join(dir, `src${n}`);
    const dst = join(dir, `dst${n}`);
    const outside = join(dir, `outside${n}`);
    await makeTree(src, { 'f.txt': { data: 'same content', mode: 0o600, mtime: T0 } });
    await makeTree(outside, { 'victim.txt': { data: 'same content', mode: 0o644, mtime: T0 } });
    await mkdir(dst, { recursive: true });
    // Same size and time: only the mode differs, so the commit changes metadata only.
    await link(join(outside, 'victim.txt'), join(dst, 'f.txt'));
    await push(single ? join(src, 'f.txt') : src, single ? join(dst, 'f.txt') : dst);
    assert.equal(await modeOf(join(dst, 'f.txt')), 0o600);
    assert.equal(await modeOf(join(outside, 'victim.txt')), 0o644, 'the outside file keeps its mode');
    assert.equal(Math.round((await lstat(join(outside, 'victim.txt'))).mtimeMs), T0);
    assert.equal(await readFile(join(dst, 'f.txt'), 'utf8'), 'same content');
    assert.equal((await lstat(join(outside, 'victim.txt'))).nlink, 1, 'the destination has its own copy now');
  });
}
