/**
 * Text from outside is printed with its control and bidi characters escaped: a hostile
 * manifest's paths cannot clear the screen, set the window title or forge output lines.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { printable } from '../../src/cli/printable.js';
import { runCli } from '../helpers/cli.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-printable-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('printable escapes C0, DEL, C1 and bidi controls and keeps other text', () => {
  assert.equal(printable('a\u001b]0;x\u0007b\nc\r\td\u007f\u0085'), 'a\\x1b]0;x\\x07b\\x0ac\\x0d\\x09d\\x7f\\x85');
  assert.equal(printable('exe\u202etxt.js\u2066'), 'exe\\u{202e}txt.js\\u{2066}');
  assert.equal(printable('café/日本語 ok.txt'), 'café/日本語 ok.txt');
});

test('a manifest path with terminal escapes and a newline is printed escaped by diff', async () => {
  const src = join(dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'a.txt'), 'hello '.repeat(5000));
  const pub = join(dir, 'pub');
  const built = await runCli(['build', '-q', src, '-o', pub, '-n', 'app']);
  assert.equal(built.code, 0, built.stderr);
  const manifestPath = join(pub, 'app.tree.json');
  const hostile = 'a\u001b]0;pwned\u0007\nforged line\u202e.txt';
  const text = (await readFile(manifestPath, 'utf8')).replace('"a.txt"', JSON.stringify(hostile));
  assert.notEqual(text, await readFile(manifestPath, 'utf8'), 'the path was replaced');
  await writeFile(manifestPath, text);
  const empty = join(dir, 'empty');
  await mkdir(empty);
  const r = await runCli(['diff', empty, manifestPath]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /[\u001b\u0007\u202e]/, 'no raw control or bidi character');
  assert.ok(!r.stdout.split('\n').some((l) => l.startsWith('forged')), 'no forged line');
  assert.match(r.stdout, /a\\x1b\]0;pwned\\x07\\x0aforged line\\u\{202e\}\.txt/);
  assert.deepEqual(await readdir(empty), [], 'diff writes nothing');
});
