/**
 * The names of the files gosync writes beside a target before they replace it. Every
 * other module asks here: what a temporary or part file is called, and whether a name
 * found in a folder is one of gosync's.
 *
 * - A temporary file (`.<name>.<random hex>.gosync-tmp`) is being written; a stopped run
 *   leaves it behind and a later run may remove it.
 * - A part file (`.<name>.<tag>.gosync-part`, tag = a content hash prefix) is finished and
 *   verified but not yet moved into place: a later run can verify and reuse it.
 *
 * Both are hidden and stay under the 255 bytes a file name may have: a long name is cut
 * and keeps a hash of the whole, so two long names with the same beginning still get
 * different staging names.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { builtin } from '../util/builtin.js';

const { basename, dirname, join } = builtin('node:path');

/** Suffix of files staged by a tree patch or a push before they replace their targets. */
export const PART_SUFFIX = '.gosync-part';
/** Suffix of gosync's temporary files. */
export const TEMP_SUFFIX = '.gosync-tmp';
/**
 * The mode of a part file until it is complete and verified, when it gets the entry's
 * mode: readable by its owner only, and never set-id, whatever a stale part had.
 */
export const PART_MODE = 0o600;

/** Longest name kept as it is (leaves room for gosync's prefixes and suffixes). */
const MAX = 100;
/** Bytes of a longer name kept before the hash. */
const KEPT = 80;

/** The tags of part names and the random parts of temporary names: lowercase hex. */
const HEX = /^[0-9a-f]+$/;
/** Hex digits of the random part of a temporary name. */
const TEMP_RANDOM_DIGITS = 12;

/** `name`, or for a long one its first characters and a hash of all of it (at most ~110 bytes). */
export function shortName(name: string): string {
  if (Buffer.byteLength(name) <= MAX) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  // Whole characters only: half of a surrogate pair would be written to disk as U+FFFD,
  // and the name read back would no longer be recognised.
  let cut = '';
  let bytes = 0;
  for (const ch of name) {
    bytes += Buffer.byteLength(ch);
    if (bytes > KEPT) break;
    cut += ch;
  }
  return `${cut}~${hash}`;
}

/** A new temporary file's path next to `target` (a local path): random, so never an existing file's. */
export function tempPath(target: string): string {
  return join(dirname(target), `.${shortName(basename(target))}.${randomBytes(TEMP_RANDOM_DIGITS / 2).toString('hex')}${TEMP_SUFFIX}`);
}

/**
 * The part name of a new file (a `/`-separated tree path): next to the target, hidden,
 * named by a tag (a content hash prefix), so a later run can find and verify what a
 * stopped run staged.
 */
export function partName(path: string, tag: string): string {
  const slash = path.lastIndexOf('/');
  const name = `.${shortName(path.slice(slash + 1))}.${tag}${PART_SUFFIX}`;
  return slash < 0 ? name : `${path.slice(0, slash)}/${name}`;
}

/**
 * True when `n`, a name in the folder of a file named `base`, is exactly the name
 * {@link tempPath} gives a temporary file of that file itself (not of one of its parts,
 * not of a sibling whose name begins the same).
 */
export function isTempNameOf(n: string, base: string): boolean {
  const own = `.${shortName(base)}.`;
  if (n.length !== own.length + TEMP_RANDOM_DIGITS + TEMP_SUFFIX.length) return false;
  if (!n.startsWith(own) || !n.endsWith(TEMP_SUFFIX)) return false;
  return HEX.test(n.slice(own.length, own.length + TEMP_RANDOM_DIGITS));
}

/** True when a name ends like a staging file of gosync (a part or a temporary file). */
export function isStagingName(name: string): boolean {
  return name.endsWith(PART_SUFFIX) || name.endsWith(TEMP_SUFFIX);
}

/**
 * True when `n`, a name in the folder of a file named `base`, is one gosync gives to that
 * file alone: a part of it ({@link partName}), or a temporary file ({@link tempPath}) of
 * it or of one of its parts. A sibling whose name begins the same (`a.b` next to `a`)
 * never matches. (The temporary file of a part whose name is too long is named after a
 * hash of it, which cannot be traced back to `base`: it is left alone.)
 */
export function isStagingNameOf(n: string, base: string): boolean {
  const own = `.${shortName(base)}.`;
  const isPart = (x: string): boolean => {
    if (!x.startsWith(own) || !x.endsWith(PART_SUFFIX)) return false;
    const tag = x.slice(own.length, x.length - PART_SUFFIX.length);
    return HEX.test(tag) && partName(base, tag) === x;
  };
  if (isPart(n)) return true;
  if (!n.startsWith('.') || !n.endsWith(TEMP_SUFFIX)) return false;
  const rest = n.slice(1, n.length - TEMP_SUFFIX.length);
  const dot = rest.lastIndexOf('.');
  if (dot < 0 || !HEX.test(rest.slice(dot + 1))) return false;
  const target = rest.slice(0, dot);
  return target === shortName(base) || (isPart(target) && shortName(target) === target);
}
