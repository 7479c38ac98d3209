/**
 * `gosync completion bash|zsh` and the man page: both made from the commands' --help
 * texts, so they list what `gosync --help` lists and each command's options.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { COMMAND_HELP, helpOptions } from '../../src/cli/commands/completion.js';
import { runCli } from '../helpers/cli.js';

const run = promisify(execFile);

test('completion lists exactly the commands of gosync --help, in its order', async () => {
  const help = await runCli(['--help']);
  const section = help.stdout.split('Commands:\n')[1]!.split('\n\n')[0]!;
  const listed = section.split('\n').map((l) => l.trim().split(/[ ,]/)[0]);
  assert.deepEqual(Object.keys(COMMAND_HELP), listed);
  // Each loader gives that command's own --help text.
  for (const name of listed) {
    const own = await runCli([name!, '--help']);
    assert.equal(await COMMAND_HELP[name!]!(), own.stdout, name);
  }
});

test('helpOptions reads the option lines of a help text, short and long', () => {
  const help = `Usage: x\n\nSome text with --not-an-option inside.\n\nOptions:\n  -o, --output <path>   where\n      --json            json\n  -q                    quiet\n                        --continued line\n`;
  assert.deepEqual(helpOptions(help), ['--help', '--json', '--output', '-o', '-q']);
});

test('gosync completion bash|zsh: each command with its options; bash parses it; misuse exits 2', async () => {
  const bash = await runCli(['completion', 'bash']);
  assert.equal(bash.code, 0, bash.stderr);
  assert.match(bash.stdout, /^ {4}push\) opts="[^"]*--delete-excluded [^"]*--exclude [^"]*--exclude-from [^"]*--include /m);
  assert.match(bash.stdout, /^ {4}build\|b\) opts="[^"]*--exclude /m);
  assert.match(bash.stdout, /^complete -o default -o bashdefault -F _gosync gosync$/m);
  const checked = await run('bash', ['-n', '-c', bash.stdout]);
  assert.equal(checked.stderr, '');
  // Completing "gosync pu" and "gosync push --del" in bash itself.
  const probe = `${bash.stdout}\nCOMP_WORDS=(gosync pu); COMP_CWORD=1; _gosync; echo "\${COMPREPLY[*]}"\nCOMP_WORDS=(gosync push --del); COMP_CWORD=2; _gosync; echo "\${COMPREPLY[*]}"`;
  const { stdout } = await run('bash', ['-c', probe]);
  assert.deepEqual(stdout.trim().split('\n'), ['push pull publish', '--delete --delete-excluded']);

  const zsh = await runCli(['completion', 'zsh']);
  assert.equal(zsh.code, 0, zsh.stderr);
  assert.match(zsh.stdout, /^#compdef gosync$/m);
  assert.match(zsh.stdout, /^ {4}pull\) opts=\([^)]*--exclude /m);

  assert.equal((await runCli(['completion', 'fish'])).code, 2);
  assert.equal((await runCli(['completion'])).code, 2);
});

test('the man page holds every command help text verbatim', async () => {
  const page = await readFile(fileURLToPath(new URL('../../man/gosync.1', import.meta.url)), 'utf8');
  assert.match(page, /^\.TH GOSYNC 1 /m);
  for (const [name, load] of Object.entries(COMMAND_HELP)) {
    assert.match(page, new RegExp(`^\\.SS ${name}$`, 'm'));
    // Verbatim lines, roff escapes undone.
    const firstLine = (await load()).split('\n')[0]!;
    assert.ok(page.replace(/\\e/g, '\\').includes(firstLine), `${name}: ${firstLine}`);
  }
  assert.ok(page.includes('--delete-excluded'));
});
