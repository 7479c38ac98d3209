/**
 * Cases 1–4 on a generated pair (default 256 MiB): index build, an unrelated local file,
 * an identical local file, and an edited pair, each against the peers on the same inputs
 * in the same run.
 *
 * @module
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { checkOutput, commandText, gosync, gosyncOnce, hasPeer, mbps, removeQuietly, rssText, zstdSize, type Ctx } from './context.js';
import { copyOf, editedFile, randomFile, type EditSummary } from './inputs.js';
import { loadNote, newSection, type Section } from './report.js';
import {
  fmtInt,
  fmtRatio,
  fmtSec,
  gosyncJson,
  measure,
  run,
  sizeLabel,
  spread,
  warmCache,
  type Measured,
  type RunResult,
  type Spec,
} from './util.js';

/** The generated files shared by cases 1–4. */
export interface MainInputs {
  size: number;
  label: string;
  /** The old version (random). */
  base: string;
  /** The published new version (base + edits), in www/. */
  next: string;
  nextSize: number;
  /** An unrelated file of the same size. */
  other: string;
  /** A copy of `next`. */
  identical: string;
  edits: EditSummary;
  /** Published index and zsync control file, and their URLs (when nginx runs). */
  index: string;
  zsync: string;
  indexUrl?: string;
  zsyncUrl?: string;
}

export function sizeTag(size: number): string {
  return sizeLabel(size).replace(/ /g, '').replace(/i?B/g, '').replace('+', 'p');
}

export async function prepareMain(ctx: Ctx): Promise<MainInputs> {
  const size = ctx.opts.size;
  const tag = sizeTag(size);
  const base = join(ctx.bench, `old-${tag}.bin`);
  const next = join(ctx.www, `new-${tag}.bin`);
  const other = join(ctx.bench, `other-${tag}.bin`);
  const identical = join(ctx.bench, `identical-${tag}.bin`);
  await randomFile(base, size, `old-${size}`);
  await randomFile(other, size, `other-${size}`);
  const edits = await editedFile(base, next, { edits: Math.max(16, Math.round(size / (4 * 1024 * 1024))), seed: `edits-${size}` });
  await copyOf(next, identical);
  const nextSize = (await stat(next)).size;
  // Publish: the gosync index and the zsync control file next to the new file.
  const index = `${next}.gosync`;
  await gosyncOnce(['build', '-q', next]);
  const zsync = `${next}.zsync`;
  if (hasPeer(ctx, 'zsync')) await run('zsyncmake', ['-u', basename(next), '-o', zsync, next]);
  const inputs: MainInputs = { size, label: sizeLabel(size), base, next, nextSize, other, identical, edits, index, zsync };
  if (ctx.server) {
    inputs.indexUrl = `${ctx.server.url}${basename(index)}`;
    inputs.zsyncUrl = `${ctx.server.url}${basename(zsync)}`;
  }
  await mkdir(ctx.work, { recursive: true });
  return inputs;
}

function nginxCounter(ctx: Ctx): Pick<Spec, 'prep'> & { bytes: () => Promise<{ bytes: number; requests: number }> } {
  return {
    prep: async () => {
      await ctx.server!.mark();
    },
    bytes: async () => ctx.server!.since(),
  };
}

/** A spec whose output file is checked on the first timed run and removed after every run. */
function withOutput(
  spec: Spec,
  out: string,
  reference: string,
  extraPrep?: () => Promise<void>,
  metrics?: (r: RunResult) => Promise<Record<string, number>>,
): Spec {
  return {
    ...spec,
    prep: async () => {
      await removeQuietly(out, `${out}.part`, `${out}.zs-old`);
      await extraPrep?.();
    },
    after: async (r, i) => {
      if (i <= 0) await checkOutput(spec.name, out, reference);
      const m = (await metrics?.(r)) ?? {};
      await removeQuietly(out, `${out}.zs-old`);
      return m;
    },
  };
}

/** gosync patch through nginx (index + ranges counted at nginx). */
function gosyncPatchHttp(
  ctx: Ctx,
  name: string,
  local: string,
  indexUrl: string,
  out: string,
  reference: string,
  extraArgs: string[] = [],
): Spec {
  const counter = nginxCounter(ctx);
  return withOutput(
    gosync(name, ['patch', '-q', '--json', ...extraArgs, local, indexUrl, '-o', out]),
    out,
    reference,
    counter.prep,
    async (r) => {
      const t = await counter.bytes();
      const j = gosyncJson(r);
      return { wire: t.bytes, requests: t.requests, reused: Number(j.reusedBytes ?? NaN) };
    },
  );
}

/** zsync 0.6.2 through nginx (the .zsync + ranges counted at nginx). */
function zsyncHttp(ctx: Ctx, name: string, seed: string, zsyncUrl: string, out: string, reference: string): Spec {
  const counter = nginxCounter(ctx);
  return withOutput(
    { name, cmd: 'zsync', args: ['-q', '-i', seed, '-o', out, zsyncUrl], cwd: ctx.work },
    out,
    reference,
    counter.prep,
    async () => {
      const t = await counter.bytes();
      return { wire: t.bytes, requests: t.requests };
    },
  );
}

const RUNS_NOTE = (ctx: Ctx): string =>
  `Median of ${ctx.opts.runs} timed run${ctx.opts.runs === 1 ? '' : 's'} per tool after one untimed warm-up run each, tools interleaved run by run; inputs in the page cache for every tool. ${loadNote()}`;

// ---------------------------------------------------------------- 1. index build

export async function caseBuild(ctx: Ctx, m: MainInputs): Promise<Section> {
  const s = newSection('build', `1. Build the index of a ${m.label} file`);
  s.intro.push(`Input: \`${basename(m.next)}\` (${fmtInt(m.nextSize)} B, random data with scattered edits). ${RUNS_NOTE(ctx)}`);
  const specs: Spec[] = [gosync('gosync build', ['build', '-q', '--json', '-o', join(ctx.work, 'build.gosync'), m.next])];
  const outputs = [join(ctx.work, 'build.gosync')];
  if (hasPeer(ctx, 'zsync')) {
    specs.push({ name: 'zsyncmake', cmd: 'zsyncmake', args: ['-u', basename(m.next), '-o', join(ctx.work, 'build.zsync'), m.next] });
    outputs.push(join(ctx.work, 'build.zsync'));
  }
  if (hasPeer(ctx, 'rdiff')) {
    specs.push({ name: 'rdiff signature', cmd: 'rdiff', args: ['-f', 'signature', m.next, join(ctx.work, 'build.sig')] });
    outputs.push(join(ctx.work, 'build.sig'));
    specs.push({
      name: 'rdiff signature (MD4, rollsum)',
      cmd: 'rdiff',
      args: ['-f', '-H', 'md4', '-R', 'rollsum', 'signature', m.next, join(ctx.work, 'build-md4.sig')],
    });
    outputs.push(join(ctx.work, 'build-md4.sig'));
  }
  specs.push(gosync('gosync --version (process start-up only)', ['--version']));
  outputs.push('');
  specs.push({ name: 'node -e 0 (bare Node start-up)', cmd: process.execPath, args: ['-e', '0'] });
  outputs.push('');
  await warmCache(m.next);
  const res = await measure(specs, ctx.opts.runs, { label: 'build' });
  const g = res[0]!;
  const sizes = await Promise.all(outputs.map(async (p) => (p ? (await stat(p)).size : NaN)));
  s.tables.push({
    headers: ['tool', 'command', 'median s', 'min–max s', 'MB/s', 'CPU s', 'peak RSS', 'index/signature bytes', 'gosync speed ÷ this'],
    rows: res.map((r, i) => {
      const startup = i >= res.length - 2;
      return [
        r.name,
        `\`${commandText(specs[i]!)}\``,
        fmtSec(r.wall),
        spread(r),
        startup ? '–' : mbps(m.nextSize, r.wall).toFixed(0),
        fmtSec(r.cpu),
        rssText(r.maxRss),
        Number.isFinite(sizes[i]!) ? fmtInt(sizes[i]!) : '–',
        i === 0 || startup ? '–' : `${fmtRatio(r.wall / g.wall)}×`,
      ];
    }),
  });
  const gj = gosyncJson(g.last);
  s.intro.push(`gosync: ${gj.blockCount} blocks of ${gj.blockSize} B.`);
  ctx.shared.buildMBps = mbps(m.nextSize, g.wall);
  ctx.shared.buildSize = m.nextSize;
  const zs = res.find((r) => r.name === 'zsyncmake');
  const rd = res.find((r) => r.name === 'rdiff signature');
  const ratios = [zs && ['zsyncmake', zs.wall / g.wall], rd && ['rdiff signature', rd.wall / g.wall]].filter(Boolean) as [string, number][];
  s.targets.push({
    case: '1. index build',
    target: 'gosync ≥ 2× faster than both zsyncmake and rdiff signature',
    measured:
      ratios.map(([n, r]) => `${fmtRatio(r)}× ${n}`).join(', ') +
      ` (gosync ${fmtSec(g.wall)} s = ${mbps(m.nextSize, g.wall).toFixed(0)} MB/s); by CPU time ${[zs, rd]
        .filter((x) => x !== undefined)
        .map((x) => `${fmtRatio(x!.cpu / g.cpu)}× ${x!.name}`)
        .join(', ')}`,
    met: ratios.length === 2 ? ratios.every(([, r]) => r >= 2) : undefined,
  });
  s.targets.push({
    case: '1. index build, publishing at defaults',
    target: '`gosync build` at its defaults (compressed forms included) ≥ 200 MB/s on this incompressible data',
    measured: `${mbps(m.nextSize, g.wall).toFixed(0)} MB/s (${fmtSec(g.wall)} s, Node's start included)`,
    met: mbps(m.nextSize, g.wall) >= 200,
  });
  const startup = res[res.length - 2]!;
  const bare = res[res.length - 1]!;
  s.notes.push(
    `The gosync times include starting Node and loading the CLI: \`gosync --version\` alone takes ${fmtSec(startup.wall)} s (bare \`node -e 0\`: ${fmtSec(bare.wall)} s); gosync build without it would take about ${fmtSec(g.wall - startup.wall)} s (${mbps(m.nextSize, g.wall - startup.wall).toFixed(0)} MB/s).`,
  );
  if (g.cpu > g.wall * 1.2)
    s.notes.push(`gosync build used ${fmtSec(g.cpu)} s of CPU in ${fmtSec(g.wall)} s of wall time (more than one core).`);
  await removeQuietly(...outputs.filter(Boolean));
  // The compressed forms a default build writes beside its index.
  for (const name of await readdir(ctx.work)) if (name.startsWith('build.gosync')) await removeQuietly(join(ctx.work, name));
  return s;
}

// ---------------------------------------------------------------- 2. unrelated local file

export async function caseUnrelated(ctx: Ctx, m: MainInputs): Promise<Section> {
  const s = newSection('unrelated', `2. Patch against an unrelated ${m.label} local file (every offset rolled, nothing matches)`);
  s.intro.push(
    `Local file: \`${basename(m.other)}\` (${fmtInt(m.size)} B of random data unrelated to the reference \`${basename(m.next)}\`). ` +
      "Throughput is the local file's size over the wall time (rdiff delta rolls over the new file instead, the same amount of data). " +
      RUNS_NOTE(ctx),
  );
  const out = join(ctx.work, 'out.bin');
  const specs: Spec[] = [
    gosync('gosync diff (scan only)', ['diff', '-q', '--json', m.other, m.index]),
    withOutput(gosync('gosync patch, local reference path', ['patch', '-q', '--json', m.other, m.index, m.next, '-o', out]), out, m.next),
  ];
  if (ctx.server) specs.push(gosyncPatchHttp(ctx, 'gosync patch via nginx', m.other, m.indexUrl!, out, m.next));
  let rdiffSig: string | undefined;
  if (hasPeer(ctx, 'rdiff')) {
    rdiffSig = join(ctx.work, 'other.sig');
    await run('rdiff', ['-f', 'signature', m.other, rdiffSig]);
    const delta = join(ctx.work, 'unrelated.delta');
    specs.push({
      name: 'rdiff delta (signature of the local file, delta of the new)',
      cmd: 'rdiff',
      args: ['-f', 'delta', rdiffSig, m.next, delta],
      after: async () => {
        const size = (await stat(delta)).size;
        await removeQuietly(delta);
        return { output: size };
      },
    });
  }
  if (ctx.server && hasPeer(ctx, 'zsync'))
    specs.push(zsyncHttp(ctx, 'zsync -i via nginx', m.other, m.zsyncUrl!, join(ctx.work, 'zout.bin'), m.next));
  if (ctx.server && hasPeer(ctx, 'curl')) {
    const counter = nginxCounter(ctx);
    const cout = join(ctx.work, 'curl.out');
    specs.push(
      withOutput(
        {
          name: 'curl (plain download of the new file; reference)',
          cmd: 'curl',
          args: ['-s', '-f', '-o', cout, `${ctx.server.url}${basename(m.next)}`],
        },
        cout,
        m.next,
        counter.prep,
        async () => {
          const t = await counter.bytes();
          return { wire: t.bytes, requests: t.requests };
        },
      ),
    );
  }
  await warmCache(m.other, m.next, m.index);
  const res = await measure(specs, ctx.opts.runs, { label: 'unrelated' });
  const rd = res.find((r) => r.name.startsWith('rdiff delta'));
  const zs = res.find((r) => r.name.startsWith('zsync'));
  s.tables.push({
    headers: [
      'tool',
      'command',
      'median s',
      'min–max s',
      'MB/s',
      'CPU s',
      'peak RSS',
      'bytes on the wire (nginx)',
      'gosync ÷ rdiff delta (throughput)',
      'gosync ÷ zsync (throughput)',
    ],
    rows: res.map((r, i) => {
      const isGosync = r.name.startsWith('gosync');
      return [
        r.name,
        `\`${commandText(specs[i]!)}\``,
        fmtSec(r.wall),
        spread(r),
        mbps(m.size, r.wall).toFixed(0),
        fmtSec(r.cpu),
        rssText(r.maxRss),
        r.metrics.wire !== undefined ? fmtInt(r.metrics.wire) : '–',
        isGosync && rd ? `${fmtRatio(rd.wall / r.wall)}×` : '–',
        isGosync && zs ? `${fmtRatio(zs.wall / r.wall)}×` : '–',
      ];
    }),
  });
  const diffRow = res[0]!;
  const patchLocal = res[1]!;
  const patchHttp = res.find((r) => r.name === 'gosync patch via nginx');
  if (rd) {
    s.targets.push({
      case: '2. unrelated file',
      target: "≥ 4× rdiff's throughput",
      measured: `gosync diff ${fmtRatio(rd.wall / diffRow.wall)}×, gosync patch (local reference) ${fmtRatio(rd.wall / patchLocal.wall)}× rdiff delta's throughput (${mbps(m.size, diffRow.wall).toFixed(0)} and ${mbps(m.size, patchLocal.wall).toFixed(0)} vs ${mbps(m.size, rd.wall).toFixed(0)} MB/s); by CPU time ${fmtRatio(rd.cpu / diffRow.cpu)}× and ${fmtRatio(rd.cpu / patchLocal.cpu)}×`,
      met: rd.wall / patchLocal.wall >= 4,
    });
  }
  if (zs) {
    const cmp = patchHttp ?? patchLocal;
    s.targets.push({
      case: '2. unrelated file',
      target: "≥ 2× zsync's throughput",
      measured: `gosync patch via nginx ${patchHttp ? fmtRatio(zs.wall / patchHttp.wall) : '–'}×, from a local reference ${fmtRatio(zs.wall / patchLocal.wall)}×, gosync diff ${fmtRatio(zs.wall / diffRow.wall)}× zsync -i (${mbps(m.size, cmp.wall).toFixed(0)} vs ${mbps(m.size, zs.wall).toFixed(0)} MB/s); by CPU time ${fmtRatio(zs.cpu / cmp.cpu)}× (patch) and ${fmtRatio(zs.cpu / diffRow.cpu)}× (diff)`,
      met: zs.wall / cmp.wall >= 2,
    });
  }
  s.notes.push(
    `Verdicts compare full patches: gosync patch from a local reference path against rdiff delta, and gosync patch through nginx against zsync -i through nginx (both download the whole ${m.label} over 127.0.0.1); the gosync diff row shows the scan alone.`,
  );
  const dj = gosyncJson(diffRow.last);
  s.notes.push(`gosync diff found ${fmtInt(Number(dj.reusedBytes))} B reusable (expected 0).`);
  if (rdiffSig) await removeQuietly(rdiffSig);
  return s;
}

// ---------------------------------------------------------------- 3. identical local file

export async function caseIdentical(ctx: Ctx, m: MainInputs): Promise<Section> {
  const s = newSection('identical', `3. Patch when the local file is identical (${m.label})`);
  s.intro.push(
    `Local file: \`${basename(m.identical)}\`, a copy of the reference. Both tools fetch the index through nginx, verify, and write the output to a new file. ${RUNS_NOTE(ctx)}`,
  );
  if (!ctx.server || !hasPeer(ctx, 'zsync')) {
    s.notes.push('Skipped: needs nginx and zsync.');
    return s;
  }
  const out = join(ctx.work, 'out.bin');
  const specs: Spec[] = [
    gosyncPatchHttp(ctx, 'gosync patch via nginx', m.identical, m.indexUrl!, out, m.next),
    zsyncHttp(ctx, 'zsync -i via nginx', m.identical, m.zsyncUrl!, join(ctx.work, 'zout.bin'), m.next),
    gosync('gosync diff (scan only, local index)', ['diff', '-q', '--json', m.identical, m.index]),
  ];
  await warmCache(m.identical, m.next, m.index);
  const res = await measure(specs, ctx.opts.runs, { label: 'identical' });
  const g = res[0]!;
  const zs = res[1]!;
  s.tables.push({
    headers: [
      'tool',
      'command',
      'median s',
      'min–max s',
      'MB/s',
      'CPU s',
      'peak RSS',
      'bytes on the wire (nginx)',
      'gosync patch speed ÷ this',
    ],
    rows: res.map((r, i) => [
      r.name,
      `\`${commandText(specs[i]!)}\``,
      fmtSec(r.wall),
      spread(r),
      mbps(m.nextSize, r.wall).toFixed(0),
      fmtSec(r.cpu),
      rssText(r.maxRss),
      r.metrics.wire !== undefined ? fmtInt(r.metrics.wire) : '–',
      i === 1 ? `${fmtRatio(r.wall / g.wall)}×` : '–',
    ]),
  });
  s.targets.push({
    case: '3. identical file',
    target: 'gosync patch ≥ 3× faster than zsync -i',
    measured: `${fmtRatio(zs.wall / g.wall)}× (gosync ${fmtSec(g.wall)} s, zsync ${fmtSec(zs.wall)} s); by CPU time ${fmtRatio(zs.cpu / g.cpu)}×`,
    met: zs.wall / g.wall >= 3,
  });
  return s;
}

// ---------------------------------------------------------------- 4. edited pair

function rsyncStats(text: string): Record<string, number> {
  const num = (label: string): number => Number(new RegExp(`${label}: ([\\d,]+)`).exec(text)?.[1]?.replace(/,/g, '') ?? NaN);
  return {
    literal: num('Literal data'),
    matched: num('Matched data'),
    sent: num('Total bytes sent'),
    received: num('Total bytes received'),
  };
}

export async function caseEdited(ctx: Ctx, m: MainInputs): Promise<Section> {
  const e = m.edits;
  const s = newSection('edited', `4. Generated edited pair (${m.label})`);
  s.intro.push(
    `Old: \`${basename(m.base)}\` (${fmtInt(m.size)} B random). New: \`${basename(m.next)}\` (${fmtInt(m.nextSize)} B) = old with ${e.edits} scattered edits ` +
      `(${e.inserts} insertions of ${fmtInt(e.insertedBytes)} B, ${e.deletes} deletions of ${fmtInt(e.deletedBytes)} B, ${e.overwrites} overwrites of ${fmtInt(e.overwrittenBytes)} B; ` +
      `lengths log-uniform 1 B – 64 KiB): **${fmtInt(e.newDataBytes)} B of genuinely new data**, the floor for any tool. ${RUNS_NOTE(ctx)}`,
  );
  const specs: Spec[] = [];
  const out = join(ctx.work, 'out.bin');
  if (ctx.server) specs.push(gosyncPatchHttp(ctx, 'gosync patch via nginx', m.base, m.indexUrl!, out, m.next));
  if (ctx.server && hasPeer(ctx, 'zsync'))
    specs.push(zsyncHttp(ctx, 'zsync -i via nginx', m.base, m.zsyncUrl!, join(ctx.work, 'zout.bin'), m.next));
  const sig = join(ctx.work, 'old.sig');
  const delta = join(ctx.work, 'edited.delta');
  if (hasPeer(ctx, 'rdiff')) {
    specs.push({
      name: 'rdiff signature (of old)',
      cmd: 'rdiff',
      args: ['-f', 'signature', m.base, sig],
      after: async () => ({ output: (await stat(sig)).size }),
    });
    specs.push({
      name: 'rdiff delta',
      cmd: 'rdiff',
      args: ['-f', 'delta', sig, m.next, delta],
      after: async () => ({ output: (await stat(delta)).size }),
    });
  }
  const xd = join(ctx.work, 'edited.xd3');
  if (hasPeer(ctx, 'xdelta3')) {
    specs.push({
      name: 'xdelta3 -e -s',
      cmd: 'xdelta3',
      args: ['-e', '-f', '-s', m.base, m.next, xd],
      after: async () => {
        const size = (await stat(xd)).size;
        await removeQuietly(xd);
        return { output: size };
      },
    });
  }
  const rsyncDir = join(ctx.work, 'rsync');
  const rsyncDst = join(rsyncDir, basename(m.next));
  if (hasPeer(ctx, 'rsync')) {
    await mkdir(rsyncDir, { recursive: true });
    specs.push({
      name: 'rsync --no-whole-file -I',
      cmd: 'rsync',
      args: ['--no-whole-file', '-I', '--stats', m.next, rsyncDst],
      prep: async () => {
        await removeQuietly(rsyncDst);
        await run('cp', [m.base, rsyncDst]);
      },
      after: async (r, i) => {
        if (i <= 0) await checkOutput('rsync', rsyncDst, m.next);
        return rsyncStats(r.stdout);
      },
    });
  }
  await warmCache(m.base, m.next, m.index);
  const res = specs.length ? await measure(specs, ctx.opts.runs, { label: 'edited' }) : [];
  const by = (prefix: string): Measured | undefined => res.find((r) => r.name.startsWith(prefix));
  const g = by('gosync patch');
  const zs = by('zsync');
  const rows: string[][] = [];
  const ratio = (bytes: number): string => (g && Number.isFinite(bytes) ? `${fmtRatio(g.metrics.wire! / bytes)}` : '–');
  for (const r of res) {
    const i = res.indexOf(r);
    let bytes = NaN;
    let what = '';
    if (r.name.startsWith('gosync') || r.name.startsWith('zsync')) {
      bytes = r.metrics.wire!;
      what = `index + ranges, counted at nginx (${fmtInt(r.metrics.requests!)} requests)`;
    } else if (r.name.startsWith('rdiff signature')) {
      bytes = r.metrics.output!;
      what = "signature size (client → server in rsync's model)";
    } else if (r.name === 'rdiff delta') {
      bytes = r.metrics.output!;
      what = 'delta size (server → client)';
    } else if (r.name.startsWith('xdelta3')) {
      bytes = r.metrics.output!;
      what = 'delta size (needs both files in one place)';
    } else if (r.name.startsWith('rsync')) {
      bytes = r.metrics.sent! + r.metrics.received!;
      what = `sent ${fmtInt(r.metrics.sent!)} + received ${fmtInt(r.metrics.received!)} (literal data ${fmtInt(r.metrics.literal!)}, matched ${fmtInt(r.metrics.matched!)})`;
    }
    rows.push([
      r.name,
      `\`${commandText(specs[i]!)}\``,
      fmtSec(r.wall),
      spread(r),
      mbps(m.nextSize, r.wall).toFixed(0),
      fmtSec(r.cpu),
      rssText(r.maxRss),
      fmtInt(bytes),
      what,
      ratio(bytes),
    ]);
  }
  const z = await zstdSize(ctx, m.next);
  if (z)
    rows.push([
      'zstd -19 of the new file',
      `\`zstd -19 ${basename(m.next)}\``,
      fmtSec(z.seconds),
      '1 run, kept in .bench/cache.json (may be from an earlier run)',
      mbps(m.nextSize, z.seconds).toFixed(1),
      '',
      '',
      fmtInt(z.bytes),
      'compressed size (no old version used)',
      ratio(z.bytes),
    ]);
  rows.push([
    '(genuinely new data)',
    '',
    '',
    '',
    '',
    '',
    '',
    fmtInt(e.newDataBytes),
    'inserted + overwritten bytes',
    ratio(e.newDataBytes),
  ]);
  s.tables.push({
    headers: [
      'tool',
      'command',
      'median s',
      'min–max s',
      'MB/s',
      'CPU s',
      'peak RSS',
      'bytes',
      'what the bytes are',
      'gosync bytes ÷ this',
    ],
    rows,
  });
  if (g) {
    ctx.shared.patchEditedMBps = mbps(m.nextSize, g.wall);
    ctx.shared.patchEditedVia = 'gosync patch via nginx';
    const j = gosyncJson(g.last);
    s.notes.push(
      `gosync's own report: reused ${fmtInt(Number(j.reusedBytes))} B (${((100 * Number(j.reusedBytes)) / m.nextSize).toFixed(2)}%), fetched ${fmtInt(Number(j.fetchedBytes))} B in ${j.ranges} ranges with ${j.requests} requests; index ${fmtInt(Number(j.indexBytes))} B.`,
    );
  }
  if (g && zs) {
    s.notes.push(
      `gosync vs zsync: ${fmtRatio(g.metrics.wire! / zs.metrics.wire!)}× the bytes, ${fmtRatio(zs.wall / g.wall)}× the speed (zsync ${fmtSec(zs.wall)} s, gosync ${fmtSec(g.wall)} s). No target is set for this case.`,
    );
  }
  await removeQuietly(sig, delta, rsyncDir);
  return s;
}
