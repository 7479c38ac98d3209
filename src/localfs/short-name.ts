/**
 * Names of temporary files derived from a file's name must stay under the 255 bytes a
 * file name may have: a long name is cut and keeps a hash of the whole, so two long
 * names with the same beginning still get different temporary names.
 *
 * @module
 */
import { createHash } from 'node:crypto';

/** Longest name kept as it is (leaves room for gosync's prefixes and suffixes). */
const MAX = 100;

/** `name`, or for a long one its first characters and a hash of all of it (at most ~110 bytes). */
export function shortName(name: string): string {
  if (Buffer.byteLength(name) <= MAX) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  let cut = name.slice(0, 80);
  while (Buffer.byteLength(cut) > 80) cut = cut.slice(0, -1);
  return `${cut}~${hash}`;
}
