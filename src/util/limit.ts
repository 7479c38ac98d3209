/**
 * Bounded concurrency: run an async function over items, at most `limit` at a time.
 *
 * @module
 */
import { throwIfAborted } from '../core/errors.js';

/**
 * Calls `fn` for every item with at most `limit` calls in flight. The first failure stops
 * new calls; it is thrown once the calls in flight have settled.
 */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        throwIfAborted(signal);
        await fn(items[i]!, i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed.err;
}
