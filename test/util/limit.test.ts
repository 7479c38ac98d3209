import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { forEachLimit } from '../../src/util/limit.js';

/** A call that finishes when the test says so. */
interface Call {
  item: number;
  finish(): void;
  fail(err: unknown): void;
}

/** forEachLimit over `items` with calls the test finishes one by one; records what runs. */
function controlled(items: readonly number[], limit: number, signal?: AbortSignal) {
  const running: Call[] = [];
  const started: number[] = [];
  let peak = 0;
  const done = forEachLimit(
    items,
    limit,
    (item) =>
      new Promise<void>((resolve, reject) => {
        started.push(item);
        const call: Call = {
          item,
          finish: () => {
            running.splice(running.indexOf(call), 1);
            resolve();
          },
          fail: (err) => {
            running.splice(running.indexOf(call), 1);
            reject(err);
          },
        };
        running.push(call);
        peak = Math.max(peak, running.length);
      }),
    signal,
  );
  return { running, started, done, peak: () => peak };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('forEachLimit calls every item once, never more than `limit` at a time', async () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  const c = controlled(items, 3);
  while (c.started.length < items.length || c.running.length > 0) {
    await turn();
    assert.ok(c.running.length <= 3);
    c.running[0]?.finish();
  }
  await c.done;
  assert.deepEqual(
    [...c.started].sort((a, b) => a - b),
    items,
  );
  assert.equal(c.peak(), 3);
});

test('forEachLimit passes the index, and handles an empty list and a limit above the item count', async () => {
  const seen: [string, number][] = [];
  await forEachLimit(['a', 'b'], 10, async (item, i) => {
    seen.push([item, i]);
  });
  assert.deepEqual(seen.sort(), [
    ['a', 0],
    ['b', 1],
  ]);
  let calls = 0;
  await forEachLimit([], 4, async () => {
    calls++;
  });
  assert.equal(calls, 0);
});

test('the first failure stops new calls and is thrown once the calls in flight have settled', async () => {
  const c = controlled([0, 1, 2, 3, 4, 5], 2);
  let rejected: unknown;
  void c.done.catch((e: unknown) => {
    rejected = e;
  });
  await turn();
  assert.deepEqual(c.started, [0, 1]);
  const first = new Error('first');
  c.running.find((x) => x.item === 0)!.fail(first);
  await turn();
  assert.deepEqual(c.started, [0, 1], 'no new call after the failure');
  assert.equal(rejected, undefined, 'not thrown while a call is in flight');
  c.running[0]!.fail(new Error('second'));
  await assert.rejects(c.done, (e) => e === first);
});

test('an aborted signal stops new calls with the ABORTED error', async () => {
  const ac = new AbortController();
  const c = controlled([0, 1, 2, 3], 1, ac.signal);
  await turn();
  assert.deepEqual(c.started, [0]);
  ac.abort();
  c.running[0]!.finish();
  await assert.rejects(c.done, (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.ABORTED);
  assert.deepEqual(c.started, [0]);
});
