/**
 * Waiting for a writable stream's backpressure to clear.
 *
 * @module
 */

/**
 * Resolves when a stream can take more data, or has closed or failed (a destroyed stream,
 * or a dead peer, never drains): at once if the stream is already destroyed. Never
 * rejects; the caller's next write finds out what happened.
 */
export function drainOrClose(stream: NodeJS.EventEmitter & { readonly destroyed?: boolean }): Promise<void> {
  if (stream.destroyed === true) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}
