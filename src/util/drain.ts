/**
 * Waiting for a writable stream's backpressure to clear.
 *
 * @module
 */

/** The wait in progress per stream: every writer waiting on a stream shares it. */
const waits = new WeakMap<object, Promise<void>>();

/**
 * Resolves when a stream can take more data, or has closed or failed (a destroyed stream,
 * or a dead peer, never drains): at once if the stream is already destroyed. Never
 * rejects; the caller's next write finds out what happened. Concurrent callers share one
 * wait (one listener per event), so many writers held up by one stream add no listeners.
 */
export function drainOrClose(stream: NodeJS.EventEmitter & { readonly destroyed?: boolean }): Promise<void> {
  if (stream.destroyed === true) return Promise.resolve();
  const current = waits.get(stream);
  if (current !== undefined) return current;
  const wait = new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      waits.delete(stream);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
  waits.set(stream, wait);
  return wait;
}
