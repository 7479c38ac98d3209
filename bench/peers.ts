/**
 * The peer tools the benchmarks compare gosync with, and the helpers they need.
 *
 * Each tool is looked up on PATH (and the sbin folders). A missing one is installed with
 * `apt-get install -y` when we run as root on a Debian-like system (and `--no-install`
 * is not given); otherwise it is reported as missing and the cases that need it say so.
 *
 * @module
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { capture, log, resetGnuTimeCache } from './util.js';

export interface Peer {
  /** Short name used in reports. */
  name: string;
  /** Binaries that must all be present. */
  bins: string[];
  /** The Debian package that provides them. */
  apt?: string;
  /** How to ask the tool its version: argv, and a regexp whose first group is the version line. */
  version?: { args: string[]; pick?: RegExp };
  /** Resolved path of the first binary, when present. */
  path?: string | undefined;
  /** Version string, when present. */
  versionText?: string;
  /** Debian package version, when known. */
  debVersion?: string;
}

export const PEERS: Peer[] = [
  { name: 'zsync', bins: ['zsync', 'zsyncmake'], apt: 'zsync', version: { args: ['-V'], pick: /^(zsync v\S+)/m } },
  { name: 'rdiff', bins: ['rdiff'], apt: 'rdiff', version: { args: ['--version'], pick: /^(rdiff .*)$/m } },
  {
    name: 'rsync',
    bins: ['rsync'],
    apt: 'rsync',
    version: { args: ['--version'], pick: /^(rsync\s+version \S+\s+protocol version \d+)/m },
  },
  { name: 'xdelta3', bins: ['xdelta3'], apt: 'xdelta3', version: { args: ['-V'], pick: /^(Xdelta version [\d.]+)/m } },
  { name: 'zstd', bins: ['zstd'], apt: 'zstd', version: { args: ['-V'], pick: /(v[\d.]+)/ } },
  { name: 'bsdiff', bins: ['bsdiff', 'bspatch'], apt: 'bsdiff' },
  { name: 'nginx', bins: ['nginx'], apt: 'nginx', version: { args: ['-v'], pick: /(nginx\/[\d.]+)/ } },
  { name: 'time', bins: ['time'], apt: 'time' },
  { name: 'npm', bins: ['npm'], version: { args: ['--version'], pick: /^([\d.]+)/m } },
  { name: 'tar', bins: ['tar'], apt: 'tar', version: { args: ['--version'], pick: /^(tar .*)$/m } },
  { name: 'curl', bins: ['curl'], apt: 'curl', version: { args: ['--version'], pick: /^(curl \S+)/m } },
];

function findBinary(bin: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  // GNU time must be the binary, not the shell keyword.
  const extra = bin === 'time' ? ['/usr/bin'] : ['/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of bin === 'time' ? extra : [...dirs, ...extra]) {
    const p = join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

function locate(peer: Peer): boolean {
  const paths = peer.bins.map(findBinary);
  if (paths.some((p) => p === undefined)) return false;
  peer.path = paths[0];
  return true;
}

let aptUpdated = false;

async function aptInstall(pkgs: string[]): Promise<boolean> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  log(`installing ${pkgs.join(' ')} with apt-get…`);
  let r = await capture('apt-get', ['install', '-y', '-qq', ...pkgs], { env, timeoutMs: 600_000 });
  if (r.code !== 0 && !aptUpdated) {
    aptUpdated = true;
    await capture('apt-get', ['update', '-qq'], { env, timeoutMs: 600_000 });
    r = await capture('apt-get', ['install', '-y', '-qq', ...pkgs], { env, timeoutMs: 600_000 });
  }
  if (r.code !== 0) log(`apt-get install ${pkgs.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
  return r.code === 0;
}

/**
 * Finds every peer; installs the missing ones when allowed. Returns the peers with their
 * paths and versions filled in (a peer without `path` is missing).
 */
export async function findPeers(options: { install: boolean }): Promise<Map<string, Peer>> {
  const missing = PEERS.filter((p) => !locate(p));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const installable = missing.filter((p) => p.apt !== undefined);
  if (installable.length > 0 && options.install && isRoot && findBinary('apt-get') === undefined) {
    log('apt-get not found: cannot install missing peers');
  } else if (installable.length > 0 && options.install && isRoot) {
    await aptInstall(installable.map((p) => p.apt!));
    for (const p of installable) locate(p);
    resetGnuTimeCache();
  }
  for (const p of PEERS) {
    if (p.path === undefined) {
      log(`peer missing: ${p.name} (${p.bins.join(', ')})${isRoot ? '' : ' — run as root to install it'}`);
      continue;
    }
    if (p.version) {
      const r = await capture(p.path, p.version.args);
      const text = `${r.stdout}\n${r.stderr}`;
      p.versionText = (p.version.pick?.exec(text)?.[1] ?? text.trim().split('\n')[0] ?? '').replace(/\s+/g, ' ').trim();
    }
    if (p.apt) {
      const d = await capture('dpkg-query', ['-W', '-f', '$' + '{Version}', p.apt]);
      if (d.code === 0 && d.stdout.trim()) p.debVersion = d.stdout.trim();
    }
  }
  return new Map(PEERS.map((p) => [p.name, p]));
}

export function has(peers: Map<string, Peer>, name: string): boolean {
  return peers.get(name)?.path !== undefined;
}

/** `zsync v0.6.2 (Debian 0.6.2-5)` style label. */
export function peerLabel(p: Peer): string {
  if (p.path === undefined) return `${p.name}: missing`;
  const v = p.versionText ?? '';
  if (!v) return `${p.name}: ${p.debVersion ? `Debian ${p.debVersion}` : 'version unknown'}`;
  return `${p.name}: ${v}${p.debVersion ? ` (Debian ${p.debVersion})` : ''}`;
}
