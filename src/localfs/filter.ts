/**
 * Excludes and includes: which tree paths a folder operation leaves out (folder build,
 * push and pull, folder patch). One engine for all of them.
 *
 * A filter is an ordered list of rules, read first to last; the first rule that matches
 * a path decides (rsync's order: an include before an exclude re-includes):
 *
 * - `exclude`: one gitignore pattern (`--exclude`); a match excludes, and a negated
 *   pattern (`!pat`) that matches includes.
 * - `include`: one gitignore pattern (`--include`); a match includes.
 * - `file`: the lines of a gitignore file (`--exclude-from`, `.gosyncignore`), read with
 *   git's own rule inside the file (the last matching line wins, `!` re-includes); the
 *   file decides a path only when one of its lines matches it.
 *
 * Patterns are gitignore syntax (the `ignore` package): a pattern with a `/` at its start
 * or in its middle is anchored at the folder's root, one ending in `/` matches only
 * folders, `**` spans folders. A path no rule matches is included. An excluded folder
 * excludes everything below it (it is not even read), whatever later rules say.
 *
 * @module
 */
import { lstat, readFile } from '../util/fs-promises.js';
import ignore, { type Ignore } from 'ignore';
import { ioError } from '../core/errors.js';
import { builtin } from '../util/builtin.js';

const { join } = builtin('node:path');

/** The name of the per-folder filter file, read at the root of a folder that is sent or published (and of one that receives). */
export const IGNORE_FILE = '.gosyncignore';

/** One rule of a filter, in the order given. */
export type FilterRule =
  | { kind: 'exclude'; pattern: string }
  | { kind: 'include'; pattern: string }
  | { kind: 'file'; lines: string[]; source?: string };

/** What a filter says of a path: excluded, or not. */
export interface PathFilter {
  /** The rules, in order (what crosses the wire to the far end of push and pull). */
  readonly rules: readonly FilterRule[];
  /**
   * True when `path` (a tree path, `/`-separated, relative to the root) is left out, by a
   * rule on itself or on one of the folders above it. `isDir`: the path is a folder.
   */
  excludes(path: string, isDir: boolean): boolean;
}

/** The most rules and characters a filter may have (a filter from the wire is refused beyond them). */
export const FILTER_LIMITS = { rules: 10_000, lines: 100_000, chars: 4096 } as const;

interface Compiled {
  matcher: Ignore;
  /** A match includes (an `include` rule). */
  include: boolean;
}

function compile(rule: FilterRule): Compiled {
  const lines = rule.kind === 'file' ? rule.lines : [rule.pattern];
  // `ignore` reads a leading `\!` / `\#` as git does; a bare rule keeps its meaning.
  return { matcher: ignore({ allowRelativePaths: true }).add(lines), include: rule.kind === 'include' };
}

/** The first rule's decision for `path` (with a trailing `/` for a folder), or undefined. */
function decide(compiled: readonly Compiled[], path: string): boolean | undefined {
  for (const c of compiled) {
    const r = c.matcher.test(path);
    if (c.include) {
      // For an include, any match of its (positive) pattern includes.
      if (r.ignored) return false;
      continue;
    }
    if (r.ignored) return true;
    if (r.unignored) return false;
  }
  return undefined;
}

/**
 * A filter of `rules` (first match decides), or undefined when there are none (nothing
 * is excluded). Checks each rule's size against {@link FILTER_LIMITS}.
 */
export function createFilter(rules: readonly FilterRule[]): PathFilter | undefined {
  checkRules(rules);
  if (rules.length === 0) return undefined;
  const compiled = rules.map(compile);
  /** Folders decided so far: most paths share their parents. */
  const dirs = new Map<string, boolean>();
  const dirExcluded = (dir: string): boolean => {
    let known = dirs.get(dir);
    if (known === undefined) {
      const slash = dir.lastIndexOf('/');
      known = (slash > 0 && dirExcluded(dir.slice(0, slash))) || decide(compiled, `${dir}/`) === true;
      dirs.set(dir, known);
    }
    return known;
  };
  return {
    rules,
    excludes(path: string, isDir: boolean): boolean {
      if (path === '') return false;
      if (isDir) return dirExcluded(path);
      const slash = path.lastIndexOf('/');
      if (slash > 0 && dirExcluded(path.slice(0, slash))) return true;
      return decide(compiled, path) === true;
    },
  };
}

/** Throws a TypeError when `rules` is not a list of rules within {@link FILTER_LIMITS}. */
export function checkRules(rules: readonly FilterRule[]): void {
  if (!Array.isArray(rules) || rules.length > FILTER_LIMITS.rules)
    throw new TypeError(`Cannot use the filter: it is not a list of at most ${FILTER_LIMITS.rules} rules`);
  let lines = 0;
  for (const r of rules) {
    const patterns: unknown = r?.kind === 'file' ? r.lines : r?.kind === 'include' || r?.kind === 'exclude' ? [r.pattern] : undefined;
    if (!Array.isArray(patterns)) throw new TypeError('Cannot use the filter: a rule is not an include, an exclude or a file');
    lines += patterns.length;
    for (const p of patterns)
      if (typeof p !== 'string' || p.length > FILTER_LIMITS.chars || p.includes('\0'))
        throw new TypeError(`Cannot use the filter: a pattern is not a string of at most ${FILTER_LIMITS.chars} characters without NUL`);
  }
  if (lines > FILTER_LIMITS.lines) throw new TypeError(`Cannot use the filter: it has more than ${FILTER_LIMITS.lines} patterns`);
}

/** The rule of a gitignore-syntax file (`--exclude-from`): its lines, read now. */
export async function readRulesFile(path: string, signal?: AbortSignal): Promise<FilterRule> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', ...(signal ? { signal } : {}) });
  } catch (cause) {
    throw ioError('read the exclude file', path, cause);
  }
  return { kind: 'file', lines: text.split(/\r?\n/), source: path };
}

/**
 * The rule of the `.gosyncignore` at the root of folder `root`, or undefined when it has
 * none (or `root` is not a folder, or the file is not a regular file).
 */
export async function readIgnoreFile(root: string, signal?: AbortSignal): Promise<FilterRule | undefined> {
  const path = join(root, IGNORE_FILE);
  try {
    // A link is not followed: the rules are the folder's own.
    if (!(await lstat(path)).isFile()) return undefined;
    const text = await readFile(path, { encoding: 'utf8', ...(signal ? { signal } : {}) });
    return { kind: 'file', lines: text.split(/\r?\n/), source: IGNORE_FILE };
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw ioError('read', path, cause);
  }
}

/**
 * The filter of a folder operation at `root`: the `rules` given (first), then the
 * folder's own `.gosyncignore` unless `ignoreFile` is false. Undefined when nothing
 * applies.
 */
export async function folderFilter(
  root: string,
  rules: readonly FilterRule[] = [],
  options: { ignoreFile?: boolean; signal?: AbortSignal } = {},
): Promise<PathFilter | undefined> {
  const own = options.ignoreFile === false ? undefined : await readIgnoreFile(root, options.signal);
  return createFilter(own ? [...rules, own] : rules);
}
