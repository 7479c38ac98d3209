/**
 * What `gosync patch <file> <index URL>` loads and opens for a plain file (no archive, no
 * delta, a gosync index): not the archive code, not the other index formats' codecs, and two
 * connections to the host (the index and the probe share one). It runs the command as tsc wrote
 * it, one module per source file, which a load hook can list; the bundle keeps the same lazy
 * imports as chunks (scripts/bundle.ts).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { startStaticServer } from '../../src/serve/static-server.js';
import { MODULES_CLI, runCli } from '../helpers/cli.js';

/** Writes every module URL the process loads to `$GOSYNC_TEST_MODULES` when it exits. */
const HOOK = `
import module from 'node:module';
import { writeFileSync } from 'node:fs';
const loaded = [];
module.registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
process.on('exit', () => writeFileSync(process.env.GOSYNC_TEST_MODULES, loaded.join('\\n')));
`;

/** A file of text-like lines, and an edit of it: a few lines changed here and there. */
function versions(): { old: Buffer; next: Buffer } {
  const lines: string[] = [];
  for (let i = 0; i < 6000; i++) lines.push(`line ${i}: ${((i * 2654435761) >>> 0).toString(36)} ${'abcdefgh'.repeat(i % 7)}`);
  const next = [...lines];
  for (let i = 100; i < next.length; i += 900) next[i] = `changed ${i}`;
  return { old: Buffer.from(`${lines.join('\n')}\n`), next: Buffer.from(`${next.join('\n')}\n`) };
}

test('a plain file patched over HTTP loads no archive code, no other format and no folder command, and opens two connections', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-startup-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { old, next } = versions();
  await writeFile(join(dir, 'app.js'), next);
  const built = await runCli(['build', join(dir, 'app.js'), '-q']);
  assert.equal(built.code, 0, built.stderr);
  const local = join(dir, 'old.js');
  await writeFile(local, old);
  const hook = join(dir, 'hook.mjs');
  await writeFile(hook, HOOK);

  const server = await startStaticServer({ root: dir });
  t.after(() => server.close());
  // A TCP relay in front of the server, counting the connections the client opens.
  let connections = 0;
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    connections++;
    const upstream = connect(server.port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => relay.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/app.js.gosync`;

  const modules = join(dir, 'modules.txt');
  const result = await runCli(['patch', local, url, '-q'], {
    cli: MODULES_CLI,
    env: { NODE_OPTIONS: `--import=${pathToFileURL(hook).href}`, GOSYNC_TEST_MODULES: modules },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.ok(next.equals(await readFile(local)), 'the patched file is the new version');

  const src = new URL('../../src/', import.meta.url).href;
  const ours = (await readFile(modules, 'utf8'))
    .split('\n')
    .filter((u) => u.startsWith(src))
    .map((u) => u.slice(src.length));
  assert.ok(ours.includes('sources/http/http-source.js'), 'the hook saw the modules of the patch');
  const unused = ours.filter((u) =>
    /^(archive\/|forms\/bsdiff\/|formats\/(detect|zsync-control|gosync-v0)\.js|cli\/commands\/tree\.js)/.test(u),
  );
  assert.deepEqual(unused, [], 'modules a plain file patch does not use');
  // The index (summary, then the rest) and the multi-range probe share one; the blocks come
  // on a new one (http-source.ts says why).
  assert.equal(connections, 2, 'one connection for the index and the probe, one for the blocks');
});
