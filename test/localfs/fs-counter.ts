/**
 * Counts calls of `node:fs/promises` functions made by the code under test: the
 * functions are wrapped on the module object and `syncBuiltinESMExports` makes the named
 * imports of every module see the wrappers. Deterministic where timing is not: a test
 * asserts how many `lstat` / `mkdir` calls an operation makes.
 */
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';

type Name = 'lstat' | 'mkdir' | 'chmod' | 'utimes' | 'stat' | 'rename' | 'link' | 'copyFile';

/** Calls counted so far, by function. */
export type Counts = Record<Name, number>;

/**
 * Wraps `names` until the returned `restore` is called. With `limit`, a call past that
 * many in all throws (so a quadratic run fails at once instead of running for minutes).
 */
export function countFsCalls(names: readonly Name[], limit = Number.POSITIVE_INFINITY): { counts: Counts; restore: () => void } {
  const counts = { lstat: 0, mkdir: 0, chmod: 0, utimes: 0, stat: 0, rename: 0, link: 0, copyFile: 0 };
  const target = fsp as unknown as Record<Name, (...args: unknown[]) => unknown>;
  const saved = new Map<Name, (...args: unknown[]) => unknown>();
  let total = 0;
  for (const name of names) {
    const original = target[name];
    saved.set(name, original);
    target[name] = (...args: unknown[]) => {
      counts[name]++;
      if (++total > limit) return Promise.reject(new RangeError(`more than ${limit} file system calls`));
      return original(...args);
    };
  }
  syncBuiltinESMExports();
  return {
    counts,
    restore: () => {
      for (const [name, original] of saved) target[name] = original;
      syncBuiltinESMExports();
    },
  };
}
