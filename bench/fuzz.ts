/**
 * The long fuzz run: every decoder that reads remote data (test/fuzz/targets.ts) and the
 * server side of `serve --stdio` fed whole client streams (test/fuzz/session-targets.ts),
 * each with 100,000 mutated inputs by default, each target in a worker thread watched for
 * hangs (no progress for --stall-seconds ends it and reports the inputs in flight).
 *
 *     npm run fuzz                       (build, then 100,000 inputs per decoder)
 *     npx node dist/bench/fuzz.js [--count 100000] [--seed 1] [--jobs 2] [--only <name part>]
 *
 * Prints one row per decoder (inputs, accepted, refused with a SyncError by code,
 * findings, seconds, slowest input, resident memory growth) and every finding (an
 * exception other than SyncError, an input over the time bound, a memory jump), then
 * exits 1 if there was any. An input is replayed from the seed and its number
 * (test/fuzz/engine.ts makeInput).
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { type FuzzResult, fuzz } from '../test/fuzz/engine.js';
import type { FuzzTarget } from '../test/fuzz/engine.js';
import { sessionTargets } from '../test/fuzz/session-targets.js';
import { makeTargets } from '../test/fuzz/targets.js';

/** Every target: the decoders, then the server sessions. */
async function allTargets(dir: string): Promise<FuzzTarget[]> {
  return [...(await makeTargets(dir)), ...(await sessionTargets(dir))];
}

interface Job {
  target: string;
  count: number;
  seed: number;
  timeBoundMs: number;
}

type Message = { progress: number } | { result: FuzzResult } | { error: string };

async function worker(job: Job): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-fuzz-'));
  try {
    const target = (await allTargets(dir)).find((t) => t.name === job.target);
    if (!target) throw new Error(`no target ${job.target}`);
    const result = await fuzz(target, {
      count: job.count,
      seed: job.seed,
      timeBoundMs: job.timeBoundMs,
      onProgress: (done) => parentPort!.postMessage({ progress: done } satisfies Message),
    });
    parentPort!.postMessage({ result } satisfies Message);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs one target in a worker; a stall is reported as a hang finding. */
function runJob(job: Job, stallMs: number): Promise<FuzzResult> {
  return new Promise((resolve) => {
    const w = new Worker(new URL(import.meta.url), { workerData: job });
    let done = 0;
    let last = performance.now();
    const started = performance.now();
    let settled = false;
    const finish = (r: FuzzResult): void => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      resolve(r);
    };
    const failed = (detail: string, kind: 'exception' | 'slow'): FuzzResult => ({
      target: job.target,
      inputs: done,
      accepted: 0,
      refused: {},
      findings: [{ target: job.target, kind, input: done, detail, hex: '', length: 0 }],
      distinct: { [detail]: 1 },
      seconds: (performance.now() - started) / 1000,
      slowestMs: 0,
      rssGrowth: 0,
    });
    const watch = setInterval(() => {
      if (performance.now() - last > stallMs) {
        void w.terminate();
        finish(failed(`no progress for ${stallMs / 1000} s after input ${done}: a hang in inputs ${done}..${done + 499}`, 'slow'));
      }
    }, 1000);
    w.on('message', (m: Message) => {
      last = performance.now();
      if ('progress' in m) done = m.progress;
      else if ('result' in m) finish(m.result);
      else finish(failed(m.error, 'exception'));
    });
    w.on('error', (err) => finish(failed(`the worker failed: ${String(err?.stack ?? err)}`, 'exception')));
    w.on('exit', (code) => finish(failed(`the worker exited (${code}) after input ${done}`, 'exception')));
  });
}

function row(r: FuzzResult): string {
  const refused = Object.values(r.refused).reduce((a, b) => a + b, 0);
  const codes = Object.entries(r.refused)
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c.replace('GOSYNC_ERR_', '')} ${n}`)
    .join(', ');
  const findings = Object.values(r.distinct).reduce((a, b) => a + b, 0);
  return `| ${r.target} | ${r.inputs.toLocaleString('en')} | ${r.accepted.toLocaleString('en')} | ${refused.toLocaleString('en')} (${codes}) | ${findings} | ${r.seconds.toFixed(1)} | ${r.slowestMs.toFixed(1)} | ${(r.rssGrowth / 1048576).toFixed(0)} |`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '100000' },
      seed: { type: 'string', default: '1' },
      jobs: { type: 'string', default: '2' },
      only: { type: 'string' },
      'time-bound-ms': { type: 'string', default: '2000' },
      'stall-seconds': { type: 'string', default: '120' },
    },
  });
  const dir = await mkdtemp(join(tmpdir(), 'gosync-fuzz-list-'));
  const names = await allTargets(dir)
    .then((ts) => ts.map((t) => t.name).filter((n) => values.only === undefined || n.includes(values.only)))
    .finally(() => rm(dir, { recursive: true, force: true }));
  const jobs: Job[] = names.map((target) => ({
    target,
    count: Number(values.count),
    seed: Number(values.seed),
    timeBoundMs: Number(values['time-bound-ms']),
  }));
  const started = performance.now();
  const results: FuzzResult[] = new Array(jobs.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Number(values.jobs)) }, async () => {
    while (next < jobs.length) {
      const k = next++;
      const r = await runJob(jobs[k]!, Number(values['stall-seconds']) * 1000);
      results[k] = r;
      console.error(
        `${r.target}: ${r.inputs} inputs, ${Object.values(r.distinct).reduce((a, b) => a + b, 0)} findings, ${r.seconds.toFixed(1)} s`,
      );
    }
  });
  await Promise.all(lanes);
  console.log(`seed ${values.seed}, ${values.count} inputs per decoder, time bound ${values['time-bound-ms']} ms per input`);
  console.log('');
  console.log('| decoder | inputs | accepted | refused (SyncError codes) | findings | seconds | slowest input (ms) | RSS growth (MiB) |');
  console.log('|---|---:|---:|---|---:|---:|---:|---:|');
  for (const r of results) console.log(row(r));
  const findings = results.flatMap((r) => r.findings);
  console.log('');
  console.log(
    `${findings.length === 0 ? 'no findings' : `${findings.length} findings kept`}; ${((performance.now() - started) / 1000).toFixed(0)} s in all`,
  );
  for (const r of results) {
    for (const [shape, n] of Object.entries(r.distinct)) console.log(`- ${r.target}: ${n} × ${shape}`);
  }
  for (const f of findings) console.log(`\n${f.target} #${f.input} (${f.kind}, ${f.length} bytes): ${f.detail}\n${f.hex}`);
  return findings.length === 0 ? 0 : 1;
}

if (isMainThread) process.exitCode = await main();
else
  await worker(workerData as Job).catch((err: unknown) =>
    parentPort!.postMessage({ error: String((err as Error)?.stack ?? err) } satisfies Message),
  );
