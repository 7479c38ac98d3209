/**
 * `gosync patch <local> <http index>` never reads a local file the index names: a hostile
 * index (gosync or zsync) served over HTTP whose reference URL is a Windows drive path,
 * a `file:` URL, an `ftp:` URL or an absolute path. Each names a bait file holding the
 * exact reference (where the old code opened it, relative to the working folder or by
 * its absolute path), so reading it would make the patch succeed: the patch must fail
 * instead, with nothing written. The reference given on the command line may still be
 * a local file.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { buildIndex } from '../../src/core/index/builder.js';
import { buildZsync } from '../../src/formats/zsync-control.js';
import { startStaticServer, type StaticServer } from '../../src/serve/static-server.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';

let base: string;
/** The served folder: the hostile indexes, and nothing else. */
let served: string;
/** The working folder of the command: the local file, and bait files at relative paths. */
let cwd: string;
let server: StaticServer;
const reference = randomBytes(150_000, 53);
const old = Buffer.concat([reference.subarray(0, 60_000), Buffer.from('an old edit'), reference.subarray(70_000)]);

/** The reference URL each hostile index names, and the local bait files the old code would have opened for it. */
let cases: { name: string; url: string; baits: string[]; code: string }[];

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'gosync-cli-remote-ref-'));
  served = join(base, 'served');
  cwd = join(base, 'work');
  await mkdir(served);
  await mkdir(cwd);
  const absoluteBait = join(base, 'bait', 'app.bin');
  cases = [
    // `new URL` reads "c:" as a scheme; the old code opened "c:/app.bin" under the working folder.
    { name: 'drive', url: 'c:/app.bin', baits: [join(cwd, 'c:', 'app.bin')], code: 'GOSYNC_ERR_NO_REFERENCE' },
    // Opened as the path "file:/…" under the working folder; a URL-aware reader would open the absolute path.
    {
      name: 'file',
      url: pathToFileURL(absoluteBait).href,
      baits: [join(cwd, `file:${absoluteBait}`), absoluteBait],
      code: 'GOSYNC_ERR_NO_REFERENCE',
    },
    {
      name: 'ftp',
      url: 'ftp://mirror.example/app.bin',
      baits: [join(cwd, 'ftp:', 'mirror.example', 'app.bin')],
      code: 'GOSYNC_ERR_NO_REFERENCE',
    },
    // An absolute path is a URL path on the index's server (which has no such file), never a local path.
    { name: 'abspath', url: absoluteBait, baits: [absoluteBait], code: 'GOSYNC_ERR_HTTP_STATUS' },
  ];
  for (const c of cases) {
    for (const bait of c.baits) {
      await mkdir(dirname(bait), { recursive: true });
      await writeFile(bait, reference);
    }
    await writeFile(
      join(served, `${c.name}.gosync`),
      await buildIndex(reference, { fileSize: reference.length, blockSize: 1024, url: c.url }),
    );
    await writeFile(
      join(served, `${c.name}.zsync`),
      await buildZsync(reference, { fileSize: reference.length, blockSize: 1024, urls: [c.url] }),
    );
  }
  server = await startStaticServer({ root: served, port: 0 });
});
after(async () => {
  await server.close();
  await rm(base, { recursive: true, force: true });
});

for (const format of ['gosync', 'zsync']) {
  test(`patch refuses a ${format} index served over HTTP that names a local file, and writes nothing`, async () => {
    for (const c of cases) {
      const local = join(cwd, `${c.name}-${format}.bin`);
      const output = join(cwd, `${c.name}-${format}.out`);
      await writeFile(local, old);
      const before = (await readdir(cwd)).sort();
      const run = await runCli(['patch', local, `${server.url}${c.name}.${format}`, '-o', output, '--quiet'], { cwd });
      assert.equal(run.code, 1, `${format} ${c.name}: ${run.stdout}${run.stderr}`);
      assert.equal(run.stdout, '', c.name);
      assert.ok(run.stderr.includes(`[${c.code}]`), `${format} ${c.name}: ${run.stderr}`);
      if (c.code === 'GOSYNC_ERR_NO_REFERENCE') assert.match(run.stderr, /may only name an http\(s\) URL/, c.name);
      // Nothing written: no output, no temporary file, the local file as it was.
      assert.deepEqual((await readdir(cwd)).sort(), before, `${format} ${c.name}`);
      assert.deepEqual(await readFile(local), old);
    }
  });
}

test('patch with a remote index still takes a local reference given on the command line', async () => {
  const c = cases[0]!;
  const local = join(cwd, 'explicit.bin');
  await writeFile(local, old);
  const run = await runCli(['patch', local, `${server.url}${c.name}.gosync`, c.baits[0]!, '--json', '--quiet'], { cwd });
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as { reference: string; fetchedBytes: number };
  assert.equal(report.reference, c.baits[0]);
  assert.ok(report.fetchedBytes > 0);
  assert.deepEqual(await readFile(local), Buffer.from(reference));
});
