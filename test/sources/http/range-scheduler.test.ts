import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Piece, RangeScheduler, type Job, type SchedulerPolicy } from '../../../src/sources/http/range-scheduler.js';
import { testBytes } from '../../helpers/fault-server.js';

const data = testBytes(10_000, 3);

function pieces(count: number, size: number, gap = 0): Piece[] {
  return Array.from({ length: count }, (_, i) => new Piece(i * (size + gap), i * (size + gap) + size));
}

function expected(list: readonly Piece[]): Buffer {
  return Buffer.concat(list.map((p) => data.subarray(p.start, p.end)));
}

async function collect(scheduler: RangeScheduler, onChunk?: () => Promise<void>): Promise<Buffer> {
  const out: Buffer[] = [];
  try {
    for await (const chunk of scheduler.chunks()) {
      out.push(Buffer.from(chunk));
      await onChunk?.();
    }
  } finally {
    await scheduler.close();
  }
  return Buffer.concat(out);
}

/** A policy whose jobs take `perJob` pieces and write them in two halves, the later job finishing first. */
function policy(
  overrides: Partial<SchedulerPolicy> & { perJob?: number; jobs?: Job[]; running?: { now: number; max: number } } = {},
): SchedulerPolicy {
  const running = overrides.running ?? { now: 0, max: 0 };
  return {
    concurrency: overrides.concurrency ?? 3,
    maxBytesInFlight: overrides.maxBytesInFlight ?? 1 << 20,
    plan: overrides.plan ?? ((all, first) => ({ count: Math.min(overrides.perJob ?? 1, all.length - first), streaming: false })),
    run:
      overrides.run ??
      (async (job) => {
        overrides.jobs?.push(job);
        running.max = Math.max(running.max, ++running.now);
        try {
          const { start, end } = job.span();
          await delay(((10_000 - start) % 7) + 1, undefined, { signal: job.signal });
          const mid = (start + end) >> 1;
          job.write(mid, data.subarray(mid, end)); // out of order: second half first (not contiguous: ignored)
          job.write(start, data.subarray(start, mid));
          job.write(mid, data.subarray(mid, end));
        } finally {
          running.now--;
        }
      }),
  };
}

describe('RangeScheduler', () => {
  it('delivers every piece in order although jobs finish out of order', async () => {
    const list = pieces(20, 100, 37);
    const out = await collect(new RangeScheduler(list, policy({ perJob: 3 })));
    assert.deepEqual(out, expected(list));
  });

  it('runs at most `concurrency` jobs at once', async () => {
    const running = { now: 0, max: 0 };
    const list = pieces(30, 50);
    await collect(new RangeScheduler(list, policy({ concurrency: 4, running })));
    assert.equal(running.max, 4);
  });

  it('does not start a job whose bytes would pass the budget while others are buffered', async () => {
    const running = { now: 0, max: 0 };
    const list = pieces(20, 100);
    const scheduler = new RangeScheduler(list, policy({ concurrency: 10, maxBytesInFlight: 250, running }));
    let peak = 0;
    const out = await collect(scheduler, async () => {
      peak = Math.max(peak, scheduler.reservedBytes);
      await delay(1);
    });
    assert.deepEqual(out, expected(list));
    assert.ok(running.max <= 2, `ran ${running.max} jobs at once`);
    assert.ok(peak <= 250, `reserved ${peak} bytes`);
  });

  it('still runs a job larger than the budget when nothing else is in flight', async () => {
    const running = { now: 0, max: 0 };
    const list = pieces(5, 300);
    const out = await collect(new RangeScheduler(list, policy({ concurrency: 4, maxBytesInFlight: 10, running })));
    assert.deepEqual(out, expected(list));
    assert.equal(running.max, 1);
  });

  it('rejects with the first job failure and aborts the other jobs', async () => {
    const jobs: Job[] = [];
    const failing = policy({ jobs });
    const scheduler = new RangeScheduler(pieces(10, 10), {
      ...failing,
      run: async (job) => {
        if (job.span().start === 20) throw new Error('boom');
        await failing.run(job);
      },
    });
    await assert.rejects(collect(scheduler), /boom/);
    assert.ok(jobs.length > 0 && jobs.every((job) => job.signal.aborted));
  });

  it('cancels running jobs when the consumer stops early', async () => {
    let started = 0;
    let cancelled = 0;
    const scheduler = new RangeScheduler(pieces(10, 10), {
      ...policy(),
      run: async (job) => {
        started++;
        const { start, end } = job.span();
        if (start === 0) return void job.write(0, data.subarray(0, end));
        await new Promise<void>((_, reject) =>
          job.signal.addEventListener('abort', () => {
            cancelled++;
            reject(new Error('aborted'));
          }),
        );
      },
    });
    for await (const chunk of scheduler.chunks()) {
      assert.equal(chunk.length, 10);
      break;
    }
    await scheduler.close();
    assert.ok(started >= 2);
    assert.equal(cancelled, started - 1);
  });

  it('does not abort a job whose bytes are all in when the read ends (its response may still be finishing)', async () => {
    const signals: AbortSignal[] = [];
    let finishTail!: () => void;
    const tail = new Promise<void>((resolve) => (finishTail = resolve));
    const scheduler = new RangeScheduler(pieces(4, 10), {
      ...policy({ concurrency: 4 }),
      run: async (job) => {
        signals.push(job.signal);
        const { start, end } = job.span();
        job.write(start, data.subarray(start, end));
        // Complete, but the "response" goes on (a closing boundary still coming in).
        await tail;
      },
    });
    const chunks: Buffer[] = [];
    for await (const chunk of scheduler.chunks()) chunks.push(Buffer.from(chunk));
    assert.deepEqual(Buffer.concat(chunks), expected(pieces(4, 10)));
    const closed = scheduler.close();
    assert.equal(scheduler.signal.aborted, true);
    assert.ok(signals.length === 4 && signals.every((signal) => !signal.aborted));
    finishTail();
    await closed;
  });

  it('aborts only the incomplete jobs when a job fails', async () => {
    const byStart = new Map<number, AbortSignal>();
    const scheduler = new RangeScheduler(pieces(3, 10), {
      ...policy({ concurrency: 3 }),
      run: async (job) => {
        const { start, end } = job.span();
        byStart.set(start, job.signal);
        if (start === 0) {
          job.write(0, data.subarray(0, end));
          await delay(20);
          return;
        }
        if (start === 10) {
          await delay(5);
          throw new Error('boom');
        }
        await new Promise<void>((_, reject) => job.signal.addEventListener('abort', () => reject(new Error('aborted'))));
      },
    });
    await assert.rejects(collect(scheduler), /boom/);
    assert.equal(byStart.get(0)!.aborted, false, 'the complete job is left alone');
    assert.equal(byStart.get(20)!.aborted, true);
  });

  it('makes a streaming job wait for room instead of buffering past the budget', async () => {
    const list = pieces(50, 100);
    let maxBuffered = 0;
    const scheduler = new RangeScheduler(list, {
      concurrency: 2,
      maxBytesInFlight: 300,
      plan: (all, first) => ({ count: all.length - first, streaming: true }),
      run: async (job) => {
        for (let at = 0; at < 5000; at += 50) {
          job.write(at, data.subarray(at, at + 50));
          maxBuffered = Math.max(maxBuffered, job.buffered);
          await job.waitForRoom();
        }
      },
    });
    const out = await collect(scheduler, () => delay(0));
    assert.deepEqual(out, expected(list));
    assert.ok(maxBuffered <= 350, `buffered ${maxBuffered} bytes`);
  });

  it('rejects at once with ABORTED when the signal fires', async () => {
    const controller = new AbortController();
    const scheduler = new RangeScheduler(
      pieces(3, 10),
      { ...policy(), run: (job) => new Promise((_, reject) => job.signal.addEventListener('abort', () => reject(new Error('x')))) },
      controller.signal,
    );
    setTimeout(() => controller.abort(), 5);
    await assert.rejects(collect(scheduler), { code: 'GOSYNC_ERR_ABORTED' });
  });
});
