/**
 * Case 12: HTTP/2 against HTTP/1.1 over HTTPS through the emulated WAN link (bench/wan-proxy.ts,
 * a TCP proxy, so TLS crosses it as bytes: 25 ms each way, 100 Mbit/s shared), nginx with a
 * self-signed certificate (`listen … ssl http2`) trusted through createHttpDispatcher's `ca`.
 * Two updates: the large binary of case 6 (raw ranges, and the plan the index's forms allow),
 * and a 32 MiB binary-like file with 400 scattered edits (many small ranges: round trips
 * dominate), also with one range per request and 64 requests in flight, as on hosts without
 * multi-range. Each client is a small process (this file run as a script) that differs only
 * in the dispatcher: HTTP/1.1 over as many connections as requests in flight, HTTP/2 with the
 * same requests as streams of one connection, with gosync's flow-control windows and with
 * undici's default ones.
 *
 * As a script: `node dist/bench/cases-http2.js --local <old> --index <url> --out <path>
 * --ca <pem> --protocol h1|h2|h2-undici-windows [--raw] [--single]` prints the patch report
 * as JSON.
 *
 * @module
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Dispatcher } from 'undici';
import { loadIndex, resolveReference } from '../src/file/load-index.js';
import { patchArchive } from '../src/file/patch-archive.js';
import { createHttpDispatcher } from '../src/sources/http/dispatcher.js';
import { HttpSource } from '../src/sources/http/http-source.js';
import { scatteredEdits } from '../test/helpers/host-data.js';
import { startTlsNginx } from '../test/integration/http2-nginx.js';
import { checkOutput, gosyncOnce, hasPeer, removeQuietly, type Ctx } from './context.js';
import { LARGE_PAIR, pairLabel, preparePair } from './npm-pairs.js';
import { loadNote, newSection, type Section } from './report.js';
import { fmtInt, fmtRatio, fmtSec, measure, warmCache, type Spec } from './util.js';
import { startWanProxy } from './wan-proxy.js';

const DELAY_MS = 25;
const RATE = 100e6;
const SELF = new URL(import.meta.url).pathname;

interface Client {
  readonly protocol: 'h1' | 'h2' | 'h2-undici-windows';
  readonly name: string;
  /** One range per request, 64 requests in flight (as on hosts without multi-range). */
  readonly single?: boolean;
}

const CLIENTS: readonly Client[] = [
  { protocol: 'h1', name: 'HTTP/1.1, 4 connections (4 requests in flight)' },
  { protocol: 'h2', name: "HTTP/2, 1 connection (4 streams), gosync's windows (16 MiB / 4 MiB)" },
  { protocol: 'h2-undici-windows', name: "HTTP/2, 1 connection (4 streams), undici's default windows (512 KiB / 256 KiB)" },
];
const SINGLE_CLIENTS: readonly Client[] = [
  { protocol: 'h1', name: 'HTTP/1.1, single ranges, 64 connections (64 requests in flight)', single: true },
  { protocol: 'h2', name: 'HTTP/2, single ranges, 1 connection (64 streams)', single: true },
];

/** One table: a pair patched by each client. */
interface Group {
  readonly title: string;
  readonly old: string;
  readonly next: string;
  /** The index path under the served folder. */
  readonly index: string;
  readonly raw: boolean;
  readonly clients: readonly Client[];
}

/** The parts of the case: the large binary (`bun`), and a file with scattered edits (`scattered`). */
export async function caseHttp2(ctx: Ctx, parts: readonly string[] = ['bun', 'scattered']): Promise<Section> {
  const s = newSection('http2', '12. HTTP/2 against HTTP/1.1 over HTTPS through the emulated WAN link (50 ms RTT, 100 Mbit/s shared)');
  if (!ctx.server || !hasPeer(ctx, 'npm')) {
    s.notes.push('Skipped: needs nginx and npm.');
    return s;
  }
  const groups: Group[] = [];
  const intro: string[] = [];
  if (parts.includes('bun')) {
    const p = await preparePair(ctx, LARGE_PAIR);
    intro.push(`${pairLabel(LARGE_PAIR)} (${fmtInt(p.nextSize)} B)`);
    const index = `npm/${LARGE_PAIR.name}.gosync`;
    groups.push({ title: `${LARGE_PAIR.name}, raw ranges`, old: p.old, next: p.next, index, raw: true, clients: CLIENTS });
    groups.push({ title: `${LARGE_PAIR.name}, forms`, old: p.old, next: p.next, index, raw: false, clients: CLIENTS });
  }
  if (parts.includes('scattered')) {
    const dir = join(ctx.www, 'http2');
    await mkdir(dir, { recursive: true });
    const pair = scatteredEdits(32 << 20, 400, 21);
    const old = join(ctx.work, 'scattered.old');
    const next = join(dir, 'scattered.bin');
    await writeFile(old, pair.old);
    await writeFile(next, pair.next);
    await gosyncOnce(['build', '-q', '--no-compress', next]);
    intro.push('a 32 MiB binary-like file with 400 scattered edits (test/helpers/host-data.ts, raw ranges)');
    const index = 'http2/scattered.bin.gosync';
    groups.push({ title: 'scattered edits', old, next, index, raw: true, clients: CLIENTS.slice(0, 2) });
    groups.push({ title: 'scattered edits, single ranges', old, next, index, raw: true, clients: SINGLE_CLIENTS });
  }
  const nginx = await startTlsNginx(ctx.www, { http2: true });
  if (!nginx) {
    s.notes.push('Skipped: needs openssl.');
    return s;
  }
  const proxy = await startWanProxy({ target: { port: nginx.port }, delayMs: DELAY_MS, rateBitsPerSecond: RATE });
  s.intro.push(
    `Pairs: ${intro.join('; ')}. nginx serves \`.bench/www\` over TLS (\`listen … ssl http2\`, a self-signed P-256 certificate made by openssl); ` +
      `\`bench/wan-proxy.ts\` relays the TLS bytes (${DELAY_MS} ms each way, 100 Mbit/s per direction for all connections together). ` +
      'Each client is this file run as a script: loadIndex, HttpSource and patchArchive as `gosync patch` calls them (4 requests in flight, the default, unless said), ' +
      "with `createHttpDispatcher({ ca, http2 })` (HTTP/2 offered by ALPN; nginx's log says which protocol each request used). " +
      `Median of ${ctx.opts.runs} timed runs per client after one warm-up run, interleaved. ${loadNote()}`,
  );
  const out = join(ctx.work, 'http2.out');
  let mark = 0;
  const prep = async (): Promise<void> => {
    await removeQuietly(out);
    mark = (await nginx.entries()).length;
    proxy.reset();
  };
  const specs: Spec[] = [];
  for (const group of groups) {
    for (const client of group.clients) {
      specs.push({
        name: `${group.title}: ${client.name}`,
        cmd: process.execPath,
        args: [
          SELF,
          ...['--local', group.old, '--index', `https://127.0.0.1:${proxy.port}/${group.index}`, '--out', out],
          ...['--ca', nginx.certPath, '--protocol', client.protocol],
          ...(group.raw ? ['--raw'] : []),
          ...(client.single ? ['--single'] : []),
        ],
        prep,
        after: async (_r, i) => {
          if (i <= 0) await checkOutput(client.name, out, group.next);
          const entries = (await nginx.entries()).slice(mark);
          const w = proxy.stats();
          return {
            wire: entries.reduce((sum, e) => sum + e.bodyBytesSent, 0),
            requests: entries.length,
            h2: entries.filter((e) => e.protocol === 'HTTP/2.0').length,
            down: w.down,
            conns: w.connections,
          };
        },
      });
    }
  }
  await warmCache(...new Set(groups.flatMap((g) => [g.old, g.next])));
  try {
    const res = await measure(specs, ctx.opts.runs, { label: 'http2', warmup: true });
    const lineRate = RATE / 8;
    for (const group of groups) {
      const rows = res.filter((r) => r.name.startsWith(`${group.title}: `));
      const h1 = rows[0]!;
      s.tables.push({
        headers: [
          `client (${group.title})`,
          'median s',
          'runs (s)',
          'nginx body bytes',
          'proxy ↓ bytes',
          'connections',
          'requests',
          'of which HTTP/2',
          'link busy',
          '÷ HTTP/1.1',
        ],
        rows: rows.map((r) => [
          r.name.slice(group.title.length + 2),
          fmtSec(r.wall),
          r.walls.map((w) => w.toFixed(2)).join(', '),
          fmtInt(r.metrics.wire!),
          fmtInt(r.metrics.down!),
          fmtInt(r.metrics.conns!),
          fmtInt(r.metrics.requests!),
          fmtInt(r.metrics.h2!),
          `${((100 * (r.metrics.down! / lineRate)) / r.wall).toFixed(0)}%`,
          fmtRatio(r.wall / h1.wall),
        ]),
      });
    }
    s.notes.push(
      '"connections" are TCP connections the WAN proxy accepted (the index, then the transfers); "of which HTTP/2" counts the requests nginx logged as HTTP/2.0.',
    );
  } finally {
    await proxy.close();
    await nginx.close();
    await removeQuietly(out);
  }
  return s;
}

/** One patch with the given protocol (the script form). */
async function client(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      local: { type: 'string' },
      index: { type: 'string' },
      out: { type: 'string' },
      ca: { type: 'string' },
      protocol: { type: 'string' },
      raw: { type: 'boolean' },
      single: { type: 'boolean' },
    },
  });
  const ca = await readFile(values.ca!);
  const dispatcher: Dispatcher = createHttpDispatcher({
    ca,
    http2: values.protocol !== 'h1',
    ...(values.protocol === 'h2-undici-windows' ? { http2Windows: { connection: 512 * 1024, stream: 256 * 1024 } } : {}),
    ...(values.single ? { connections: 64 } : {}),
  });
  const loaded = await loadIndex(values.index!, { dispatcher });
  const open = (url: string, expectedSize?: number): HttpSource =>
    new HttpSource(url, {
      dispatcher,
      ...(values.single ? { maxRangesPerRequest: 1, connections: 64 } : {}),
      ...(expectedSize === undefined ? {} : { expectedSize }),
    });
  const source = open(resolveReference(loaded), loaded.index.published?.archive?.size ?? loaded.index.fileSize);
  try {
    const report = await patchArchive({
      local: values.local!,
      index: loaded.index,
      source,
      output: values.out!,
      seeds: [],
      ...(values.raw ? {} : { openForm: (name: string) => open(new URL(encodeURIComponent(name), loaded.url).href) }),
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    await source.close();
    await dispatcher.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await client(process.argv.slice(2));
