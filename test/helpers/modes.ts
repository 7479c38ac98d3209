/** File-mode helpers shared by the tests of local files. */
import { stat } from 'node:fs/promises';

/** The permission, sticky and set-id bits of `path` (following links). */
export async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o7777;
}

/** Runs `fn` with the process's umask set to `mask`, then puts the old one back. */
export async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}
