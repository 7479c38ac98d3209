/**
 * Command-line parsing helpers: misuse is a {@link UsageError} (exit code 2).
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Wrong arguments: printed as one line plus a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/** `parseArgs` in strict mode, with its errors turned into UsageErrors. */
export function parse<O extends Options>(args: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify.*$/s, ''));
  }
}

/** Parses a positive integer option. */
export function intOption(value: string | undefined, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer of at least ${min}, not "${value}"`);
  return n;
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
