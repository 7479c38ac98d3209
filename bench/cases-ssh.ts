/**
 * Case 10: push through ssh. `gosync push <new> host:<dest>` against `rsync -a -e ssh` and
 * `rsync -az -e ssh`, through the same real sshd (test/helpers/sshd.ts: a private sshd on
 * 127.0.0.1), on the npm pairs and the typescript package folder; the destination holds
 * the old version before every run. Bytes are counted at a TCP proxy in front of sshd
 * (every byte of the ssh connection, both ways): a pass-through one for loopback, the
 * emulated WAN link (50 ms RTT, 100 Mbit/s) for the WAN rows.
 *
 * @module
 */
import { cp, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startSshd, type Sshd } from '../test/helpers/sshd.js';
import { gosync, hasPeer, type Ctx } from './context.js';
import { NPM_PAIRS, unpacked, type NpmPair } from './npm-pairs.js';
import { loadNote, newSection, type Section } from './report.js';
import { GOSYNC_CLI, capture, fmtInt, fmtRatio, fmtSec, log, measure, sha256File, type Measured, type Spec } from './util.js';
import { startWanProxy, type WanProxy } from './wan-proxy.js';

interface SshPair {
  name: string;
  old: string;
  next: string;
  dir: boolean;
  bytes: number;
}

async function filePair(ctx: Ctx, p: NpmPair, root: string): Promise<SshPair | undefined> {
  if (!p.path) return undefined;
  const old = join(root, `${p.name}.old`);
  const next = join(root, `${p.name}.new`);
  await cp(join(await unpacked(ctx, p.pkg, p.from), p.path), old);
  await cp(join(await unpacked(ctx, p.pkg, p.to), p.path), next);
  return { name: p.name, old, next, dir: false, bytes: (await stat(next)).size };
}

async function folderPair(ctx: Ctx, root: string): Promise<SshPair> {
  const old = join(root, 'typescript-5.5.4');
  const next = join(root, 'typescript-5.6.2');
  for (const [v, d] of [
    ['5.5.4', old],
    ['5.6.2', next],
  ] as const) {
    await rm(d, { recursive: true, force: true });
    // Fresh mtimes (the npm tarballs give every file the same one).
    await cp(await unpacked(ctx, 'typescript', v), d, { recursive: true });
  }
  const { stdout } = await capture('du', ['-sb', next]);
  return { name: 'typescript folder', old, next, dir: true, bytes: Number(stdout.split(/\s/)[0]) };
}

async function same(a: string, b: string, dir: boolean): Promise<boolean> {
  if (!dir) return (await sha256File(a)) === (await sha256File(b));
  const r = await capture('diff', ['-r', '--no-dereference', a, b]);
  return r.code === 0;
}

function specs(ctx: Ctx, pair: SshPair, sshd: Sshd, proxy: WanProxy, dest: string, runLabel: string): Spec[] {
  const rsh = `${sshd.rsh} -p ${proxy.port}`;
  const prep = async (): Promise<void> => {
    await rm(dest, { recursive: true, force: true });
    await cp(pair.old, dest, { recursive: true, preserveTimestamps: true });
    proxy.reset();
  };
  const after =
    (tool: string) =>
    async (_r: unknown, i: number): Promise<Record<string, number>> => {
      const w = proxy.stats();
      if (i <= 0 && !(await same(pair.next, dest, pair.dir)))
        throw new Error(`${tool} (${runLabel}) left ${dest} different from ${pair.next}`);
      return { wire: w.down + w.up, down: w.down, up: w.up };
    };
  const src = pair.dir ? `${pair.next}/` : pair.next;
  const target = `${sshd.host}:${dest}${pair.dir ? '/' : ''}`;
  const out: Spec[] = [
    {
      ...gosync('gosync push', [
        'push',
        '-q',
        '--json',
        ...(pair.dir ? ['--delete'] : []),
        pair.next,
        `${sshd.host}:${dest}`,
        '-e',
        rsh,
        '--remote-cmd',
        `${process.execPath} ${GOSYNC_CLI}`,
      ]),
      prep,
      after: after('gosync'),
    },
  ];
  for (const z of [false, true]) {
    out.push({
      name: `rsync -a${z ? 'z' : ''} -e ssh`,
      cmd: 'rsync',
      args: [`-a${z ? 'z' : ''}`, ...(pair.dir ? ['--delete'] : []), '-e', rsh, src, target],
      prep,
      after: after('rsync'),
    });
  }
  void ctx;
  return out;
}

export async function caseSsh(ctx: Ctx): Promise<Section> {
  const s = newSection('ssh', '10. Push through ssh: gosync push against rsync -e ssh');
  if (!hasPeer(ctx, 'rsync') || !hasPeer(ctx, 'npm')) {
    s.notes.push('Skipped: needs rsync and npm.');
    return s;
  }
  const runs = Math.min(ctx.opts.runs, 3);
  s.intro.push(
    "A private sshd on 127.0.0.1 (test/helpers/sshd.ts: OpenSSH, ed25519 keys, one user) runs `gosync serve --stdio` for gosync and rsync's server for rsync; the destination holds the old version (mtimes kept) before every run and is checked against the new one after the first. " +
      'gosync runs `gosync push [--delete] <new> host:<dest> -e "ssh -F <cfg> -p <proxy>"`; rsync runs `rsync -a[z] [--delete] -e "ssh -F <cfg> -p <proxy>" <new> host:<dest>`. ' +
      'Bytes are counted at a TCP proxy in front of sshd, both directions, ssh framing and encryption included: a pass-through proxy for "loopback", `bench/wan-proxy.ts` (25 ms each way, 100 Mbit/s shared) for "WAN". ' +
      `Median of ${runs} timed run${runs === 1 ? '' : 's'}, interleaved, after a warm-up run (loopback) or none (WAN). ${loadNote()}`,
  );
  const root = join(ctx.bench, 'ssh');
  await mkdir(root, { recursive: true });
  const pairs: SshPair[] = [];
  for (const p of NPM_PAIRS) {
    const got = await filePair(ctx, p, root);
    if (got) pairs.push(got);
  }
  pairs.push(await folderPair(ctx, root));
  // Old and new versions get mtimes seconds apart (rsync's quick check compares seconds).
  for (const p of pairs) {
    await capture('find', [p.old, '-exec', 'touch', '-h', '-d', '2020-01-01T00:00:00Z', '{}', '+']);
    await capture('find', [p.next, '-exec', 'touch', '-h', '-d', '2024-01-01T00:00:00Z', '{}', '+']);
  }
  const sshd = await startSshd();
  // Its own folder, not .bench/work: a bench run ending meanwhile (another group) removes that.
  const dest = join(root, `dest-${process.pid}`);
  const rows: string[][] = [];
  let bytesOk = true;
  let timeOk = true;
  const misses: string[] = [];
  try {
    for (const mode of ['loopback', 'WAN'] as const) {
      const proxy = await startWanProxy(
        mode === 'loopback'
          ? { target: { port: sshd.port }, delayMs: 0, rateBitsPerSecond: 1e12, handshake: false }
          : { target: { port: sshd.port }, delayMs: 25, rateBitsPerSecond: 100e6 },
      );
      try {
        for (const pair of pairs) {
          log(`ssh ${mode}: ${pair.name}`);
          const res: Measured[] = await measure(specs(ctx, pair, sshd, proxy, dest, mode), runs, {
            label: `ssh ${mode} ${pair.name}`,
            warmup: mode === 'loopback',
          });
          const [g, r, rz] = res as [Measured, Measured, Measured];
          rows.push([
            `${pair.name} (${fmtInt(pair.bytes)} B), ${mode}`,
            fmtSec(g.wall),
            fmtSec(r.wall),
            fmtSec(rz.wall),
            fmtInt(g.metrics.wire!),
            fmtInt(r.metrics.wire!),
            fmtInt(rz.metrics.wire!),
            fmtRatio(g.metrics.wire! / rz.metrics.wire!),
            fmtRatio(g.wall / Math.min(r.wall, rz.wall)),
          ]);
          if (g.metrics.wire! > rz.metrics.wire!) {
            bytesOk = false;
            misses.push(`${pair.name} ${mode}: bytes ${fmtInt(g.metrics.wire!)} > rsync -z ${fmtInt(rz.metrics.wire!)}`);
          }
          if (g.wall > Math.min(r.wall, rz.wall)) {
            timeOk = false;
            misses.push(`${pair.name} ${mode}: ${fmtSec(g.wall)} s > rsync ${fmtSec(Math.min(r.wall, rz.wall))} s`);
          }
        }
      } finally {
        await proxy.close();
      }
    }
  } finally {
    await sshd.stop();
    await rm(dest, { recursive: true, force: true });
  }
  s.tables.push({
    headers: [
      'pair, link',
      'gosync s',
      'rsync -a s',
      'rsync -az s',
      'gosync bytes',
      'rsync -a bytes',
      'rsync -az bytes',
      'bytes ÷ rsync -az',
      'time ÷ faster rsync',
    ],
    rows,
  });
  if (misses.length > 0) s.notes.push(`Where gosync is behind: ${misses.join('; ')}.`);
  s.targets.push({
    case: '10. ssh',
    target: "bytes on the wire ≤ rsync -z's on every pair (loopback and WAN)",
    measured: bytesOk ? 'every pair' : misses.filter((m) => m.includes('bytes')).join('; '),
    met: bytesOk,
  });
  s.targets.push({
    case: '10. ssh',
    target: "wall time ≤ rsync's on every pair (loopback and WAN)",
    measured: timeOk ? 'every pair (against the faster of rsync -a and -az)' : misses.filter((m) => !m.includes('bytes')).join('; '),
    met: timeOk,
  });
  return s;
}
