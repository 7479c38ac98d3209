/**
 * `gosync rdiff [options] signature|delta|patch <files>`: librsync's rdiff, with rdiff's
 * own arguments and options, so that a script can call `gosync rdiff` for `rdiff`.
 */
import { rdiffDelta, rdiffPatch, rdiffSignature, type RdiffInput, type RdiffOutput } from '../../formats/rdiff-file.js';
import { LIBRSYNC_MAX_BLOCK_LENGTH, type LibrsyncHash, type LibrsyncRollsum } from '../../formats/librsync-signature.js';
import type { CommandContext } from '../context.js';
import { UsageError, type Values, parse } from '../usage.js';
import { checkReplaceable } from '../../localfs/atomic-file.js';

export const rdiffHelp = `Usage: gosync rdiff [options] signature [<basis> [<signature>]]
       gosync rdiff [options] delta <signature> [<new> [<delta>]]
       gosync rdiff [options] patch <basis> [<delta> [<new>]]

librsync's rdiff, file for file: a signature is byte-identical to the one rdiff 2.3.2
writes with the same options, and deltas go both ways (gosync's to rdiff patch, rdiff's
to gosync rdiff patch). A missing file name or "-" is stdin or stdout, as with rdiff
(patch needs its basis as a file). Options may come before or after the action.

Options:
  -b, --block-size=BYTES  signature block size, 0 (default) for rdiff's choice: 256 up
                          to 64 KiB, then the square root of the size rounded down to a
                          multiple of 128 (2048 when the size is unknown); at most 16 MiB
  -S, --sum-size=BYTES    strong sum size, 0 (default) for the whole hash, -1 for rdiff's
                          minimum for the basis size
  -H, --hash=ALG          signature strong hash: blake2 (default) or md4
  -R, --rollsum=ALG       signature weak sum: rabinkarp (default) or rollsum
  -f, --force             overwrite an existing output file (refused without it)
  -s, --statistics        print statistics on stderr
  -v, --verbose           the same as -s
  -I, --input-size=BYTES  accepted and ignored (rdiff's buffer sizes)
  -O, --output-size=BYTES accepted and ignored
`;

/** Options that take a value, for joining "-S -1" into "-S-1" (parseArgs reads "-1" as an option). */
const VALUE_OPTIONS = new Set([
  '-b',
  '--block-size',
  '-S',
  '--sum-size',
  '-H',
  '--hash',
  '-R',
  '--rollsum',
  '-I',
  '--input-size',
  '-O',
  '--output-size',
]);

function joinNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (VALUE_OPTIONS.has(a) && next !== undefined && /^-\d+$/.test(next)) {
      out.push(a.startsWith('--') ? `${a}=${next}` : `${a}${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`--${name} must be an integer, not "${value}"`);
  return Number(value);
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function speed(inBytes: number, outBytes: number, seconds: number): string {
  const s = Math.max(seconds, 1e-6);
  return `speed[${mb(inBytes)} MB (${mb(inBytes / s)} MB/s) in, ${mb(outBytes)} MB (${mb(outBytes / s)} MB/s) out, ${seconds.toFixed(3)} sec]`;
}

/** The options of `rdiff` (rdiff's own). */
export const RDIFF_OPTIONS = {
  'block-size': { type: 'string', short: 'b' },
  'sum-size': { type: 'string', short: 'S' },
  hash: { type: 'string', short: 'H' },
  rollsum: { type: 'string', short: 'R' },
  force: { type: 'boolean', short: 'f' },
  statistics: { type: 'boolean', short: 's' },
  verbose: { type: 'boolean', short: 'v' },
  'input-size': { type: 'string', short: 'I' },
  'output-size': { type: 'string', short: 'O' },
  gzip: { type: 'boolean', short: 'z' },
  bzip2: { type: 'boolean', short: 'i' },
} as const;

/** What every action needs: its files, where "-" or a missing name is stdin or stdout. */
interface Action {
  values: Values<typeof RDIFF_OPTIONS>;
  files: string[];
  stats: boolean;
  common: { signal: AbortSignal; overwrite: boolean };
  input(s: string | undefined, what: string): RdiffInput;
  output(s: string | undefined): RdiffOutput;
  log(line: string): void;
}

/** A file name, or undefined for stdin/stdout. */
function fileName(s: string | undefined): string | undefined {
  return s === undefined || s === '-' ? undefined : s;
}

export async function rdiff(args: string[], ctx: CommandContext): Promise<void> {
  const { values, positionals } = parse(joinNegativeValues(args), RDIFF_OPTIONS);
  if (values.gzip || values.bzip2)
    throw new UsageError('compressed deltas (-z, --gzip, -i, --bzip2) are not supported (rdiff 2.3.2 does not support them either)');
  integer(values['input-size'], 'input-size');
  integer(values['output-size'], 'output-size');
  const [action, ...files] = positionals;
  if (action === undefined) throw new UsageError('rdiff needs an action: signature, delta or patch');
  let stdinUsed = false;
  const a: Action = {
    values,
    files,
    stats: values.statistics === true || values.verbose === true,
    common: { signal: ctx.signal, overwrite: values.force === true },
    input: (s, what) => {
      const path = fileName(s);
      if (path !== undefined) return path;
      if (stdinUsed) throw new UsageError(`only one input can be stdin (the ${what} too is "-" or missing)`);
      stdinUsed = true;
      return process.stdin;
    },
    output: (s) => fileName(s) ?? ctx.stdout,
    log: (line) => ctx.stderr.write(`gosync rdiff: ${line}\n`),
  };
  // An output that is a device, FIFO, socket or folder is refused before anything is read.
  const outputAt = action === 'signature' ? 1 : action === 'delta' || action === 'patch' ? 2 : undefined;
  const out = outputAt === undefined ? undefined : fileName(files[outputAt]);
  if (out !== undefined) await checkReplaceable(out);
  switch (action) {
    case 'signature':
      return signature(a);
    case 'delta':
      return delta(a);
    case 'patch':
      return patch(a);
    default:
      throw new UsageError(`unknown rdiff action "${action}" (signature, delta or patch)`);
  }
}

async function signature({ values, files, stats, common, input, output, log }: Action): Promise<void> {
  if (files.length > 2) throw new UsageError(`signature takes [<basis> [<signature>]], got ${files.length} files`);
  const hash = values.hash ?? 'blake2';
  if (hash !== 'blake2' && hash !== 'md4') throw new UsageError(`--hash must be blake2 or md4, not "${hash}"`);
  const rollsum = values.rollsum ?? 'rabinkarp';
  if (rollsum !== 'rabinkarp' && rollsum !== 'rollsum') throw new UsageError(`--rollsum must be rabinkarp or rollsum, not "${rollsum}"`);
  const blockLength = integer(values['block-size'], 'block-size') ?? 0;
  if (blockLength < 0 || blockLength > LIBRSYNC_MAX_BLOCK_LENGTH)
    throw new UsageError(`--block-size must be 0 (rdiff's choice) or 1 to ${LIBRSYNC_MAX_BLOCK_LENGTH}, not ${blockLength}`);
  const strongLength = integer(values['sum-size'], 'sum-size') ?? 0;
  const max = hash === 'md4' ? 16 : 32;
  if (strongLength < -1 || strongLength > max)
    throw new UsageError(`--sum-size must be 0 (the whole hash), -1 (the minimum) or 1 to ${max} for ${hash}, not ${strongLength}`);
  const report = await rdiffSignature(input(files[0], 'basis'), output(files[1]), {
    ...common,
    hash: hash as LibrsyncHash,
    rollsum: rollsum as LibrsyncRollsum,
    blockLength,
    strongLength,
  });
  if (strongLength > 0 && report.strongLength < report.minStrongLength && typeof files[0] === 'string' && files[0] !== '-') {
    log(
      `warning: strong_len=${report.strongLength} is smaller than the recommended minimum ${report.minStrongLength} for a ${report.basisBytes}-byte basis with block_len=${report.blockLength}`,
    );
  }
  if (stats) {
    log(
      `signature statistics: signature[${report.blockCount} blocks, ${report.blockLength} bytes per block, ${report.strongLength}-byte strong sums, ${report.rollsum} + ${report.hash}, magic 0x${report.magic.toString(16)}] ${speed(report.basisBytes, report.signatureBytes, report.seconds)}`,
    );
  }
}

async function delta({ files, stats, common, input, output, log }: Action): Promise<void> {
  if (files.length < 1 || files.length > 3) throw new UsageError(`delta takes <signature> [<new> [<delta>]], got ${files.length} files`);
  const report = await rdiffDelta(input(files[0], 'signature'), input(files[1], 'new file'), output(files[2]), common);
  if (!stats) return;
  const m = report.scan;
  log(
    `loadsig statistics: signature[${report.blockCount} blocks, ${report.blockLength} bytes per block, ${report.strongLength}-byte strong sums, magic 0x${report.magic.toString(16)}]`,
  );
  log(
    `match statistics: [${m.bytesScanned} bytes scanned, ${m.weakHits} weak sum hits, ${m.strongHashes} strong sum calcs, ${m.falseMatches} false matches]`,
  );
  log(
    `delta statistics: literal[${report.literalCommands} cmds, ${report.literalBytes} bytes, ${report.literalCommandBytes} cmdbytes] copy[${report.copyCommands} cmds, ${report.copyBytes} bytes, ${report.copyCommandBytes} cmdbytes] ${speed(report.newBytes, report.deltaBytes, report.seconds)}`,
  );
}

async function patch({ files, stats, common, input, output, log }: Action): Promise<void> {
  if (files.length < 1 || files.length > 3) throw new UsageError(`patch takes <basis> [<delta> [<new>]], got ${files.length} files`);
  const basis = fileName(files[0]);
  if (basis === undefined) throw new UsageError('patch needs its basis as a file, not stdin (COPY commands read it at any offset)');
  const report = await rdiffPatch(basis, input(files[1], 'delta'), output(files[2]), common);
  if (stats) {
    log(
      `patch statistics: literal[${report.literalCommands} cmds, ${report.literalBytes} bytes, ${report.literalCommandBytes} cmdbytes] copy[${report.copyCommands} cmds, ${report.copyBytes} bytes, ${report.copyCommandBytes} cmdbytes] ${speed(report.deltaBytes, report.outputBytes, report.seconds)}`,
    );
  }
}
