/**
 * Case 7: a 4 GiB file and one just over 4 GiB (4 GiB + 1 MiB, so offsets need more than
 * 32 bits): `gosync build` and `gosync patch` of an edited pair through nginx, with
 * throughput and peak RSS (`/usr/bin/time -v`, "Maximum resident set size").
 *
 * The files take 3 × 4 GiB of disk per size (old, new, output); free space is checked
 * first, and they are deleted afterwards unless `--keep`.
 *
 * @module
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { checkOutput, gosync, mbps, removeQuietly, rssText, type Ctx } from './context.js';
import { editedFile, freeBytes, randomFile, removeGenerated } from './inputs.js';
import { sizeTag } from './cases-local.js';
import { loadNote, newSection, type Section } from './report.js';
import { GiB, MiB, fmtInt, fmtSec, gnuTime, gosyncJson, log, measure, sizeLabel, warmCache } from './util.js';

export const BIG_SIZES = [4 * GiB, 4 * GiB + MiB];

export async function case4g(ctx: Ctx): Promise<Section> {
  const s = newSection('4g', '7. Files of 4 GiB and just over 4 GiB');
  s.intro.push(
    'Old: random; new: old with one edit per 4 MiB on average (the same density as the generated pair of cases 1–4), padded or truncated at the tail to the exact size. ' +
      `gosync build of the new file, then gosync patch of the old through nginx. ${ctx.opts.runs4g} timed run${ctx.opts.runs4g === 1 ? '' : 's'} each (median), no warm-up run; ` +
      `both files are read once first so that they are in the page cache. Peak RSS from \`/usr/bin/time -v\`. ${loadNote()}`,
  );
  if (!gnuTime()) s.notes.push('`/usr/bin/time` is missing: peak RSS is not measured.');
  if (!ctx.server) {
    s.notes.push('Skipped: needs nginx.');
    return s;
  }
  const rows: string[][] = [];
  for (const size of BIG_SIZES) {
    const tag = sizeTag(size);
    const old = join(ctx.bench, `big-old-${tag}.bin`);
    const next = join(ctx.www, `big-new-${tag}.bin`);
    const out = join(ctx.work, `big-${tag}.out`);
    const index = `${next}.gosync`;
    const have = await Promise.all(
      [old, next].map((p) =>
        stat(p).then(
          (st) => st.size,
          () => 0,
        ),
      ),
    );
    const need = 3 * size + GiB - have[0]! - have[1]!;
    const free = await freeBytes(ctx.bench);
    if (free < need) {
      s.notes.push(
        `${sizeLabel(size)}: skipped, ${(free / GiB).toFixed(1)} GiB free on the disk of .bench/ and ${(need / GiB).toFixed(1)} GiB needed.`,
      );
      continue;
    }
    try {
      await randomFile(old, size, `big-old-${size}`);
      const edits = await editedFile(old, next, { edits: Math.round(size / (4 * MiB)), seed: `big-edits-${size}`, targetSize: size });
      log(`  reading ${basename(old)} and ${basename(next)} into the page cache…`);
      await warmCache(old, next);
      const build = await measure([gosync('gosync build', ['build', '-q', '--json', next])], ctx.opts.runs4g, {
        label: `4g ${tag}`,
        warmup: false,
      });
      const b = build[0]!;
      const indexBytes = (await stat(index)).size;
      const bj = gosyncJson(b.last);
      const patch = await measure(
        [
          {
            ...gosync('gosync patch', ['patch', '-q', '--json', old, `${ctx.server!.url}${basename(index)}`, '-o', out]),
            prep: async () => {
              await removeQuietly(out);
              await ctx.server!.mark();
            },
            after: async (_r, i) => {
              const t = await ctx.server!.since();
              if (i <= 0) {
                log('  checking the 4 GiB output…');
                await checkOutput('gosync', out, next);
              }
              await removeQuietly(out);
              return { wire: t.bytes };
            },
          },
        ],
        ctx.opts.runs4g,
        { label: `4g ${tag}`, warmup: false },
      );
      const p = patch[0]!;
      const pj = gosyncJson(p.last);
      const limit = 300 * MiB + indexBytes;
      const buildMBps = mbps(size, b.wall);
      const patchMBps = mbps(size, p.wall);
      rows.push([
        `${sizeLabel(size)} (${fmtInt(size)} B)`,
        `${bj.blockCount} × ${bj.blockSize} B`,
        fmtInt(indexBytes),
        fmtSec(b.wall),
        buildMBps.toFixed(0),
        rssText(b.maxRss),
        fmtSec(p.wall),
        patchMBps.toFixed(0),
        rssText(p.maxRss),
        `${((100 * Number(pj.reusedBytes)) / size).toFixed(2)}%`,
        fmtInt(p.metrics.wire!),
        fmtInt(edits.newDataBytes),
      ]);
      const rssOk = [b.maxRss, p.maxRss].every((r) => Number.isFinite(r) && r <= limit);
      s.targets.push({
        case: `7. ${sizeLabel(size)}`,
        target: 'peak RSS ≤ 300 MiB plus the index',
        measured: `build ${rssText(b.maxRss)}, patch ${rssText(p.maxRss)}; limit ${(limit / MiB).toFixed(1)} MiB (index ${fmtInt(indexBytes)} B)`,
        met: Number.isFinite(b.maxRss) ? rssOk : undefined,
      });
      const refB = ctx.shared.buildMBps;
      const refP = ctx.shared.patchEditedMBps;
      s.targets.push({
        case: `7. ${sizeLabel(size)}`,
        target: 'throughput within 15% of the 256 MiB case',
        measured:
          `build ${buildMBps.toFixed(0)} MB/s vs ${refB ? refB.toFixed(0) : '–'} (${refB ? `${((100 * buildMBps) / refB).toFixed(0)}%` : 'not measured'}), ` +
          `patch ${patchMBps.toFixed(0)} MB/s vs ${refP ? refP.toFixed(0) : '–'} (${refP ? `${((100 * patchMBps) / refP).toFixed(0)}%` : 'not measured'})` +
          (ctx.opts.size !== 256 * MiB ? ` — the reference case was ${sizeLabel(ctx.opts.size)}, not 256 MiB` : ''),
        met: refB && refP ? buildMBps >= 0.85 * refB && patchMBps >= 0.85 * refP : undefined,
      });
      if (size === BIG_SIZES[0]) {
        // Publishing with compression on (issue 5): frames + whole-file stream, at the defaults.
        const zIndex = join(dirname(next), `z-${basename(next)}.gosync`);
        const zb = await measure([gosync('gosync build --compress', ['build', '-q', '--json', '--compress', next, '-o', zIndex])], 1, {
          label: `4g ${tag} compress`,
          warmup: false,
        });
        const zj = gosyncJson(zb[0]!.last) as { frames?: { bytes: number; level: number }; whole?: { bytes: number; level: number } };
        s.notes.push(
          `Publishing ${sizeLabel(size)} with compression on (\`gosync build --compress\`, defaults: frames at brotli q${zj.frames?.level}, whole stream at q${zj.whole?.level}): ` +
            `${fmtSec(zb[0]!.wall)} s (${mbps(size, zb[0]!.wall).toFixed(0)} MB/s), peak RSS ${rssText(zb[0]!.maxRss)}, against ${fmtSec(b.wall)} s for the index alone; ` +
            `frames ${fmtInt(zj.frames?.bytes ?? 0)} B, whole ${fmtInt(zj.whole?.bytes ?? 0)} B (random data does not compress). One run.`,
        );
        await removeQuietly(zIndex, `${zIndex}z`, `${zIndex}.br`);
      }
    } finally {
      await removeQuietly(out);
      if (!ctx.opts.keep) {
        await removeGenerated(old);
        await removeGenerated(next);
        await removeQuietly(index);
      }
    }
  }
  s.tables.push({
    headers: [
      'file',
      'blocks',
      'index bytes',
      'build s',
      'build MB/s',
      'build peak RSS',
      'patch s',
      'patch MB/s',
      'patch peak RSS',
      'reused',
      'nginx bytes',
      'new data',
    ],
    rows,
  });
  s.notes.push(
    'Throughput is the file size over the wall time; the 256 MiB references are case 1 (build) and case 4 (gosync patch via nginx) of this run.',
  );
  if (!ctx.opts.keep) s.notes.push('The 4 GiB files were deleted afterwards (`--keep` keeps them in .bench/ for the next run).');
  return s;
}
