/**
 * `gosync completion bash|zsh`: prints a shell completion script made from each
 * command's `--help` text (its option lines), so the two never disagree. The man page
 * (scripts/man.ts) is made from the same texts.
 */
import type { CommandContext } from '../context.js';
import { UsageError, parse } from '../usage.js';

export const completionHelp = `Usage: gosync completion bash|zsh

Prints a completion script for the shell: commands, and each command's options (from
its --help text); other words complete as file names.

  bash: gosync completion bash > ~/.local/share/bash-completion/completions/gosync
        (or add  source <(gosync completion bash)  to ~/.bashrc)
  zsh:  gosync completion zsh > "\${fpath[1]}/_gosync"   (a folder on $fpath; then
        start a new shell), or add  source <(gosync completion zsh)  to ~/.zshrc
        after compinit

Options:
  -h, --help   this text
`;

/**
 * Every command and the loader of its `--help` text, in the order `gosync --help` lists
 * them (a test checks the two lists agree).
 */
export const COMMAND_HELP: Record<string, () => Promise<string>> = {
  build: async () => (await import('./build.js')).buildHelp,
  patch: async () => (await import('./patch.js')).patchHelp,
  diff: async () => (await import('./patch.js')).diffHelp,
  push: async () => (await import('./push-pull.js')).pushHelp,
  pull: async () => (await import('./push-pull.js')).pullHelp,
  serve: async () => (await import('./serve.js')).serveHelp,
  publish: async () => (await import('./publish.js')).publishHelp,
  prune: async () => (await import('./prune.js')).pruneHelp,
  rdiff: async () => (await import('./rdiff.js')).rdiffHelp,
  demo: async () => (await import('./demo.js')).demoHelp,
  completion: async () => completionHelp,
};

/** The short names of commands (`gosync b` is `gosync build`). */
export const COMMAND_ALIASES: Record<string, string> = { b: 'build', p: 'patch', d: 'diff' };

/** The options a help text lists: every `-x` and `--name` that starts an option line. */
export function helpOptions(help: string): string[] {
  const found = new Set<string>();
  for (const line of help.split('\n')) {
    // An option line starts its flags within a few spaces; a description's continuation is indented further.
    const m = /^ {1,6}(-[A-Za-z0-9](?:, )?)?(--[a-z][a-z0-9-]*)?/.exec(line);
    if (!m || (m[1] === undefined && m[2] === undefined)) continue;
    if (m[1] !== undefined) found.add(m[1].replace(/, $/, ''));
    if (m[2] !== undefined) found.add(m[2]);
  }
  found.add('--help');
  return [...found].sort();
}

/** Each command's options, by command, in {@link COMMAND_HELP}'s order. */
export async function commandOptions(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [name, load] of Object.entries(COMMAND_HELP)) out.set(name, helpOptions(await load()));
  return out;
}

/** The names a command is typed as, for a shell `case` pattern: `build|b`. */
function spellings(name: string): string {
  return [name, ...Object.entries(COMMAND_ALIASES).flatMap(([a, n]) => (n === name ? [a] : []))].join('|');
}

/** The words a command's arguments complete to: its options (the shells, for `completion`). */
function words(name: string, opts: readonly string[]): string {
  return (name === 'completion' ? ['bash', 'zsh', ...opts] : opts).join(' ');
}

/** The bash completion script. */
export function bashCompletion(options: ReadonlyMap<string, readonly string[]>): string {
  const cases = [...options].map(([name, opts]) => `    ${spellings(name)}) opts="${words(name, opts)}" ;;`).join('\n');
  return `# bash completion for gosync (made by "gosync completion bash")
_gosync() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${[...options.keys()].join(' ')} --help --version" -- "$cur"))
    return
  fi
  local opts=""
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [[ "$cur" == -* || "\${COMP_WORDS[1]}" == completion ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=()
  fi
}
complete -o default -o bashdefault -F _gosync gosync
`;
}

/** The zsh completion script (a `#compdef` file, also fine to source after compinit). */
export function zshCompletion(options: ReadonlyMap<string, readonly string[]>): string {
  const cases = [...options].map(([name, opts]) => `    ${spellings(name)}) opts=(${words(name, opts)}) ;;`).join('\n');
  return `#compdef gosync
# zsh completion for gosync (made by "gosync completion zsh")
_gosync() {
  if (( CURRENT == 2 )); then
    compadd -- ${[...options.keys()].join(' ')} --help --version
    return
  fi
  local -a opts
  case $words[2] in
${cases}
  esac
  if [[ $PREFIX == -* || $words[2] == completion ]]; then
    compadd -- $opts
  else
    _files
  fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _gosync "$@"
else
  compdef _gosync gosync
fi
`;
}

/** The script for `shell`, or undefined for a shell gosync has none for. */
export async function completionScript(shell: string): Promise<string | undefined> {
  if (shell !== 'bash' && shell !== 'zsh') return undefined;
  const options = await commandOptions();
  return shell === 'bash' ? bashCompletion(options) : zshCompletion(options);
}

/** `gosync completion bash|zsh`. */
export async function completion(args: string[], ctx: CommandContext): Promise<void> {
  const { positionals } = parse(args, {});
  if (positionals.length !== 1) throw new UsageError(`completion takes one shell (bash or zsh), got ${positionals.length} arguments`);
  const script = await completionScript(positionals[0]!);
  if (script === undefined) throw new UsageError(`completion knows bash and zsh, not "${positionals[0]}"`);
  ctx.stdout.write(script);
}
