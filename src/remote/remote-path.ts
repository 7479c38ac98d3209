/**
 * `[user@]host:path` as rsync and scp read it, and rsync's way of splitting a `-e`
 * command line.
 *
 * @module
 */
import { builtin } from '../util/builtin.js';

const { sep } = builtin('node:path');

/** A path on another machine. */
export interface RemoteLocation {
  /** What ssh is given: `host` or `user@host`. */
  host: string;
  /** The path there: relative to the remote's home (or its `--root`); '' for that folder itself. */
  path: string;
}

/**
 * Reads `[user@]host:path`: a remote location when a `:` comes before any `/`, else
 * `undefined` (a local path). `[host]:path` is an IPv6 address. `host::path` (an rsync
 * daemon module) is refused with a TypeError, as is an empty host. A drive path `C:\x`
 * is local on every platform; on Windows so are `C:/x` and `C:x`, and any path with a
 * `\` before its first `:`.
 */
export function parseRemote(
  spec: string,
  /**
   * `windows`: read paths as Windows does (`C:x` is a local path, `\` separates folders
   * as `/` does); default: when this platform's separator is `\`.
   */
  options: { windows?: boolean } = {},
): RemoteLocation | undefined {
  const windows = options.windows ?? sep === '\\';
  const bracket = /^((?:[^@/:]+@)?)\[([^\]/]+)\]:(.*)$/s.exec(spec);
  if (bracket) return { host: `${bracket[1]}${bracket[2]}`, path: bracket[3]! };
  // On POSIX `h:/srv` stays host h (a one-letter ssh alias), as rsync reads it.
  if (windows ? /^[a-z]:/i.test(spec) : /^[a-z]:\\/i.test(spec)) return undefined;
  const colon = spec.indexOf(':');
  if (colon < 0) return undefined;
  const slash = windows ? spec.search(/[\\/]/) : spec.indexOf('/');
  if (slash >= 0 && slash < colon) return undefined;
  const host = spec.slice(0, colon);
  const path = spec.slice(colon + 1);
  if (host === '' || host.endsWith('@'))
    throw new TypeError(`Cannot use ${JSON.stringify(spec)}: the host is empty (write ./${spec} for a local path)`);
  if (path.startsWith(':'))
    throw new TypeError(
      `Cannot use ${JSON.stringify(spec)}: rsync daemon modules (host::module) are not supported; use host:path over ssh`,
    );
  return { host, path };
}

/**
 * Splits a command line into words as rsync splits `-e`: on whitespace, with '…' and
 * "…" quoting (a backslash escapes the next character outside single quotes).
 */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < command.length) word += command[++i];
      else word += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'" || c === '"') quote = c;
    else if (c === '\\' && i + 1 < command.length) word += command[++i];
    else word += c;
  }
  if (quote) throw new TypeError(`Cannot split the command ${JSON.stringify(command)}: a ${quote} quote is not closed`);
  if (inWord) words.push(word);
  return words;
}
