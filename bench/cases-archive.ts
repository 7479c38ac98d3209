/**
 * Case 11: compressed archives updated by what changed inside them (docs/archives.md).
 * npm's own tarballs (`npm pack`, cached in `.bench/npm-tgz/`) published as they are,
 * against the same update on their uncompressed tar (the gzip payload itself) and against
 * today's handling of the .tgz as opaque bytes; a jar from the npm registry in two
 * adjacent versions against the targets for zip archives.
 *
 * Every figure is bytes counted at nginx for one `gosync patch` of the old version,
 * index included; the output is checked against the published file.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { PUBLISH_DEFAULTS, buildIndexFile } from '../src/file/build-file.js';
import { type Ctx, checkOutput, deltaToolSizes, gosyncOnce, hasPeer, removeQuietly, smallestDelta } from './context.js';
import { unpacked } from './npm-pairs.js';
import { loadNote, newSection, type Section } from './report.js';
import { fmtInt, fmtRatio, gosyncJson, log } from './util.js';

const exec = promisify(execFile);

interface ArchivePair {
  name: string;
  pkg: string;
  from: string;
  to: string;
}

/** The .tgz pairs of the issue, and one whose tarballs (2014–15) Node's zlib does not reproduce. */
const TGZ_PAIRS: ArchivePair[] = [
  { name: 'typescript', pkg: 'typescript', from: '5.5.4', to: '5.6.2' },
  { name: 'esbuild', pkg: '@esbuild/linux-x64', from: '0.25.0', to: '0.25.1' },
  { name: 'jquery', pkg: 'jquery', from: '1.11.1', to: '1.11.2' },
];

/**
 * The zip pair: Closure Compiler's jar (`compiler.jar`, 14.6 MB, about 7,200 entries) as
 * npm's `google-closure-compiler-java` ships it, two adjacent releases (chosen with
 * `npm view google-closure-compiler-java versions`).
 */
const JAR_PAIR = {
  name: 'compiler.jar',
  pkg: 'google-closure-compiler-java',
  from: '20261011.0.0',
  to: '20261015.0.0',
  path: 'compiler.jar',
};

/** `npm pack pkg@version` once, kept in `.bench/npm-tgz/`. */
async function tarball(ctx: Ctx, pkg: string, version: string): Promise<string> {
  const dir = join(ctx.bench, 'npm-tgz', `${pkg.replace('/', '_')}-${version}`);
  await mkdir(dir, { recursive: true });
  let found = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
  if (!found) {
    log(`npm pack ${pkg}@${version}…`);
    await exec('npm', ['pack', `${pkg}@${version}`, '--silent', '--pack-destination', dir], { cwd: dir, timeout: 600_000 });
    found = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
    if (!found) throw new Error(`npm pack ${pkg}@${version} produced no tarball`);
  }
  return join(dir, found);
}

/** Publishes `file` as `name` in a fresh folder of www/archive/ and returns the index URL. */
async function publish(
  ctx: Ctx,
  folder: string,
  file: string,
  name: string,
  how: { base?: string; today?: boolean },
): Promise<{ url: string; published: string; build: Record<string, unknown> }> {
  const dir = join(ctx.www, 'archive', folder);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const published = join(dir, name);
  await copyFile(file, published);
  let build: Record<string, unknown>;
  if (how.today) {
    // Today's handling: the file as opaque bytes (the library's build with the CLI's defaults).
    build = {
      ...(await buildIndexFile(published, `${published}.gosync`, {
        compress: { ...PUBLISH_DEFAULTS, ...(how.base ? { bases: [how.base] } : {}) },
      })),
    };
  } else {
    build = gosyncJson(await gosyncOnce(['build', '-q', '--json', ...(how.base ? ['--base', how.base] : []), published]));
  }
  return { url: `${ctx.server!.url}archive/${folder}/${name}.gosync`, published, build };
}

/** Bytes at nginx for patching a copy of `old` to the file behind `url`. */
async function patchBytes(
  ctx: Ctx,
  old: string,
  url: string,
  published: string,
): Promise<{ bytes: number; report: Record<string, unknown> }> {
  const local = join(ctx.work, 'archive-local');
  await copyFile(old, local);
  await ctx.server!.mark();
  const r = await gosyncOnce(['patch', '-q', '--json', local, url]);
  const t = await ctx.server!.since();
  await checkOutput('gosync', local, published);
  await removeQuietly(local);
  return { bytes: t.bytes, report: gosyncJson(r) };
}

/** One row of the .tgz table: each way's bytes. */
async function tgzRow(ctx: Ctx, pair: ArchivePair) {
  const oldTgz = await tarball(ctx, pair.pkg, pair.from);
  const newTgz = await tarball(ctx, pair.pkg, pair.to);
  // The uncompressed tar: exactly the gzip payload of each tarball.
  const oldTar = join(ctx.work, `${pair.name}-old.tar`);
  const newTar = join(ctx.work, `${pair.name}-new.tar`);
  await writeFile(oldTar, gunzipSync(await readFile(oldTgz)));
  await writeFile(newTar, gunzipSync(await readFile(newTgz)));
  const name = `${pair.name}.tgz`;
  const ways = {
    tgz: await publish(ctx, `${pair.name}-tgz`, newTgz, name, {}),
    tgzBase: await publish(ctx, `${pair.name}-tgz-base`, newTgz, name, { base: oldTgz }),
    tar: await publish(ctx, `${pair.name}-tar`, newTar, `${pair.name}.tar`, {}),
    tarBase: await publish(ctx, `${pair.name}-tar-base`, newTar, `${pair.name}.tar`, { base: oldTar }),
    today: await publish(ctx, `${pair.name}-today`, newTgz, name, { today: true }),
    todayBase: await publish(ctx, `${pair.name}-today-base`, newTgz, name, { base: oldTgz, today: true }),
  };
  const bytes = {
    tgz: await patchBytes(ctx, oldTgz, ways.tgz.url, ways.tgz.published),
    tgzBase: await patchBytes(ctx, oldTgz, ways.tgzBase.url, ways.tgzBase.published),
    tar: await patchBytes(ctx, oldTar, ways.tar.url, ways.tar.published),
    tarBase: await patchBytes(ctx, oldTar, ways.tarBase.url, ways.tarBase.published),
    today: await patchBytes(ctx, oldTgz, ways.today.url, ways.today.published),
    todayBase: await patchBytes(ctx, oldTgz, ways.todayBase.url, ways.todayBase.published),
  };
  await removeQuietly(oldTar, newTar);
  const archive = ways.tgz.build.archive as { reproduced: boolean; level?: number; memLevel?: number; reason?: string } | undefined;
  return { pair, size: (await stat(newTgz)).size, payload: Number(ways.tar.build.fileSize), archive, bytes };
}

/** Entries of a zip by name: CRC-32, sizes and the compressed size, from its central directory. */
function zipEntries(zip: Buffer): Map<string, { crc: number; csize: number; usize: number }> {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 5, 6]));
  if (eocd < 0) throw new Error('not a zip: no end of central directory');
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const out = new Map<string, { crc: number; csize: number; usize: number }>();
  for (let i = 0; i < count; i++) {
    const n = zip.readUInt16LE(p + 28);
    const m = zip.readUInt16LE(p + 30);
    const k = zip.readUInt16LE(p + 32);
    out.set(zip.toString('utf8', p + 46, p + 46 + n), {
      crc: zip.readUInt32LE(p + 16),
      csize: zip.readUInt32LE(p + 20),
      usize: zip.readUInt32LE(p + 24),
    });
    p += 46 + n + m + k;
  }
  return out;
}

async function jarRow(ctx: Ctx) {
  const oldJar = join(ctx.work, 'old.jar');
  await copyFile(join(await unpacked(ctx, JAR_PAIR.pkg, JAR_PAIR.from), JAR_PAIR.path), oldJar);
  const newJar = join(await unpacked(ctx, JAR_PAIR.pkg, JAR_PAIR.to), JAR_PAIR.path);
  const [a, b] = [zipEntries(await readFile(oldJar)), zipEntries(await readFile(newJar))];
  let changed = 0;
  let changedBytes = 0;
  for (const [name, e] of b) {
    const o = a.get(name);
    if (!o || o.crc !== e.crc || o.csize !== e.csize) {
      changed++;
      changedBytes += e.csize;
    }
  }
  const plain = await publish(ctx, 'jar', newJar, JAR_PAIR.name, {});
  const based = await publish(ctx, 'jar-base', newJar, JAR_PAIR.name, { base: oldJar });
  const defaults = await patchBytes(ctx, oldJar, plain.url, plain.published);
  const withBase = await patchBytes(ctx, oldJar, based.url, based.published);
  const tools = await deltaToolSizes(ctx, oldJar, newJar);
  await removeQuietly(oldJar);
  return { entries: b.size, changed, changedBytes, size: (await stat(newJar)).size, defaults, withBase, tools, best: smallestDelta(tools) };
}

export async function caseArchive(ctx: Ctx): Promise<Section> {
  const s = newSection('archive', '11. Compressed archives: .tgz and jar');
  s.intro.push(
    "npm's own tarballs (`npm pack`, cached in `.bench/npm-tgz/`) and a jar from the npm registry, each published with `gosync build` (defaults, and `--base <old>`) and patched from the old version with `gosync patch` through nginx; bytes are counted at nginx, index included, one run each (the bytes do not vary). " +
      '"tar" is the same update on the uncompressed tar (each tarball\'s gzip payload, published as a plain file); "today" is the .tgz published as opaque bytes (the library\'s `buildIndexFile` with the CLI\'s defaults, what `gosync build` did before it looked inside gzip files). ' +
      loadNote(),
  );
  if (!ctx.server || !hasPeer(ctx, 'npm')) {
    s.notes.push('Skipped: needs nginx and npm.');
    return s;
  }
  await mkdir(ctx.work, { recursive: true });
  const rows: string[][] = [];
  for (const pair of TGZ_PAIRS) {
    let r: Awaited<ReturnType<typeof tgzRow>>;
    try {
      r = await tgzRow(ctx, pair);
    } catch (err) {
      s.notes.push(`${pair.pkg} ${pair.from} → ${pair.to}: not measured (${(err as Error).message.split('\n')[0]})`);
      continue;
    }
    const { bytes: b } = r;
    const inside = r.archive?.reproduced ? `yes (zlib ${r.archive.level}/${r.archive.memLevel})` : `no: ${r.archive?.reason ?? 'not gzip'}`;
    rows.push([
      `${pair.pkg} ${pair.from} → ${pair.to}`,
      fmtInt(r.size),
      fmtInt(r.payload),
      inside,
      fmtInt(b.tar.bytes),
      fmtInt(b.tgz.bytes),
      fmtRatio(b.tgz.bytes / b.tar.bytes),
      fmtInt(b.tarBase.bytes),
      fmtInt(b.tgzBase.bytes),
      fmtRatio(b.tgzBase.bytes / b.tarBase.bytes),
      fmtInt(b.today.bytes),
      fmtInt(b.todayBase.bytes),
    ]);
    if (r.archive?.reproduced) {
      s.targets.push({
        case: '11. archives',
        target: `${pair.pkg} .tgz ≤ 1.1× the same update on the uncompressed tar, at defaults and with --base`,
        measured: `defaults ${fmtInt(b.tgz.bytes)} vs ${fmtInt(b.tar.bytes)} B (${fmtRatio(b.tgz.bytes / b.tar.bytes)}×); --base ${fmtInt(b.tgzBase.bytes)} vs ${fmtInt(b.tarBase.bytes)} B (${fmtRatio(b.tgzBase.bytes / b.tarBase.bytes)}×)`,
        met: b.tgz.bytes <= 1.1 * b.tar.bytes && b.tgzBase.bytes <= 1.1 * b.tarBase.bytes,
      });
    } else {
      s.targets.push({
        case: '11. archives',
        target: `${pair.pkg} .tgz that does not reproduce: no more bytes than today`,
        measured: `defaults ${fmtInt(b.tgz.bytes)} vs today ${fmtInt(b.today.bytes)} B; --base ${fmtInt(b.tgzBase.bytes)} vs today ${fmtInt(b.todayBase.bytes)} B`,
        met: b.tgz.bytes <= b.today.bytes && b.tgzBase.bytes <= b.todayBase.bytes,
      });
    }
  }
  s.tables.push({
    headers: [
      'pair',
      '.tgz size',
      'payload (tar)',
      'looked inside',
      'tar bytes',
      '.tgz bytes',
      '.tgz ÷ tar',
      'tar --base',
      '.tgz --base',
      '÷',
      'today',
      'today --base',
    ],
    rows,
  });
  try {
    const j = await jarRow(ctx);
    const budget = j.changedBytes + Number(j.defaults.report.indexBytes ?? 0);
    const tool = (r: { bytes: number } | undefined) => (r ? fmtInt(r.bytes) : '–');
    // Where --base's bytes went: the index read (its tail, for a client holding the base) and the delta.
    const baseIndex = Number(j.withBase.report.indexBytes ?? 0);
    s.tables.push({
      headers: [
        'jar pair',
        'size',
        'entries (changed or new)',
        'changed+new compressed',
        'gosync defaults',
        'gosync --base (index + delta)',
        'xdelta3 -9',
        'zstd -19 --long=27 --patch-from',
        'bsdiff',
      ],
      rows: [
        [
          `${JAR_PAIR.pkg} ${JAR_PAIR.from} → ${JAR_PAIR.to}, ${JAR_PAIR.path}`,
          fmtInt(j.size),
          `${fmtInt(j.entries)} (${j.changed})`,
          fmtInt(j.changedBytes),
          fmtInt(j.defaults.bytes),
          `${fmtInt(j.withBase.bytes)} (${fmtInt(baseIndex)} + ${fmtInt(j.withBase.bytes - baseIndex)})`,
          tool(j.tools.xdelta3),
          tool(j.tools.zstdPatch),
          tool(j.tools.bsdiff),
        ],
      ],
    });
    s.targets.push({
      case: '11. archives',
      target: 'zip pair at defaults ≤ 1.05× the compressed size of changed+new entries plus the index',
      measured: `${fmtInt(j.defaults.bytes)} B vs ${fmtInt(budget)} B (${fmtRatio(j.defaults.bytes / budget)}×)`,
      met: j.defaults.bytes <= 1.05 * budget,
    });
    if (j.best) {
      s.targets.push({
        case: '11. archives',
        target: 'zip pair with --base ≤ the smallest of xdelta3, zstd --patch-from and bsdiff',
        measured: `${fmtInt(j.withBase.bytes)} B vs ${j.best.name} ${fmtInt(j.best.bytes)} B`,
        met: j.withBase.bytes <= j.best.bytes,
      });
    }
  } catch (err) {
    s.notes.push(`jar pair: not measured (${(err as Error).message.split('\n')[0]})`);
  }
  return s;
}
