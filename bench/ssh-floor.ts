/**
 * The floor of a small push through ssh on loopback, from measured primitives: `gosync push`
 * must start Node before it can start ssh, and its far end (`gosync serve --stdio`) is Node
 * too, started only after the login; rsync is C at both ends. So a push takes at least Node's
 * start up to the first line of user code (`performance.now()` there: time since the process
 * started) + `ssh host node -e 0` (the login, the far end's Node, the session's end), before
 * either end loads a module or moves a byte; when that sum exceeds rsync's whole run, gosync
 * cannot be as fast as rsync on that file (docs/performance.md, case 10).
 *
 * Times the ssh commands with hyperfine (`-N`, warm-up runs, the destination reset to the old
 * version before each run) against the bench's private sshd on 127.0.0.1, Node's start in as
 * many runs of its own, and prints the medians and the inequality.
 *
 *     node .bench/snapshot/dist/bench/ssh-floor.js [runs] [new file] [old file]
 *
 * The files default to the bench's jquery.js pair (`.bench/ssh/jquery.js.{new,old}`, made by
 * `npm run bench -- --only ssh`).
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startSshd } from '../test/helpers/sshd.js';
import { GOSYNC_CLI } from './util.js';

interface HyperfineResult {
  command: string;
  median: number;
}

const [runs = '30', next = '.bench/ssh/jquery.js.new', old = '.bench/ssh/jquery.js.old'] = process.argv.slice(2);
const node = process.execPath;
const sshd = await startSshd();
const work = await mkdtemp(join(tmpdir(), 'gosync-ssh-floor-'));
try {
  const dest = join(work, 'dest');
  const host = sshd.host;
  const rsh = sshd.rsh;
  const starts: number[] = [];
  for (let i = 0; i < Number(runs); i++) {
    starts.push(Number(execFileSync(node, ['-e', 'process.stdout.write(String(performance.now()))'], { encoding: 'utf8' })));
  }
  starts.sort((a, b) => a - b);
  const local = starts[starts.length >> 1]!;
  const commands = {
    login: `${rsh} ${host} true`,
    far: `${rsh} ${host} ${node} -e 0`,
    rsyncA: `rsync -a -e '${rsh}' ${resolve(next)} ${host}:${dest}`,
    rsyncZ: `rsync -az -e '${rsh}' ${resolve(next)} ${host}:${dest}`,
    gosync: `${node} ${GOSYNC_CLI} push -q ${resolve(next)} ${host}:${dest} -e '${rsh}' --remote-cmd '${node} ${GOSYNC_CLI}'`,
  };
  const json = join(work, 'hyperfine.json');
  execFileSync(
    'hyperfine',
    ['-N', '-w', '3', '-r', runs, '-p', `cp -p ${resolve(old)} ${dest}`, '--export-json', json, ...Object.values(commands)],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const results = (JSON.parse(await readFile(json, 'utf8')) as { results: HyperfineResult[] }).results;
  const ms = (k: keyof typeof commands): number => 1000 * results[Object.keys(commands).indexOf(k)]!.median;
  for (const k of Object.keys(commands) as (keyof typeof commands)[])
    console.log(`${k.padEnd(7)} ${ms(k).toFixed(1).padStart(7)} ms  ${commands[k].replaceAll(sshd.dir, '<sshd>')}`);
  console.log(`start   ${local.toFixed(1).padStart(7)} ms  Node's start to its first line of user code (${node})`);
  const floor = local + ms('far');
  const rsync = Math.min(ms('rsyncA'), ms('rsyncZ'));
  console.log(
    `floor: Node's start + ssh host node -e 0 = ${floor.toFixed(1)} ms ${floor > rsync ? '>' : '<='} the faster rsync's ${rsync.toFixed(1)} ms (medians of ${runs})`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
  await sshd.stop();
}
