import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { drainOrClose } from '../../src/util/drain.js';

/** An emitter standing for a stream, with the `destroyed` flag drainOrClose reads. */
class FakeStream extends EventEmitter {
  destroyed = false;
}

/** True once `p` has settled, checked after the pending callbacks of this turn ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

for (const event of ['drain', 'close', 'error'] as const) {
  test(`drainOrClose resolves on '${event}' and stops listening`, async () => {
    const s = new FakeStream();
    const waiting = drainOrClose(s);
    assert.equal(await settled(waiting), false, 'it waits while nothing happened');
    assert.equal(s.listenerCount('drain') + s.listenerCount('close') + s.listenerCount('error'), 3);
    s.emit(event, event === 'error' ? new Error('boom') : undefined);
    assert.equal(await settled(waiting), true);
    assert.equal(s.listenerCount('drain') + s.listenerCount('close') + s.listenerCount('error'), 0, 'no listener is left behind');
  });
}

test('drainOrClose resolves at once for a destroyed stream', async () => {
  const s = new FakeStream();
  s.destroyed = true;
  assert.equal(await settled(drainOrClose(s)), true);
  assert.equal(s.listenerCount('drain'), 0);
});

test('drainOrClose waits for a real stream to drain, and never rejects when it fails', async () => {
  const pending: (() => void)[] = [];
  const w = new Writable({
    highWaterMark: 4,
    write(_chunk, _enc, cb) {
      pending.push(cb);
    },
  });
  assert.equal(w.write(Buffer.alloc(10)), false);
  const waiting = drainOrClose(w);
  assert.equal(await settled(waiting), false);
  pending.shift()!();
  await waiting;
  // Full again, then destroyed with an error: resolved, not rejected.
  w.on('error', () => {});
  assert.equal(w.write(Buffer.alloc(10)), false);
  const failing = drainOrClose(w);
  w.destroy(new Error('peer gone'));
  await failing;
});

test('writers waiting on one stream at once share one wait: no listener per writer (no MaxListenersExceededWarning)', async () => {
  const s = new FakeStream();
  const waiting = Array.from({ length: 50 }, () => drainOrClose(s));
  assert.equal(s.listenerCount('drain'), 1);
  assert.equal(s.listenerCount('close'), 1);
  assert.equal(s.listenerCount('error'), 1);
  s.emit('drain');
  await Promise.all(waiting);
  assert.equal(s.listenerCount('drain'), 0);
  // The next wait is a new one: it waits for the next 'drain'.
  const next = drainOrClose(s);
  assert.equal(await settled(next), false);
  s.emit('drain');
  assert.equal(await settled(next), true);
});
