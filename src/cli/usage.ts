/**
 * Command-line parsing helpers: misuse is a {@link UsageError} (exit code 2).
 *
 * A command parses its arguments once, against one option table per form (the file and
 * folder forms of build, patch and diff), merged with {@link mergeForms}; it then picks
 * the form from the positionals and keeps the values of that form with {@link formValues}.
 *
 * @module
 */
import type { ParseArgsConfig } from 'node:util';
import type { FilterRule } from '../localfs/filter.js';
import { builtin } from '../util/builtin.js';

const { parseArgs } = builtin('node:util');

/** Wrong arguments: printed as one line plus a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An option table, as `util.parseArgs` takes it. */
export type Options = NonNullable<ParseArgsConfig['options']>;
/** The parsed values of an option table. */
export type Values<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>['values'];

/** One parsed command line. */
export interface CommandLine<O extends Options> {
  values: Values<O>;
  positionals: string[];
  /** Each option given, by name, as it was first spelled (`-t`, `--threads`). */
  given: ReadonlyMap<string, string>;
  /** Every option given with its value, in command-line order (for rules whose order matters). */
  sequence: readonly { name: string; value: string | undefined }[];
}

/**
 * The options of each parsed command line in order, by its values object: a command whose
 * form takes `values` alone (the folder forms) still reads the order of its rules.
 */
const sequences = new WeakMap<object, CommandLine<Options>['sequence']>();

/** `parseArgs` in strict mode (grouped short options, `--`), with its errors turned into UsageErrors. */
export function parse<O extends Options>(args: string[], options: O): CommandLine<O> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true; tokens: true }>>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify.*$/s, ''));
  }
  const given = new Map<string, string>();
  const sequence: { name: string; value: string | undefined }[] = [];
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue;
    if (!given.has(t.name)) given.set(t.name, t.rawName);
    sequence.push({ name: t.name, value: t.value });
  }
  sequences.set(parsed.values, sequence);
  return { values: parsed.values, positionals: parsed.positionals, given, sequence };
}

/**
 * The option table of a command whose forms take different options: every option of
 * each form. An option two forms share must be the same option in both, and a short
 * letter must name one option (else one parse could not serve every form).
 */
export function mergeForms<A extends Options, B extends Options>(a: A, b: B): A & B {
  const shorts = new Map<string, string>();
  for (const table of [a, b]) {
    for (const [name, o] of Object.entries(table)) {
      const other = Object.hasOwn(a, name) ? a[name] : undefined;
      if (other !== undefined && (other.type !== o.type || other.short !== o.short || other.multiple !== o.multiple))
        throw new TypeError(`Cannot merge the option tables: --${name} differs between the forms`);
      if (o.short === undefined) continue;
      const owner = shorts.get(o.short);
      if (owner !== undefined && owner !== name)
        throw new TypeError(`Cannot merge the option tables: -${o.short} is both --${owner} and --${name}`);
      shorts.set(o.short, name);
    }
  }
  return { ...a, ...b };
}

/**
 * The values of the form a command line turned out to be: an option only another form
 * takes is refused as `parseArgs` refuses an unknown one.
 */
export function formValues<O extends Options>(line: { values: object; given: ReadonlyMap<string, string> }, form: O): Values<O> {
  for (const [name, spelled] of line.given) if (!Object.hasOwn(form, name)) throw new UsageError(`Unknown option '${spelled}'`);
  return line.values as Values<O>;
}

/** The options of excludes and includes (folder build, patch and diff, push and pull). */
export const FILTER_OPTIONS = {
  exclude: { type: 'string', multiple: true },
  include: { type: 'string', multiple: true },
  'exclude-from': { type: 'string', multiple: true },
} as const;

/** The help lines of {@link FILTER_OPTIONS}, their descriptions from column `column`. */
export function filterHelp(column: number): string {
  const line = (flag: string, text: string) => `${`      ${flag}`.padEnd(column - 1)} ${text}\n`;
  return [
    line('--exclude <pattern>', 'leave out paths matching a gitignore pattern (repeatable)'),
    line('--include <pattern>', 'keep paths matching it though a later rule excludes them'),
    line('', '(repeatable; the first rule that matches a path decides)'),
    line('--exclude-from <file>', 'gitignore-syntax lines read from <file> (repeatable)'),
  ].join('');
}

/**
 * The filter rules of a command line, in the order given (`--exclude`, `--include`,
 * `--exclude-from` read now); the first that matches a path decides (localfs/filter.ts).
 */
export async function filterRules(values: object, signal?: AbortSignal): Promise<FilterRule[]> {
  const rules: FilterRule[] = [];
  for (const { name, value } of sequences.get(values) ?? []) {
    if (value === undefined) continue;
    if (name === 'exclude') rules.push({ kind: 'exclude', pattern: value });
    else if (name === 'include') rules.push({ kind: 'include', pattern: value });
    // Loaded here: the filters (and their gitignore matcher) serve only the folder forms.
    else if (name === 'exclude-from') rules.push(await (await import('../localfs/filter.js')).readRulesFile(value, signal));
  }
  return rules;
}

/** Parses a positive integer option. */
export function intOption(value: string | undefined, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer of at least ${min}, not "${value}"`);
  return n;
}

/** `--level`: a zstd level of the compressed frames, 1–22 (`gosync build`, file and folder). */
export function levelOption(value: string | undefined): number | undefined {
  const level = intOption(value, 'level', 1);
  if (level !== undefined && level > 22) throw new UsageError(`--level must be a zstd level from 1 to 22, not ${level}`);
  return level;
}

/**
 * Parses a size such as `2048`, `64K`, `16M`, `1.5G` (powers of 1024).
 * `defaultUnit` applies to a bare number (rsync's `--bwlimit` counts KiB).
 */
export function sizeOption(value: string | undefined, name: string, defaultUnit = 1): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(value.trim());
  if (!m) throw new UsageError(`--${name} must be a size such as 512K or 10M, not "${value}"`);
  const unit = m[2] ? 1024 ** ' kmgt'.indexOf(m[2].toLowerCase()) : defaultUnit;
  const n = Math.round(Number(m[1]) * unit);
  if (!(n > 0)) throw new UsageError(`--${name} must be more than zero, not "${value}"`);
  return n;
}

/** Human-readable byte count: `1.23 MB` (powers of 1000, as download tools show). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

/** The oldest Node.js major version gosync runs on (it uses Node 24's zstd in node:zlib). */
export const MIN_NODE_MAJOR = 24;

/** Why gosync cannot run on Node.js `version` (as `process.versions.node` gives it), or undefined. */
export function nodeVersionProblem(version: string): string | undefined {
  const major = Number.parseInt(version, 10);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return `gosync needs Node.js ${MIN_NODE_MAJOR} or newer; this is Node.js ${version}`;
}

/** `scheme://` at the start of an argument: a URL, never a local path. */
const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * A location argument (an index, a reference, a manifest, a content base): an http(s) URL
 * that parses and names a host, or a local path. Any other `scheme://` (`ftp://`, a typo
 * such as `htp://`) is refused rather than read as a local path.
 */
export function locationArgument(value: string, what: string): string {
  const scheme = URL_SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) return value;
  if (scheme !== 'http' && scheme !== 'https')
    throw new UsageError(`${what} "${value}" is a ${scheme}:// URL: gosync reads http:// and https:// URLs and local paths`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${what} "${value}" is not a valid URL`);
  }
  if (url.hostname === '') throw new UsageError(`${what} "${value}" names no host`);
  return value;
}

/** True when `value` starts like a URL (`scheme://`). */
export function looksLikeUrl(value: string): boolean {
  return URL_SCHEME.test(value);
}
