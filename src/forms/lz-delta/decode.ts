/**
 * The lz-delta decoder (WebAssembly, asm/lz-delta.ts): every distance, shift and length is
 * checked against the window (old‖output so far) and the declared size before a byte is
 * copied, so a hostile delta ends in DELTA_CORRUPT, never in a read outside the buffers;
 * every operation produces at least one byte, so decoding ends after at most the declared
 * size operations. The output grows as it is produced: a declared size is not trusted with an
 * allocation.
 *
 * As JavaScript it took 11-15 ms for jquery.js 1.11.2 in a fresh process (the literal model
 * primed on the 283 kB old file, then a few hundred operations before the JIT had compiled
 * them); as WebAssembly 5-8 ms (the priming, 2.3 million dependent probability updates, was
 * most of it; version 2's counted priming is one increment per byte).
 */
import { ErrorCodes, SyncError, throwIfAborted } from '../../core/errors.js';
import { wasmApi } from '../../core/wasm.js';
import { type LzDeltaExports, lzDeltaInstance } from './instance.js';

/** Output bytes decoded per call into the module, between looks at the abort signal. */
const STEP_BYTES = 1 << 20;

/** Why the module stopped (asm/lz-delta.ts's E_ codes), as DELTA_CORRUPT words it. */
const FAILURES: Record<number, string> = {
  1: 'the coded body is truncated',
  2: 'the coded body does not start with a zero byte',
  3: 'the coded body starts out of range',
  4: 'an operation ends past the declared size',
  5: 'a distance reaches before the start of the old file',
  6: 'bytes follow the end of the coded body',
  7: 'the coded body does not end as it was flushed',
};

/**
 * The `size` bytes the coded body at `delta[bodyStart..]` rebuilds from `old` (its literal
 * model primed by counts when `counted`, version 2); DELTA_CORRUPT for any damage.
 */
export function decodeLzBody(
  old: Uint8Array,
  size: number,
  delta: Uint8Array,
  bodyStart: number,
  counted: boolean,
  signal: AbortSignal | undefined,
): Uint8Array {
  const e = lzDeltaInstance();
  const bodyLength = delta.length - bodyStart;
  const out = run(e, () => {
    const oldAt = e.alloc(old.length);
    const bodyAt = e.alloc(bodyLength);
    const bytes = new Uint8Array(e.memory.buffer);
    bytes.set(old, oldAt);
    bytes.set(delta.subarray(bodyStart), bodyAt);
    e.decodeInit(oldAt, old.length, bodyAt, bodyLength, size, Math.min(size, Math.max(1 << 16, bodyLength * 64)), counted);
    while (e.decodeStep(STEP_BYTES) !== 0) throwIfAborted(signal);
    return e.decodeFinish();
  });
  return new Uint8Array(e.memory.buffer, out, size);
}

/** DELTA_CORRUPT: the delta cannot be applied, and why. */
export function corrupt(state: string): SyncError {
  return new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot apply the delta: ${state}`);
}

function run(e: LzDeltaExports, job: () => number): number {
  try {
    return job();
  } catch (err) {
    if (!(err instanceof wasmApi().RuntimeError)) throw err;
    const reason = FAILURES[e.failure()];
    if (reason === undefined) throw new RangeError('Cannot apply the delta: out of WebAssembly memory');
    throw corrupt(reason);
  }
}
