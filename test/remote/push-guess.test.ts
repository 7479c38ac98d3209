/**
 * A pushing client sends its file list right after HELLO, compressed with zstd, without
 * waiting for the server's greeting (a round trip less). The server here is
 * `serve --stdio` behind a relay: one that holds the server's output until the list has
 * come (a client that waited for the greeting would wait forever), and one that makes
 * both ends see a version 1 peer (brotli): the client, whose zstd list that server cannot
 * read, starts the session again and waits for the greeting.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { push } from '../../src/remote/push-pull.js';
import { CLI } from '../helpers/cli.js';
import { makeTree, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-remote-guess-'));
});
after(() => cleanup());

const T = Date.UTC(2024, 0, 2, 3, 4, 5);

/**
 * Runs `serve --stdio` with its stdio relayed. `mode` 'hold': the server's bytes reach the
 * client only once the client has sent more than its greeting and HELLO. 'v1': both
 * greetings are rewritten to say version 1 only. Each run appends a line to `log`.
 */
const RELAY = `
const [cli, mode, log] = process.argv.slice(1);
const { spawn } = require('node:child_process');
require('node:fs').appendFileSync(log, 'run\\n');
const child = spawn(process.execPath, [cli, 'serve', '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
const v1 = (b) => { if (mode === 'v1' && b.length >= 10) { b = Buffer.from(b); b[8] = 0; b[9] = 1; } return b; };
let fromClient = Buffer.alloc(0), open = mode !== 'hold', held = [], firstIn = true, firstOut = true;
process.stdin.on('data', (c) => {
  if (firstIn) { c = v1(c); firstIn = false; }
  if (!open) {
    fromClient = Buffer.concat([fromClient, c]);
    if (fromClient.length > 21 && fromClient.length > 21 + fromClient.readUInt32BE(17)) {
      open = true;
      for (const h of held) process.stdout.write(h);
    }
  }
  child.stdin.write(c);
});
process.stdin.on('end', () => child.stdin.end());
child.stdout.on('data', (c) => {
  if (firstOut) { c = v1(c); firstOut = false; }
  if (open) process.stdout.write(c); else held.push(c);
});
child.on('close', (code) => process.exit(code ?? 1));
`;

async function run(mode: 'hold' | 'v1'): Promise<number> {
  const src = join(dir, `src-${mode}`);
  const dst = join(dir, `dst-${mode}`);
  const log = join(dir, `log-${mode}`);
  await makeTree(src, { 'a.txt': { data: `new ${'content '.repeat(100)}`, mtime: T }, 'sub/b.txt': { data: 'bee', mtime: T } });
  await makeTree(dst, { 'a.txt': { data: `old ${'content '.repeat(100)}`, mtime: T - 5000 } });
  const r = await push(src, dst, { localCommand: [process.execPath, '-e', RELAY, CLI, mode, log] });
  assert.equal(r.changed, 2);
  assert.equal(await readFile(join(dst, 'a.txt'), 'utf8'), `new ${'content '.repeat(100)}`);
  assert.equal(await readFile(join(dst, 'sub/b.txt'), 'utf8'), 'bee');
  return (await readFile(log, 'utf8')).split('\n').filter(Boolean).length;
}

test("the list goes out before the server's greeting comes", { timeout: 60_000 }, async () => {
  assert.equal(await run('hold'), 1);
});

test('a server that speaks only version 1 gets the session again, in brotli', { timeout: 60_000 }, async () => {
  assert.equal(await run('v1'), 2);
});
