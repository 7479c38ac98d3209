/**
 * Writes the man page `dist/man/gosync.1` and the completion scripts
 * `dist/completion/gosync.bash` and `dist/completion/_gosync` (zsh) from the same texts as
 * `gosync --help` and `gosync <command> --help`. Run by `npm run build`, after tsc (it
 * reads the built CLI), with Node 24 (which runs this TypeScript file as it is).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/bundle/cli/main.cjs');
const { COMMAND_HELP, commandOptions, bashCompletion, zshCompletion } = (await import(
  join(root, 'dist/src/cli/commands/completion.js')
)) as typeof import('../src/cli/commands/completion.ts');

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; description: string };

/** Text as roff shows it verbatim: backslashes escaped, no line read as a request. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

function section(title: string, body: string): string {
  return `.SH ${title}\n.nf\n${roff(body.replace(/\n+$/, ''))}\n.fi\n`;
}

const mainHelp = execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
let page = `.\\" Made by scripts/man.ts from the --help texts of gosync ${pkg.version}; do not edit.
.TH GOSYNC 1 "" "gosync ${pkg.version}" "User Commands"
.SH NAME
gosync \\- ${roff(pkg.description)}
.SH SYNOPSIS
.B gosync
.I command
[\\fIoptions\\fR]
${section('DESCRIPTION', mainHelp)}.SH COMMANDS
`;
for (const [name, load] of Object.entries(COMMAND_HELP)) {
  page += `.SS ${name}\n.nf\n${roff((await load()).replace(/\n+$/, ''))}\n.fi\n`;
}
page += `.SH SEE ALSO
.BR rsync (1),
.BR zsync (1),
.BR rdiff (1)
`;

mkdirSync(join(root, 'dist/man'), { recursive: true });
writeFileSync(join(root, 'dist/man/gosync.1'), page);
const options = await commandOptions();
mkdirSync(join(root, 'dist/completion'), { recursive: true });
writeFileSync(join(root, 'dist/completion/gosync.bash'), bashCompletion(options));
writeFileSync(join(root, 'dist/completion/_gosync'), zshCompletion(options));
