/**
 * The host matrix over an emulated WAN link: the same two patches (a binary-like update, a
 * file with ~400 scattered edits) through each host behaviour of test/helpers/host-proxy.ts
 * (in front of nginx), with the WAN proxy (bench/wan-proxy.ts, 25 ms each way, 100 Mbit/s)
 * between the client and the host. Prints, per behaviour and file: seconds (median of
 * `--runs`), body bytes the host sent, requests, and the ratios to nginx.
 *
 * `node dist/bench/hosts.js [--runs 3] [--only github,python] [--no-wan] [--connections n]`
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HOST_BEHAVIOURS, type HostBehaviour, startHostProxy } from '../test/helpers/host-proxy.js';
import { scatteredEdits, binaryUpdate } from '../test/helpers/host-data.js';
import { startNginx } from '../test/helpers/nginx.js';
import { startWanProxy } from './wan-proxy.js';
import { HttpSource } from '../src/sources/http/http-source.js';

/**
 * `--fetch`: only the fetch of the raw ranges a patch needs (from `gosync diff --json`),
 * through each host over the WAN link, runs interleaved across hosts, so that the load of a
 * shared machine hits every host alike. Prints the median seconds and the bytes.
 */
async function fetchOnly(pairs: readonly { name: string; old: Uint8Array }[], port: number, dir: string): Promise<void> {
  const hosts = HOST_BEHAVIOURS.filter((b) => b === 'nginx' || only === undefined || only.includes(b));
  const proxies = await Promise.all(
    hosts.map(async (behaviour) => {
      const host = await startHostProxy({ target: { port }, behaviour });
      const wan = await startWanProxy({ target: { port: host.port } });
      return { behaviour, host, wan };
    }),
  );
  for (const p of pairs) {
    const local = join(dir, `diff-${p.name}.bin`);
    await writeFile(local, p.old);
    const diff = await run(['diff', local, join(dir, 'www', `${p.name}.bin.gosync`), '--json', '-q']);
    const ranges = (JSON.parse(diff.stdout) as { rangeList: [number, number][] }).rangeList.map(([start, end]) => ({ start, end }));
    const times = new Map<string, number[]>();
    const bytes = new Map<string, number>();
    for (let r = 0; r < runs; r++) {
      for (const { behaviour, host, wan } of proxies) {
        host.reset();
        const source = new HttpSource(`${wan.url}${p.name}.bin`, values.connections ? { connections: Number(values.connections) } : {});
        const started = performance.now();
        for await (const _ of source.read(ranges));
        const seconds = (performance.now() - started) / 1000;
        await source.close();
        times.set(behaviour, [...(times.get(behaviour) ?? []), seconds]);
        bytes.set(behaviour, host.bodyBytes());
      }
    }
    const median = (b: string) => {
      const t = [...times.get(b)!].sort((x, y) => x - y);
      return t[Math.floor(t.length / 2)]!;
    };
    for (const { behaviour } of proxies) {
      process.stdout.write(
        `fetch ${behaviour.padEnd(12)} ${p.name.padEnd(10)} ${ranges.length} ranges  ${median(behaviour).toFixed(3)} s (x${(median(behaviour) / median('nginx')).toFixed(2)})  ` +
          `${bytes.get(behaviour)} B (x${(bytes.get(behaviour)! / bytes.get('nginx')!).toFixed(2)})\n`,
      );
    }
  }
  for (const { host, wan } of proxies) {
    await wan.close();
    await host.close();
  }
}

const CLI = fileURLToPath(new URL('../bundle/cli/main.cjs', import.meta.url));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      done({ code: err ? 1 : 0, stdout, stderr }),
    );
  });
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    only: { type: 'string' },
    'no-wan': { type: 'boolean' },
    connections: { type: 'string' },
    raw: { type: 'boolean' },
    fetch: { type: 'boolean' },
  },
});
const runs = Number(values.runs ?? 3);
const only = values.only?.split(',') as HostBehaviour[] | undefined;
const dir = await mkdtemp(join(tmpdir(), 'gosync-hosts-'));
try {
  const www = join(dir, 'www');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(www);
  const pairs = [
    { name: 'binary', ...binaryUpdate() },
    { name: 'scattered', ...scatteredEdits() },
  ];
  for (const p of pairs) {
    await writeFile(join(www, `${p.name}.bin`), p.next);
    const built = await run(['build', join(www, `${p.name}.bin`), '-q']);
    if (built.code !== 0) throw new Error(built.stderr);
  }
  const nginx = await startNginx(www);
  if (nginx === undefined) throw new Error('nginx is not installed');
  if (values.fetch) {
    await fetchOnly(pairs, nginx.port, dir);
    await nginx.close();
    process.exit(0);
  }
  const results: Record<string, { seconds: number; bytes: number; requests: number; ok: boolean }> = {};
  for (const behaviour of HOST_BEHAVIOURS) {
    if (only !== undefined && behaviour !== 'nginx' && !only.includes(behaviour)) continue;
    const host = await startHostProxy({ target: { port: nginx.port }, behaviour });
    const wan = values['no-wan'] ? undefined : await startWanProxy({ target: { port: host.port } });
    const base = wan?.url ?? host.url;
    for (const p of pairs) {
      const times: number[] = [];
      let bytes = 0;
      let requests = 0;
      let ok = true;
      for (let r = 0; r < runs; r++) {
        const local = join(dir, `${behaviour}-${p.name}.bin`);
        await writeFile(local, p.old);
        host.reset();
        const args = ['patch', local, `${base}${p.name}.bin.gosync`, '--json', '-q'];
        if (values.connections) args.push('-c', values.connections);
        if (values.raw) args.push('--raw');
        const started = performance.now();
        const result = await run(args);
        times.push((performance.now() - started) / 1000);
        ok &&= result.code === 0 && Buffer.from(p.next).equals(await readFile(local));
        if (result.code !== 0) process.stderr.write(`${behaviour} ${p.name}: ${result.stderr}\n`);
        bytes = host.bodyBytes();
        requests = host.log.length;
        if (process.env.HOSTS_LOG)
          for (const e of host.log) process.stderr.write(`${e.method} ${e.path} ${e.range?.slice(0, 60)} ${e.status} ${e.bodyBytes}\n`);
      }
      times.sort((a, b) => a - b);
      const seconds = times[Math.floor(times.length / 2)]!;
      results[`${behaviour}/${p.name}`] = { seconds, bytes, requests, ok };
      const ref = results[`nginx/${p.name}`]!;
      process.stdout.write(
        `${behaviour.padEnd(12)} ${p.name.padEnd(10)} ${ok ? 'exact' : 'WRONG'} ${seconds.toFixed(2)} s (x${(seconds / ref.seconds).toFixed(2)})  ` +
          `${bytes} B (x${(bytes / ref.bytes).toFixed(2)}; file ${p.next.length})  ${requests} requests\n`,
      );
    }
    await wan?.close();
    await host.close();
  }
  await nginx.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
