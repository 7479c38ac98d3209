/**
 * `kill -9` in the middle of a single-file patch, again and again, then one rerun.
 *
 *     npx tsc -p tsconfig.json && npx node dist/bench/kill-resume.js [--size-mib 100] [--kills 10] [--rate 20M]
 *
 * The reference (100 MiB by default: a third of it in 1 MiB pieces of the local version,
 * the rest new) is served by the embedded server; `gosync patch --raw --bwlimit <rate>`
 * runs as a child process and is killed with SIGKILL at a random point of its transfer
 * (kill k once its output reached a random size in the k-th tenth of the file, plus up
 * to 0.5 s; every fifth run at a random time from its start instead), never once the last 4 MiB of its output is being written, so
 * no run finishes. After each kill the target must be
 * the old version. Then `gosync diff` in-process says what no local file and no stopped
 * run's temporary file holds ("missing"), and one rerun must produce the reference,
 * leave no temporary file, and move at most missing + 10% (response bodies counted by
 * the server, the index excluded). Prints the figures and exits 1 when a target fails.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeIndex } from '../src/core/index/format.js';
import { buildIndexFile } from '../src/file/build-file.js';
import { diffFile } from '../src/file/patch-file.js';
import { isTempNameOf } from '../src/localfs/staging.js';
import { startStaticServer } from '../src/serve/static-server.js';
import { randomBytes } from '../test/helpers/data.js';

const CLI = fileURLToPath(new URL('../bundle/cli/main.cjs', import.meta.url));
const MIB = 1024 * 1024;
/** The patcher writes its output in pieces of 4 MiB. */
const STEP = 4 * MIB;

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '100' },
    kills: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20M' },
  },
});
const size = Number(values['size-mib']) * MIB;
const kills = Number(values.kills);

const sha = (d: Uint8Array): string => createHash('sha256').update(d).digest('hex');
const fileSha = async (p: string): Promise<string> => sha(await readFile(p));

/** A third of the pieces from the old version, the rest new. */
function versions(): { oldData: Uint8Array; newData: Uint8Array } {
  const oldData = randomBytes(size, 31);
  const newData = new Uint8Array(size);
  const fresh = randomBytes(size, 32);
  for (let p = 0, i = 0; p < size; p += MIB, i++) {
    const end = Math.min(size, p + MIB);
    newData.set((i % 3 === 0 ? oldData : fresh).subarray(p, end), p);
  }
  return { oldData, newData };
}

async function temps(folder: string): Promise<{ name: string; size: number }[]> {
  const out: { name: string; size: number }[] = [];
  for (const name of (await readdir(folder)).filter((n) => isTempNameOf(n, 'app.bin'))) {
    const st = await stat(join(folder, name)).catch(() => undefined);
    if (st) out.push({ name, size: st.size });
  }
  return out;
}

function run(args: string[]): { child: ChildProcess; exit: Promise<number | null>; out: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { child, exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))), out: () => out };
}

async function main(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-kill-resume-'));
  const pub = join(dir, 'pub');
  const folder = join(dir, 'local');
  await mkdir(pub);
  await mkdir(folder);
  const { oldData, newData } = versions();
  await writeFile(join(pub, 'app.bin'), newData);
  await buildIndexFile(join(pub, 'app.bin'), join(pub, 'app.bin.gosync'));
  const index = decodeIndex(await readFile(join(pub, 'app.bin.gosync')));
  const local = join(folder, 'app.bin');
  await writeFile(local, oldData);
  const oldSha = sha(oldData);
  const server = await startStaticServer({ root: pub });
  const url = `${server.url}app.bin.gosync`;
  let failures = 0;
  const started = performance.now();
  try {
    const initial = await diffFile({ local, index });
    console.log(`reference ${size} B, block ${index.blockSize} B; missing before any run: ${initial.fetchBytes} B; rate ${values.rate}/s`);
    for (let k = 1; k <= kills; k++) {
      const known = (await temps(folder)).map((t) => t.name);
      const p = run(['patch', local, url, '--raw', '--bwlimit', values.rate, '-q']);
      let ended = false;
      void p.exit.then(() => {
        ended = true;
      });
      // Most kills land at a random point of the transfer: once the run's temporary file
      // holds a random number of bytes, a random moment later (the output grows by 4 MiB
      // steps). Every fifth lands at a random time from the start, often before the
      // temporary file exists (during the scan). No run may write its last step.
      const early = k % 5 === 0;
      // Kill k lands in the k-th tenth of the output (a random point in it), so the kills
      // spread over the whole patch instead of one late kill leaving little for the rest.
      const bytes = Math.floor(((k - 1 + Math.random()) / kills) * (size - STEP));
      const extra = Math.floor(Math.random() * 500);
      const t0 = performance.now();
      let reached: number | undefined;
      for (;;) {
        if (ended) break;
        const now = performance.now();
        if (early && now - t0 >= extra * 6) break;
        const own = (await temps(folder)).filter((t) => !known.includes(t.name));
        if (own.some((t) => t.size >= size - STEP)) break;
        if (!early && reached === undefined && own.some((t) => t.size >= bytes)) reached = now;
        if (reached !== undefined && now - reached >= extra) break;
        await sleep(5);
      }
      const at = Math.round(performance.now() - t0);
      const written = (await temps(folder)).filter((t) => !known.includes(t.name)).reduce((a, t) => a + t.size, 0);
      p.child.kill('SIGKILL');
      const code = await p.exit;
      const unchanged = (await fileSha(local)) === oldSha;
      if (!unchanged || code !== null) failures++;
      const left = await temps(folder);
      console.log(
        `kill ${k}: ${early ? `early, at ${extra * 6} ms` : `${extra} ms after its output reached ${bytes} B`} (${at} ms after the start; ${written} B written), ` +
          `exit ${code}, target ${unchanged ? 'unchanged' : 'CHANGED'}, temporary files ${left.map((t) => t.size).join(' + ') || 'none'} B`,
      );
    }
    const before = await diffFile({ local, index });
    const bodyBefore = server.stats.bodyBytes;
    const t1 = performance.now();
    const rerun = run(['patch', local, url, '--raw', '--json', '-q']);
    const code = await rerun.exit;
    const seconds = (performance.now() - t1) / 1000;
    const report = JSON.parse(rerun.out() || '{}') as { indexBytes?: number; fetchedBytes?: number; receivedBytes?: number };
    const moved = server.stats.bodyBytes - bodyBefore - (report.indexBytes ?? 0);
    const exact = (await fileSha(local)) === sha(newData);
    const left = await temps(folder);
    const bound = before.fetchBytes * 1.1;
    console.log(
      `rerun: exit ${code}, ${seconds.toFixed(2)} s, output ${exact ? 'exact' : 'WRONG'}, temporary files left ${left.length}; ` +
        `still missing ${before.fetchBytes} B (${before.files.length - 1} stale temporary files read), moved ${moved} B ` +
        `(${before.fetchBytes > 0 ? ((100 * moved) / before.fetchBytes).toFixed(1) : '-'}% of missing; bound ${Math.floor(bound)} B), ` +
        `index ${report.indexBytes ?? '?'} B`,
    );
    if (code !== 0 || !exact || left.length > 0 || moved > bound) failures++;
    console.log(`${failures === 0 ? 'PASS' : 'FAIL'} (${((performance.now() - started) / 1000).toFixed(1)} s in all)`);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
