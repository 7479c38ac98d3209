/**
 * `npm run bench`: gosync against its peers (zsync, rdiff, rsync, xdelta3, zstd) on the
 * same inputs in the same run; prints markdown tables and writes `BENCHMARKS.md`.
 *
 * Not part of the tests. Inputs are generated deterministically into `.bench/`
 * (gitignored) and reused between runs; nginx serves `.bench/www` on 127.0.0.1.
 *
 *     npm run bench                          # everything: 256 MiB pairs, 5 runs, 4 GiB files → BENCHMARKS.md
 *     npm run bench -- --quick               # 64 MiB, 1 run, no 4 GiB: a fast check
 *     npm run bench -- --only build,micro    # some groups only
 *     npm run bench -- --runs 5 --no-4g
 *
 * Groups: build, unrelated, identical, edited, npm, wan, 4g, micro, tree, ssh, archive.
 *
 * @module
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { case4g } from './cases-4g.js';
import { caseBuild, caseEdited, caseIdentical, caseUnrelated, prepareMain, type MainInputs } from './cases-local.js';
import { caseWan } from './cases-wan.js';
import { caseHttp2 } from './cases-http2.js';
import type { Ctx, Options } from './context.js';
import { caseMicro } from './micro.js';
import { caseNpm } from './npm-pairs.js';
import { caseTree } from './cases-tree.js';
import { caseSsh } from './cases-ssh.js';
import { caseArchive } from './cases-archive.js';
import { findPeers, has } from './peers.js';
import { describeMachine, newSection, renderDocument, renderSection, renderTargets, writeDocument, type Section } from './report.js';
import { BenchServer } from './server.js';
import { MiB, REPO, gnuTime, log, parseSize, sizeLabel } from './util.js';

export const GROUPS = [
  'build',
  'unrelated',
  'identical',
  'edited',
  'npm',
  'wan',
  '4g',
  'micro',
  'tree',
  'ssh',
  'archive',
  'http2',
] as const;
type Group = (typeof GROUPS)[number];

const HELP = `Usage: npm run bench -- [options]

Runs gosync and its peers on the same inputs and prints a table per case; writes
BENCHMARKS.md (full runs) or .bench/BENCHMARKS.partial.md (--quick, --only, --size).

Options:
  --quick             64 MiB pairs, 1 run, no 4 GiB files (a fast check)
  --only <groups>     comma-separated, repeatable: ${GROUPS.join(', ')}
  --runs <n>          timed runs per tool (median reported; default 5)
  --runs-4g <n>       timed runs of the 4 GiB cases (default 1)
  --size <size>       size of the generated pairs (default 256M)
  --no-4g             skip the 4 GiB files
  --keep              keep the 4 GiB files and the outputs in .bench/
  --no-install        do not apt-get install missing peers
  --out <path>        where to write the markdown report
  -h, --help          this text
`;

function parseOptions(argv: string[]): Options & { out: string | undefined; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string', multiple: true },
      runs: { type: 'string' },
      'runs-4g': { type: 'string' },
      size: { type: 'string' },
      'no-4g': { type: 'boolean' },
      keep: { type: 'boolean' },
      'no-install': { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const quick = values.quick ?? false;
  const only = values.only
    ?.flatMap((o) => o.split(','))
    .map((o) => o.trim())
    .filter(Boolean);
  for (const g of only ?? [])
    if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`unknown group "${g}" (groups: ${GROUPS.join(', ')})`);
  const runs = Number(values.runs ?? (quick ? 1 : 5));
  const runs4g = Number(values['runs-4g'] ?? 1);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer`);
  if (!Number.isInteger(runs4g) || runs4g < 1) throw new Error(`--runs-4g must be a positive integer`);
  return {
    size: parseSize(values.size ?? (quick ? '64M' : '256M')),
    runs,
    runs4g,
    quick,
    no4g: (values['no-4g'] ?? false) || quick,
    keep: values.keep ?? false,
    install: !(values['no-install'] ?? false),
    only: only ? new Set(only) : undefined,
    out: values.out,
    help: values.help ?? false,
  };
}

function methodLines(ctx: Ctx): string[] {
  return [
    `Every tool runs as a separate process on the same inputs in the same run. gosync runs through its CLI (\`node …/bundle/cli/main.cjs … --json\`, the command as npm installs it), as a user would; its JSON report is read for reuse figures and the plan it chose, and where a note quotes what gosync fetched (cases 4 and 6) it says so — bytes in the tables and targets are counted at the server or proxy.`,
    `Times are wall-clock seconds from spawn to exit, measured by the bench (so gosync's times include starting Node and loading its CLI — case 1 measures that alone), median of ${ctx.opts.runs} timed run${ctx.opts.runs === 1 ? '' : 's'} after one untimed warm-up run per tool (unless a case says otherwise); the tools are interleaved run by run so that noise on this shared machine falls on all of them alike.`,
    'Page cache warm for every tool alike: each case reads its input files once before timing. Outputs go to a separate file on the same disk and are checked against the reference (SHA-256) on the first run.',
    'CPU seconds (user + system, children included) and peak RSS come from `/usr/bin/time -v` ("Maximum resident set size") wrapped around every command. On this shared machine other jobs inflate wall times (each case states the load average when it started; the min–max columns show the spread); CPU seconds are the steadier comparison.',
    "Bytes on the wire are counted at the server, from nginx's access log (`$body_bytes_sent`: response bodies including multipart boundaries, excluding response headers), or at the WAN proxy (every byte, headers included), never from gosync's report; rsync's bytes between two local folders (case 9) come from its `--stats` (there is no server to count at), and through ssh (case 10) at a proxy in front of sshd.",
    `nginx ${ctx.peers.get('nginx')?.versionText ?? ''} on 127.0.0.1 with a private config (test/helpers/nginx.ts: one worker, sendfile, keep-alive), serving \`.bench/www\`.`,
    `Generated inputs are deterministic (AES-128-CTR keystreams and a seeded PRNG for the edits, bench/inputs.ts) and kept in \`.bench/\` between runs.`,
    'MB/s are decimal megabytes (10^6 B) per second of the size stated in each case. "gosync ÷ peer" speed ratios are peer time ÷ gosync time (> 1: gosync faster); byte ratios are gosync bytes ÷ peer bytes (< 1: gosync moved fewer).',
  ];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv);
  if (o.help) {
    process.stdout.write(HELP);
    return;
  }
  const started = performance.now();
  const selected = new Set<Group>(GROUPS.filter((g) => (o.only ? o.only.has(g) : true) && !(g === '4g' && o.no4g)));
  const full = !o.quick && o.only === undefined && o.size === 256 * MiB;
  const outPath = o.out ?? (full ? join(REPO, 'BENCHMARKS.md') : join(REPO, '.bench', 'BENCHMARKS.partial.md'));
  const bench = join(REPO, '.bench');
  const ctx: Ctx = { opts: o, bench, www: join(bench, 'www'), work: join(bench, 'work'), peers: new Map(), server: undefined, shared: {} };
  await mkdir(ctx.www, { recursive: true });
  await mkdir(ctx.work, { recursive: true });
  log(`gosync bench: groups ${[...selected].join(', ')}; ${sizeLabel(o.size)} pairs; ${o.runs} run(s)`);

  ctx.peers = await findPeers({ install: o.install });
  if (!gnuTime()) log('GNU time (/usr/bin/time) is missing: CPU time and peak RSS will not be reported');
  if (has(ctx.peers, 'nginx')) ctx.server = await BenchServer.start(ctx.www);
  if (!ctx.server) log('nginx is missing: the cases over HTTP are skipped');

  const sections: Section[] = [];
  const emit = (s: Section): void => {
    sections.push(s);
    process.stdout.write(`\n${renderSection(s)}\n`);
  };
  const guarded = async (id: Group, title: string, fn: () => Promise<Section>): Promise<void> => {
    if (!selected.has(id)) return;
    log(`\n== ${title}`);
    try {
      emit(await fn());
    } catch (err) {
      const s = newSection(id, title);
      s.notes.push(`**Failed**: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`);
      log((err as Error).stack ?? String(err));
      emit(s);
    }
  };

  let main: MainInputs | undefined;
  try {
    if (['build', 'unrelated', 'identical', 'edited', 'micro'].some((g) => selected.has(g as Group))) {
      log(`\n== preparing the ${sizeLabel(o.size)} inputs in ${relative(process.cwd(), bench) || '.'}`);
      main = await prepareMain(ctx);
    }
    await guarded('build', '1. index build', () => caseBuild(ctx, main!));
    await guarded('unrelated', '2. unrelated local file', () => caseUnrelated(ctx, main!));
    await guarded('identical', '3. identical local file', () => caseIdentical(ctx, main!));
    await guarded('edited', '4. edited pair', () => caseEdited(ctx, main!));
    await guarded('npm', '5. npm pairs', () => caseNpm(ctx));
    await guarded('wan', '6. WAN', () => caseWan(ctx));
    await guarded('4g', '7. 4 GiB files', () => case4g(ctx));
    await guarded('micro', '8. micro-benchmarks', () => caseMicro(ctx, main));
    await guarded('tree', '9. folders', () => caseTree(ctx));
    await guarded('ssh', '10. ssh', () => caseSsh(ctx));
    await guarded('archive', '11. archives', () => caseArchive(ctx));
    await guarded('http2', '12. HTTP/2', () => caseHttp2(ctx));
    if (o.no4g && (o.only === undefined || o.only.has('4g'))) {
      const s = newSection('4g', '7. Files of 4 GiB and just over 4 GiB');
      s.notes.push(`Skipped (${o.quick ? '--quick' : '--no-4g'}).`);
      sections.splice(
        sections.findIndex((x) => x.id === 'micro') === -1 ? sections.length : sections.findIndex((x) => x.id === 'micro'),
        0,
        s,
      );
    }
  } finally {
    await ctx.server?.close();
    if (!o.keep) await rm(ctx.work, { recursive: true, force: true });
  }

  const seconds = (performance.now() - started) / 1000;
  const command = argv.length ? `npm run bench -- ${argv.join(' ')}` : 'npm run bench';
  const doc = renderDocument(
    { command, date: new Date(), machine: describeMachine(), peers: ctx.peers, method: methodLines(ctx), durationSeconds: seconds },
    sections,
  );
  await writeDocument(outPath, doc);
  const targets = renderTargets(sections);
  process.stdout.write(
    `${targets ? `\n## Targets\n\n${targets}\n` : ''}\nWrote ${relative(process.cwd(), outPath)} (${(seconds / 60).toFixed(1)} min).\n`,
  );
}

await main();
