/**
 * The `--json` reports: one object on one line of stdout, the same field names for the same
 * things in every command (docs/json.md lists each command's fields; a test checks the
 * output against it). Every report starts with `command` and `version`; `seconds` is
 * rounded to the millisecond. A failure with `--json` prints `{command, version, error}`.
 *
 * The library's reports are mapped here, field by field: the JSON is the CLI's contract,
 * and a field renamed in a library report must not rename it.
 *
 * @module
 */
import { builtin } from '../util/builtin.js';

const { readFileSync } = builtin('node:fs');

let cachedVersion: string | undefined;

/** gosync's version, from its package.json. */
export function version(): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cachedVersion;
}

/** Seconds to the millisecond. */
export function roundSeconds(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/** The line of a `--json` report: `command` and `version` first, `seconds` rounded. */
export function jsonLine(command: string, fields: Record<string, unknown>): string {
  const out: Record<string, unknown> = { command, version: version(), ...fields };
  if (typeof out.seconds === 'number') out.seconds = roundSeconds(out.seconds);
  return `${JSON.stringify(out)}\n`;
}

/** `location` without the user name and password a URL may carry (they would leak into logs). */
export function withoutCredentials(location: string): string {
  if (!/^https?:\/\//i.test(location)) return location;
  try {
    const url = new URL(location);
    if (url.username === '' && url.password === '') return location;
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return location;
  }
}

/** The code of a usage error (exit code 2) in a `--json` error report. */
export const USAGE_ERROR_CODE = 'GOSYNC_ERR_USAGE';
/** The code of an unexpected failure (a bug) in a `--json` error report. */
export const INTERNAL_ERROR_CODE = 'GOSYNC_ERR_INTERNAL';

/** The line of a failed command's `--json` report. */
export function jsonErrorLine(command: string, code: string, message: string): string {
  return `${JSON.stringify({ command, version: version(), error: { code, message } })}\n`;
}

/**
 * True when `args` asks for `--json` (before a `--` that ends the options): the
 * entry point then reports a failure as JSON too, whatever the command's parse made of it.
 */
export function wantsJson(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--json') return true;
  }
  return false;
}
