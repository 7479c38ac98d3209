/**
 * Case 9: folders. A published tree (`gosync build <dir> -o <pub>` at its defaults, served by
 * nginx) updated with `gosync patch <dir> <manifest URL>`, against rsync moving the same
 * update between two local folders (`rsync -a --no-whole-file`, so it runs its delta
 * algorithm as over a network; `-z` adds compression; bytes from `--stats`):
 *
 * - typescript 5.5.4 → 5.6.2, the whole npm package folder, on loopback and through the
 *   emulated WAN link;
 * - a tree whose 50 MB file was renamed into another folder;
 * - 10,000 small unchanged files (the no-op update).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { cp, lstat, mkdir, readFile, readdir, readlink, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gosync, gosyncOnce, hasPeer, removeQuietly, rssText, zstdSize, type Ctx } from './context.js';
import { randomFile } from './inputs.js';
import { unpacked } from './npm-pairs.js';
import { loadNote, newSection, type Section } from './report.js';
import { capture, fmtInt, fmtRatio, fmtSec, gosyncJson, log, measure, type Measured, type Spec } from './util.js';
import { startWanProxy } from './wan-proxy.js';

/** Every entry of a folder: path → content hash, link target or 'dir'. */
async function listing(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, p));
      if (st.isSymbolicLink()) out.set(p, `link:${await readlink(join(root, p))}`);
      else if (st.isDirectory()) {
        out.set(p, `dir ${(st.mode & 0o777).toString(8)}`);
        await walk(p);
      } else
        out.set(
          p,
          `${(st.mode & 0o777).toString(8)} ${createHash('sha256')
            .update(await readFile(join(root, p)))
            .digest('hex')}`,
        );
    }
  };
  await walk('');
  return out;
}

async function checkTree(tool: string, got: string, want: string): Promise<void> {
  const [a, b] = await Promise.all([listing(got), listing(want)]);
  const diff = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
  if (diff.length > 0) throw new Error(`${tool} produced a different tree: ${diff.slice(0, 5).join(', ')}${diff.length > 5 ? ', …' : ''}`);
}

/** `rsync --stats` bytes: sent + received. */
function rsyncBytes(stdout: string): number {
  const sent = /Total bytes sent:\s*([\d,]+)/.exec(stdout);
  const received = /Total bytes received:\s*([\d,]+)/.exec(stdout);
  if (!sent || !received) throw new Error(`rsync printed no --stats: ${stdout.slice(0, 300)}`);
  return Number(sent[1]!.replace(/,/g, '')) + Number(received[1]!.replace(/,/g, ''));
}

interface TreePair {
  /** The old version, as a client has it. */
  old: string;
  /** The new version, as published. */
  next: string;
  /** Manifest URL of the new version. */
  url: string;
  files: number;
  bytes: number;
}

/** Copies `from` to `to` (a fresh folder), keeping mtimes. */
async function fresh(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  await cp(from, to, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
}

/** Specs for gosync and rsync moving `pair.old` → `pair.next` into `local`. */
function specsFor(ctx: Ctx, pair: TreePair, local: string, url: string, label: string, withRsync: boolean): Spec[] {
  const prep = async (): Promise<void> => {
    await fresh(pair.old, local);
    await ctx.server!.mark();
  };
  const specs: Spec[] = [
    {
      ...gosync(`gosync patch --delete (${label})`, ['patch', '-q', '--json', '--delete', local, url]),
      prep,
      after: async (r, i) => {
        if (i <= 0) await checkTree('gosync', local, pair.next);
        const t = await ctx.server!.since();
        return { wire: t.bytes, requests: t.requests, reported: Number(gosyncJson(r).receivedBytes) };
      },
    },
  ];
  if (withRsync && hasPeer(ctx, 'rsync')) {
    for (const z of [false, true]) {
      specs.push({
        name: `rsync -a${z ? 'z' : ''} --no-whole-file --delete (active peer)`,
        cmd: 'rsync',
        args: [`-a${z ? 'z' : ''}`, '--no-whole-file', '--delete', '--stats', `${pair.next}/`, `${local}/`],
        prep,
        after: async (r, i) => {
          if (i <= 0) await checkTree('rsync', local, pair.next);
          return { wire: rsyncBytes(r.stdout) };
        },
      });
    }
  }
  return specs;
}

/** Table rows; `sameLink` false: the times were taken over another link than `ref`'s (no time ratio). */
function rows(res: Measured[], ref: Measured | undefined, sameLink = true): string[][] {
  return res.map((r) => [
    r.name,
    fmtSec(r.wall),
    r.walls.map((w) => w.toFixed(2)).join(', '),
    fmtInt(r.metrics.wire!),
    r.metrics.requests === undefined ? '–' : fmtInt(r.metrics.requests),
    rssText(r.maxRss),
    ref ? fmtRatio(r.metrics.wire! / ref.metrics.wire!) : '–',
    ref && sameLink ? fmtRatio(r.wall / ref.wall) : '–',
  ]);
}

const HEADERS = ['tool', 'median s', 'runs (s)', 'bytes on the wire', 'requests', 'peak RSS', 'bytes ÷ rsync -az', 'time ÷ rsync -az'];

export async function caseTree(ctx: Ctx): Promise<Section> {
  const s = newSection('tree', '9. Folders: publish once, update any old copy');
  if (!ctx.server) {
    s.notes.push('Skipped: needs nginx.');
    return s;
  }
  s.intro.push(
    "gosync publishes each version into the same folder with `gosync build <dir> -o <pub>` at its defaults (compressed forms; the previous version's content is already there, so deltas from it are written too) and the client runs " +
      "`gosync patch --delete <dir> <manifest URL>` against nginx; bytes are nginx's `$body_bytes_sent` (manifest, indexes, deltas, objects). rsync moves the same update between two local folders with " +
      "`rsync -a --no-whole-file --delete --stats` (its delta algorithm, as between two hosts; `-z` adds compression) — an active peer on both ends, which a static server is not; its bytes are `--stats`' total sent + received. " +
      `Before every run the client folder is reset to a copy of the old version (mtimes kept). Median of ${ctx.opts.runs} timed run${ctx.opts.runs === 1 ? '' : 's'} after a warm-up, interleaved. ${loadNote()}`,
  );
  const root = join(ctx.bench, 'tree');
  const pub = join(ctx.www, 'tree');
  await mkdir(root, { recursive: true });
  const local = join(ctx.work, 'tree-local');

  // typescript 5.5.4 → 5.6.2: the npm tarballs carry one fixed mtime for every file, so the
  // copies get fresh ones, as a checkout or a build output has.
  if (hasPeer(ctx, 'npm')) {
    const v1 = join(root, 'typescript-5.5.4');
    const v2 = join(root, 'typescript-5.6.2');
    for (const [version, dir] of [
      ['5.5.4', v1],
      ['5.6.2', v2],
    ] as const) {
      await rm(dir, { recursive: true, force: true });
      await cp(await unpacked(ctx, 'typescript', version), dir, { recursive: true });
    }
    await rm(join(pub, 'ts'), { recursive: true, force: true });
    await gosyncOnce(['build', '-q', v1, '-o', join(pub, 'ts'), '-n', 'typescript']);
    const started = performance.now();
    const built = gosyncJson(await gosyncOnce(['build', '-q', '--json', v2, '-o', join(pub, 'ts'), '-n', 'typescript']));
    const buildSeconds = (performance.now() - started) / 1000;
    const pair: TreePair = {
      old: v1,
      next: v2,
      url: `${ctx.server.url}tree/ts/typescript.tree.json`,
      files: Number(built.files),
      bytes: Number(built.bytes),
    };
    log('tree: typescript folder');
    const res = await measure(specsFor(ctx, pair, local, pair.url, 'loopback', true), ctx.opts.runs, { label: 'tree ts' });
    const proxy = await startWanProxy({ target: { port: ctx.server.port }, delayMs: 25, rateBitsPerSecond: 100e6 });
    let wan: Measured[];
    try {
      const specs = specsFor(ctx, pair, local, pair.url.replace(ctx.server.url, proxy.url), 'WAN: 50 ms RTT, 100 Mbit/s', false);
      wan = await measure(specs, ctx.opts.runs, { label: 'tree ts wan', warmup: false });
    } finally {
      await proxy.close();
    }
    const tar = join(ctx.work, 'typescript-5.6.2.tar');
    await capture('tar', ['cf', tar, '--sort=name', '--mtime=2000-01-01', '--owner=0', '--group=0', '-C', v2, '.']);
    const zstd = await zstdSize(ctx, tar);
    await removeQuietly(tar);
    const az = res.find((r) => r.name.startsWith('rsync -az'));
    s.tables.push({ headers: HEADERS, rows: [...rows(res, az), ...rows(wan, az, false)] });
    const g = res[0]!;
    const gw = wan[0]!;
    s.notes.push(
      `typescript 5.5.4 → 5.6.2: ${pair.files} files, ${fmtInt(pair.bytes)} B. Publishing 5.6.2 into the folder holding 5.5.4 took ${buildSeconds.toFixed(1)} s and wrote ${fmtInt(Number(built.objectBytes))} B of objects. ` +
        (zstd ? `The whole new tree as one \`zstd -19\` tar: ${fmtInt(zstd.bytes)} B. ` : '') +
        `gosync's own count of bytes received (${fmtInt(g.metrics.reported!)}) equals nginx's: ${g.metrics.reported === g.metrics.wire ? 'yes' : 'no'}.`,
    );
    if (az) {
      s.targets.push({
        case: '9. typescript folder',
        target: 'at defaults, bytes from a static server ≤ rsync -az with an active server (1.23 MB when the issue was filed)',
        measured: `${fmtInt(g.metrics.wire!)} B; rsync -az ${fmtInt(az.metrics.wire!)} B (${fmtRatio(g.metrics.wire! / az.metrics.wire!)}×)`,
        met: g.metrics.wire! <= 1_230_000 && g.metrics.wire! <= az.metrics.wire!,
      });
    }
    s.targets.push({
      case: '9. typescript folder, WAN',
      target: 'update in ≤ 3 s over 50 ms / 100 Mbit/s',
      measured: `${fmtSec(gw.wall)} s`,
      met: gw.wall <= 3,
    });
  } else s.notes.push('typescript folder skipped: needs npm.');

  // A 50 MB file renamed into another folder.
  {
    const v1 = join(root, 'rename-v1');
    const v2 = join(root, 'rename-v2');
    await rm(v1, { recursive: true, force: true });
    await mkdir(join(v1, 'data'), { recursive: true });
    await randomFile(join(v1, 'data', 'big.bin'), 50_000_000, 'tree-rename');
    for (let i = 0; i < 50; i++) await writeFile(join(v1, `notes-${i}.txt`), `note ${i}\n`.repeat(40 + i));
    await fresh(v1, v2);
    await mkdir(join(v2, 'moved'));
    await rename(join(v2, 'data', 'big.bin'), join(v2, 'moved', 'renamed.bin'));
    await rm(join(pub, 'rename'), { recursive: true, force: true });
    await gosyncOnce(['build', '-q', v1, '-o', join(pub, 'rename'), '-n', 'tree']);
    await gosyncOnce(['build', '-q', v2, '-o', join(pub, 'rename'), '-n', 'tree']);
    const pair: TreePair = { old: v1, next: v2, url: `${ctx.server.url}tree/rename/tree.tree.json`, files: 51, bytes: 50_000_000 };
    log('tree: renamed 50 MB file');
    const res = await measure(specsFor(ctx, pair, local, pair.url, 'loopback', true), ctx.opts.runs, { label: 'tree rename' });
    s.tables.push({
      headers: HEADERS,
      rows: rows(
        res,
        res.find((r) => r.name.startsWith('rsync -az')),
      ),
    });
    const g = res[0]!;
    s.notes.push(
      'Renamed file: `data/big.bin` (50 MB, random) moved to `moved/renamed.bin`; rsync (without `--fuzzy`, which looks only in the same folder) sends it again.',
    );
    s.targets.push({
      case: '9. renamed 50 MB file',
      target: '≤ 1% of the file fetched',
      measured: `${fmtInt(g.metrics.wire!)} B (${((100 * g.metrics.wire!) / 50_000_000).toFixed(3)}%)`,
      met: g.metrics.wire! <= 500_000,
    });
  }

  // 10,000 small unchanged files.
  {
    const v = join(root, 'many');
    const mtime = new Date('2024-05-01T00:00:00Z');
    await rm(v, { recursive: true, force: true });
    for (let d = 0; d < 100; d++) {
      const sub = join(v, `d${d}`);
      await mkdir(sub, { recursive: true });
      await Promise.all(
        Array.from({ length: 100 }, async (_, f) => {
          const p = join(sub, `f${f}.txt`);
          await writeFile(p, `${d}/${f} `.repeat((f % 7) + 1));
          await utimes(p, mtime, mtime);
        }),
      );
    }
    await rm(join(pub, 'many'), { recursive: true, force: true });
    await gosyncOnce(['build', '-q', v, '-o', join(pub, 'many'), '-n', 'many']);
    const url = `${ctx.server.url}tree/many/many.tree.json`;
    // The client's copy: the same files with the same mtimes (as a first patch leaves them).
    await fresh(v, local);
    log('tree: 10,000-file no-op');
    const specs: Spec[] = [
      {
        ...gosync('gosync patch (no-op)', ['patch', '-q', '--json', local, url]),
        prep: () => ctx.server!.mark(),
        after: async () => {
          const t = await ctx.server!.since();
          return { wire: t.bytes, requests: t.requests };
        },
      },
    ];
    if (hasPeer(ctx, 'rsync'))
      specs.push({
        name: 'rsync -a (no-op, local)',
        cmd: 'rsync',
        args: ['-a', '--stats', `${v}/`, `${local}/`],
        after: async (r) => ({ wire: rsyncBytes(r.stdout) }),
      });
    const res = await measure(specs, ctx.opts.runs, { label: 'tree no-op' });
    s.tables.push({ headers: HEADERS.slice(0, 6), rows: rows(res, undefined).map((r) => r.slice(0, 6)) });
    const g = res[0]!;
    s.notes.push('No-op: 10,000 files of 4–50 B in 100 folders, all unchanged (same size and mtime); gosync fetches the manifest only.');
    s.targets.push({
      case: '9. 10,000 unchanged files',
      target: 'no-op update ≤ 2 s on loopback',
      measured: `${fmtSec(g.wall)} s (${fmtInt(g.metrics.requests!)} request, ${fmtInt(g.metrics.wire!)} B)`,
      met: g.wall <= 2,
    });
  }
  await rm(local, { recursive: true, force: true });
  return s;
}
