/**
 * `gosync demo`: the whole job on an embedded default. Makes an old/new pair, publishes
 * the new one with the embedded server on 127.0.0.1, patches the old one over HTTP and
 * prints what was reused and fetched, as counted by the server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from '../../util/fs-promises.js';
import { ErrorCodes, SyncError } from '../../core/errors.js';
import { buildIndexFile } from '../../file/build-file.js';
import { loadIndex, resolveReference } from '../../file/load-index.js';
import { patchFile } from '../../file/patch-file.js';
import { startStaticServer } from '../../serve/static-server.js';
import { HttpSource } from '../../sources/http/http-source.js';
import type { CommandContext } from '../context.js';
import { formatBytes, parse, sizeOption, UsageError } from '../usage.js';
import { builtin } from '../../util/builtin.js';

const { tmpdir } = builtin('node:os');
const { join } = builtin('node:path');

export const demoHelp = `Usage: gosync demo [--size <bytes>] [--keep]

Makes a random "old" file and a "new" one with scattered edits, publishes the new
one and its index with the embedded HTTP server on 127.0.0.1, updates the old copy
over HTTP and reports what was reused and what went over the wire.

Options:
      --size <n>    size of the file (default 32M)
      --keep        keep the demo folder
`;

/** The options of `demo`. */
export const DEMO_OPTIONS = { size: { type: 'string' }, keep: { type: 'boolean' } } as const;

/** The new version: the old one with an insertion, a deletion and two overwrites. */
function edit(old: Buffer): Buffer {
  const n = old.length;
  const at = (f: number) => Math.floor(n * f);
  const parts = [
    old.subarray(0, at(0.1)),
    randomBytes(1000), // insertion
    old.subarray(at(0.1), at(0.4)),
    old.subarray(at(0.4) + 5000, at(0.7)), // deletion of 5000 bytes
    randomBytes(64 * 1024), // overwrite of 64 KiB
    old.subarray(at(0.7) + 64 * 1024, n - 100),
    Buffer.from('a new ending, one hundred bytes long'.padEnd(100, '.')), // changed tail
  ];
  return Buffer.concat(parts);
}

export async function demo(args: string[], ctx: CommandContext): Promise<void> {
  const { values, positionals } = parse(args, DEMO_OPTIONS);
  if (positionals.length > 0) throw new UsageError('demo takes no arguments');
  const size = sizeOption(values.size, 'size') ?? 32 * 1024 * 1024;
  if (size < 200_000) throw new UsageError('--size must be at least 200K');
  const dir = await mkdtemp(join(tmpdir(), 'gosync-demo-'));
  const out = (s: string) => ctx.stdout.write(`${s}\n`);
  try {
    const publish = join(dir, 'publish');
    await mkdir(publish);
    const oldData = randomBytes(size);
    const newData = edit(oldData);
    const local = join(dir, 'app.bin');
    await writeFile(local, oldData);
    await writeFile(join(publish, 'app.bin'), newData);
    out(`old file ${formatBytes(oldData.length)}, new file ${formatBytes(newData.length)} (1 insertion, 1 deletion, 2 overwrites)`);

    const built = await buildIndexFile(join(publish, 'app.bin'), join(publish, 'app.bin.gosync'), { signal: ctx.signal });
    out(`gosync build: ${built.blockCount} blocks of ${built.blockSize} B, index ${formatBytes(built.indexBytes)}`);

    const server = await startStaticServer({ root: publish, host: '127.0.0.1', port: 0 });
    try {
      const indexUrl = new URL('app.bin.gosync', server.url).href;
      out(`gosync serve: publishing at ${server.url}`);
      const loaded = await loadIndex(indexUrl, { signal: ctx.signal });
      const source = new HttpSource(resolveReference(loaded), { expectedSize: loaded.index.fileSize });
      const report = await patchFile({ local, index: loaded.index, source, signal: ctx.signal }).finally(() => source.close());
      const same =
        createHash('sha256')
          .update(await readFile(local))
          .digest('hex') === createHash('sha256').update(newData).digest('hex');
      out(`gosync patch ${indexUrl}:`);
      out(`  reused  ${formatBytes(report.reusedBytes)} (${((100 * report.reusedBytes) / report.fileSize).toFixed(2)}%) from the old file`);
      out(`  fetched ${formatBytes(report.fetchedBytes)} in ${report.ranges} ranges, ${report.requests} range requests`);
      out(
        `  on the wire (counted by the server, index included): ${formatBytes(server.stats.bodyBytes)} of ${formatBytes(newData.length)}`,
      );
      out(`  result ${same ? 'identical to the new file (sha256 checked)' : 'DIFFERS from the new file'}, ${report.seconds.toFixed(2)} s`);
      if (!same) throw new SyncError(ErrorCodes.FILE_MISMATCH, 'Cannot finish the demo: the patched file differs from the new file');
    } finally {
      await server.close();
    }
  } finally {
    if (values.keep) out(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}
