/**
 * An abortable wait.
 *
 * @module
 */
import { abortError } from '../core/errors.js';
import { builtin } from './builtin.js';

const { setTimeout: delay } = builtin('node:timers/promises');

/** Waits `ms` milliseconds; rejects with ABORTED when `signal` fires. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal === undefined ? undefined : { signal });
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw error;
  }
}
