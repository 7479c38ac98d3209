/**
 * Case 6: the large binary update through the emulated WAN link (bench/wan-proxy.ts in
 * front of nginx: 25 ms each way, 100 Mbit/s shared by all connections): zsync against
 * gosync at its default and with 1, 2, 4 and 8 connections.
 *
 * @module
 */
import { join } from 'node:path';
import { checkOutput, gosync, hasPeer, removeQuietly, rssText, type Ctx } from './context.js';
import { LARGE_PAIR, pairLabel, prepareCompressed, preparePair } from './npm-pairs.js';
import { loadNote, newSection, type Section } from './report.js';
import { fmtInt, fmtRatio, fmtSec, gosyncJson, measure, warmCache, type Spec } from './util.js';
import { startWanProxy } from './wan-proxy.js';

const DELAY_MS = 25;
const RATE = 100e6;

export async function caseWan(ctx: Ctx): Promise<Section> {
  const s = newSection('wan', '6. The large binary through an emulated WAN link (50 ms RTT, 100 Mbit/s shared)');
  if (!ctx.server || !hasPeer(ctx, 'npm')) {
    s.notes.push('Skipped: needs nginx and npm.');
    return s;
  }
  const p = await preparePair(ctx, LARGE_PAIR);
  const compressed = await prepareCompressed(ctx, p);
  const proxy = await startWanProxy({ target: { port: ctx.server.port }, delayMs: DELAY_MS, rateBitsPerSecond: RATE });
  s.intro.push(
    `Pair: ${pairLabel(LARGE_PAIR)} (${fmtInt(p.nextSize)} B). \`bench/wan-proxy.ts\` (node:net) sits between the clients and nginx: ${DELAY_MS} ms added each way on every connection ` +
      '(and one extra round trip when a connection opens, as a TCP handshake costs), 100 Mbit/s per direction for all connections together (one shared token bucket), ' +
      `bytes counted in each direction at the proxy (HTTP headers included) and response bodies at nginx. Median of ${ctx.opts.runs} timed run${ctx.opts.runs === 1 ? '' : 's'}, interleaved; no warm-up run here ` +
      `(the page cache is warmed by reading both files first, and the link, not the start-up, dominates). ${loadNote()}`,
  );
  const out = join(ctx.work, 'wan.out');
  const zout = join(ctx.work, 'wan.zout');
  const prep = async (): Promise<void> => {
    await removeQuietly(out, zout, `${zout}.part`, `${zout}.zs-old`);
    await ctx.server!.mark();
    proxy.reset();
  };
  const metrics = async (file: string, tool: string, i: number): Promise<Record<string, number>> => {
    const t = await ctx.server!.since();
    const w = proxy.stats();
    if (i <= 0) await checkOutput(tool, file, p.next);
    return { wire: t.bytes, requests: t.requests, down: w.down, up: w.up, conns: w.connections };
  };
  const specs: Spec[] = [];
  const idx = `${proxy.url}npm/${LARGE_PAIR.name}.gosync`;
  if (hasPeer(ctx, 'zsync')) {
    specs.push({
      name: 'zsync',
      cmd: 'zsync',
      args: ['-q', '-i', p.old, '-o', zout, `${proxy.url}npm/${LARGE_PAIR.name}.zsync`],
      cwd: ctx.work,
      prep,
      after: (_r, i) => metrics(zout, 'zsync', i),
    });
  }
  if (hasPeer(ctx, 'curl')) {
    const cout = join(ctx.work, 'wan.curl');
    specs.push({
      name: 'curl (whole new file, no seed; reference)',
      cmd: 'curl',
      args: ['-s', '-f', '-o', cout, `${proxy.url}npm/${LARGE_PAIR.name}`],
      prep: async () => {
        await removeQuietly(cout);
        await prep();
      },
      after: async (_r, i) => {
        const m = await metrics(cout, 'curl', i);
        await removeQuietly(cout);
        return m;
      },
    });
  }
  specs.push({
    ...gosync('gosync (known version)', [
      'patch',
      '-q',
      '--json',
      p.old,
      compressed.indexUrl.replace(ctx.server.url, proxy.url),
      '-o',
      out,
    ]),
    prep,
    after: (_r, i) => metrics(out, 'gosync', i),
  });
  const connections = [undefined, 1, 2, 8] as const;
  for (const c of connections) {
    const name = c === undefined ? 'gosync (default: 4 connections)' : `gosync --connections ${c}`;
    const args = ['patch', '-q', '--json', ...(c === undefined ? [] : ['--connections', String(c)]), p.old, idx, '-o', out];
    specs.push({ ...gosync(name, args), prep, after: (_r, i) => metrics(out, 'gosync', i) });
  }
  await warmCache(p.old, p.next);
  try {
    const res = await measure(specs, ctx.opts.runs, { label: 'wan', warmup: false });
    const z = res.find((r) => r.name === 'zsync');
    const g = res.find((r) => r.name.startsWith('gosync (default'))!;
    const lineRate = RATE / 8;
    s.tables.push({
      headers: [
        'client',
        'median s',
        'runs (s)',
        'nginx body bytes',
        'proxy ↓ bytes',
        'proxy ↑ bytes',
        'connections',
        'requests',
        'link busy',
        'peak RSS',
        'wall ÷ zsync',
      ],
      rows: res.map((r) => [
        r.name,
        fmtSec(r.wall),
        r.walls.map((w) => w.toFixed(2)).join(', '),
        fmtInt(r.metrics.wire!),
        fmtInt(r.metrics.down!),
        fmtInt(r.metrics.up!),
        fmtInt(r.metrics.conns!),
        fmtInt(r.metrics.requests!),
        `${((100 * (r.metrics.down! / lineRate)) / r.wall).toFixed(0)}%`,
        rssText(r.maxRss),
        z ? fmtRatio(r.wall / z.wall) : '–',
      ]),
    });
    const j = gosyncJson(g.last);
    s.notes.push(
      `"link busy" = proxy ↓ bytes at 100 Mbit/s ÷ wall time: the share of the run the downlink was needed. At line rate the ${fmtInt(g.metrics.down!)} B gosync moved take ${(g.metrics.down! / lineRate).toFixed(2)} s.`,
    );
    s.notes.push(
      `gosync's own report: reused ${fmtInt(Number(j.reusedBytes))} B (${((100 * Number(j.reusedBytes)) / p.nextSize).toFixed(1)}%) and fetched ${fmtInt(Number(j.fetchedBytes))} B in ${j.ranges} ranges.`,
    );
    const floor = g.metrics.down! / lineRate;
    if (z && floor > 0.5 * z.wall) {
      s.notes.push(
        `With this pair the wall-time target cannot be reached by speed alone: the bytes gosync must move take ${floor.toFixed(2)} s at 100 Mbit/s, more than half of zsync's ${fmtSec(z.wall)} s ` +
          `(zsync keeps the link ${((100 * (z.metrics.down! / lineRate)) / z.wall).toFixed(0)}% busy). Only moving fewer bytes would.`,
      );
    }
    if (g.metrics.conns! >= g.metrics.requests! - 1) {
      s.notes.push(
        `gosync opened ${fmtInt(g.metrics.conns!)} TCP connections for ${fmtInt(g.metrics.requests!)} requests (counted at the proxy and at nginx): a new connection, with its handshake round trip, for almost every request, whatever --connections says` +
          (z
            ? `; zsync used ${fmtInt(z.metrics.conns!)} connections for ${fmtInt(z.metrics.requests!)} requests (keep-alive and pipelining).`
            : '.'),
      );
    }
    const gzRun = res.find((r) => r.name.startsWith('gosync (known version'));
    if (gzRun) {
      s.notes.push(
        `"gosync (known version)": the reference published with \`gosync build --base <the old version>\` (case 5), so the server also holds a delta from exactly the client's old file, which the client finds from the index's summary; the client chose plan "${String(gosyncJson(gzRun.last).plan)}".`,
      );
    }
    const byC = res.filter((r) => r.name.startsWith('gosync'));
    s.notes.push(`Effect of --connections: ${byC.map((r) => `${r.name.replace('gosync ', '')} ${fmtSec(r.wall)} s`).join('; ')}.`);
    if (z) {
      s.targets.push({
        case: '6. WAN',
        target: "gosync ≤ 0.5× zsync's wall time",
        measured: `${fmtRatio(g.wall / z.wall)}× (gosync ${fmtSec(g.wall)} s, zsync ${fmtSec(z.wall)} s)`,
        met: g.wall <= 0.5 * z.wall,
      });
      s.targets.push({
        case: '6. WAN',
        target: 'same or fewer bytes than zsync',
        measured: `nginx body bytes ${fmtInt(g.metrics.wire!)} vs ${fmtInt(z.metrics.wire!)} (${fmtRatio(g.metrics.wire! / z.metrics.wire!)}×); proxy ↓ ${fmtInt(g.metrics.down!)} vs ${fmtInt(z.metrics.down!)}`,
        met: g.metrics.wire! <= z.metrics.wire! && g.metrics.down! <= z.metrics.down!,
      });
      const gz = res.find((r) => r.name.startsWith('gosync (known version'));
      if (gz) {
        s.targets.push({
          case: '6. WAN, compressed',
          target: "a ≥ 50 MB binary update in ≤ 1/3 of zsync's time (issue 5)",
          measured: `${fmtRatio(gz.wall / z.wall)}× (gosync ${fmtSec(gz.wall)} s, ${fmtInt(gz.metrics.wire!)} B; zsync ${fmtSec(z.wall)} s)`,
          met: gz.wall <= z.wall / 3,
        });
        s.targets.push({
          case: '6. WAN, known version',
          target: "the bun update, published with --base, ≤ 0.15× zsync's wall time",
          measured: `${fmtRatio(gz.wall / z.wall)}× (gosync ${fmtSec(gz.wall)} s, ${fmtInt(gz.metrics.wire!)} B; zsync ${fmtSec(z.wall)} s)`,
          met: gz.wall <= 0.15 * z.wall,
        });
      }
    }
  } finally {
    await proxy.close();
    await removeQuietly(out, zout);
  }
  return s;
}
