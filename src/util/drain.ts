/**
 * Waiting for a writable stream's backpressure to clear.
 *
 * @module
 */

/** Resolves when a stream can take more data, or has closed (a destroyed stream never drains). */
export function drainOrClose(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
