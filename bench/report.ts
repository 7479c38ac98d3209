/**
 * Report model and rendering: sections of markdown tables, the targets of the issue with
 * their verdicts, and `BENCHMARKS.md` with the machine description and the command.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { peerLabel, type Peer } from './peers.js';
import { REPO } from './util.js';

export interface Table {
  headers: string[];
  rows: string[][];
}

export interface Target {
  /** Which case, e.g. "1. index build". */
  case: string;
  /** The target, verbatim from the issue. */
  target: string;
  /** What was measured, with numbers. */
  measured: string;
  /** true met, false not met, undefined not measured. */
  met: boolean | undefined;
}

export interface Section {
  id: string;
  title: string;
  intro: string[];
  tables: Table[];
  notes: string[];
  targets: Target[];
}

/** The load average when a case starts: this machine is shared, and other work slows every tool. */
export function loadNote(): string {
  const [one, five] = loadavg();
  return `Load average when the case started: ${one!.toFixed(2)} (1 min), ${five!.toFixed(2)} (5 min) on ${cpus().length} cores.`;
}

export function newSection(id: string, title: string): Section {
  return { id, title, intro: [], tables: [], notes: [], targets: [] };
}

export function renderTable(t: Table): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const numeric = t.headers.map(
    (_, c) => t.rows.length > 0 && t.rows.every((r) => /^[-–+]?[\d.,×%]+( ?[kMG]?B| s|×)?$|^–$|^$/.test(r[c] ?? '')),
  );
  const lines = [`| ${t.headers.map(esc).join(' | ')} |`, `|${t.headers.map((_, c) => (numeric[c] ? '---:' : '---')).join('|')}|`];
  for (const r of t.rows) lines.push(`| ${t.headers.map((_, c) => esc(r[c] ?? '')).join(' | ')} |`);
  return lines.join('\n');
}

export function renderSection(s: Section): string {
  const parts = [`## ${s.title}`, ''];
  if (s.intro.length) parts.push(s.intro.join('\n'), '');
  for (const t of s.tables) parts.push(renderTable(t), '');
  if (s.targets.length) {
    for (const t of s.targets) parts.push(`- **Target** (${t.case}: ${t.target}): ${verdict(t.met)} — ${t.measured}`);
    parts.push('');
  }
  if (s.notes.length) {
    for (const n of s.notes) parts.push(`- ${n}`);
    parts.push('');
  }
  return parts.join('\n');
}

export function verdict(met: boolean | undefined): string {
  return met === undefined ? 'not measured' : met ? '**met**' : '**NOT met**';
}

/** Where a run with unmet targets points for the reasons (hand-written, with its own commands). */
export const UNMET_NOTE =
  'Why the targets marked NOT met are not met, with the profiles behind each gap (separate profiling runs, each with the command that produced it): [docs/performance.md](docs/performance.md).';

export function renderTargets(sections: readonly Section[]): string {
  const targets = sections.flatMap((s) => s.targets);
  if (targets.length === 0) return '';
  return renderTable({
    headers: ['case', 'target (issue text)', 'verdict', 'measured'],
    rows: targets.map((t) => [t.case, t.target, verdict(t.met).replace(/\*/g, ''), t.measured]),
  });
}

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  node: string;
  gosync: string;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
  } catch {
    return '';
  }
}

export function describeMachine(): Machine {
  const cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  let version = '';
  try {
    version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version?: string }).version ?? '';
  } catch {}
  const commit = git(['rev-parse', '--short', 'HEAD']).trim();
  const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', 'src'])
    .split('\n')
    .filter((l) => l.trim() !== '');
  const untracked = git(['status', '--porcelain', '--', 'src'])
    .split('\n')
    .filter((l) => l.startsWith('??'));
  const changed = [...dirty, ...untracked].map((l) => l.slice(3)).filter(Boolean);
  return {
    cpu,
    cores: cpus().length,
    ramGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `Linux ${release()}`,
    node: process.version,
    gosync: `gosync ${version} at commit ${commit || '?'}${changed.length ? ` plus uncommitted changes in the working tree (${changed.join(', ')})` : ''}, compiled by \`tsc\` and bundled by \`scripts/bundle.ts\` into a private snapshot (\`.bench/snapshot/dist\`, the same output as \`dist/\`, so that a rebuild of \`dist/\` during the run cannot change the code under test) and run as \`node <snapshot>/bundle/cli/main.cjs\``,
  };
}

export interface ReportHeader {
  command: string;
  date: Date;
  machine: Machine;
  peers: Map<string, Peer>;
  method: string[];
  durationSeconds: number;
}

export function renderDocument(h: ReportHeader, sections: readonly Section[]): string {
  const m = h.machine;
  const tools = [...h.peers.values()].map((p) => `- ${peerLabel(p)}`);
  const out = [
    '# gosync benchmarks',
    '',
    `Produced by \`${h.command}\` on ${h.date
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' UTC')} (the whole run took ${(h.durationSeconds / 60).toFixed(1)} min).`,
    'Regenerate with the same command; `npm run bench -- --help` lists the options. The suite is in `bench/` (entry `bench/run.ts`).',
    '',
    '## Machine',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores (a shared, noisy VM: timings vary between runs)`,
    `- RAM: ${m.ramGiB} GiB; ${m.kernel}`,
    `- Node ${m.node}; ${m.gosync}`,
    ...tools,
    '',
    '## Method',
    '',
    ...h.method.map((l) => `- ${l}`),
    '',
    '## Targets',
    '',
    renderTargets(sections),
    '',
    ...(sections.some((x) => x.targets.some((t) => t.met === false)) ? [UNMET_NOTE, ''] : []),
    ...sections.map(renderSection),
  ];
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}

export async function writeDocument(path: string, text: string): Promise<void> {
  await writeFile(path, text);
}
