/**
 * What identifies a local file's content without reading it: its device, inode, size and
 * modification and change times in nanoseconds. A file whose stamp is the same before and
 * after it was read or hashed was not written meanwhile (as far as the file system tells),
 * so what was computed from it still describes it.
 *
 * @module
 */
import type { BigIntStats } from 'node:fs';
import { stat } from '../util/fs-promises.js';

/** A file's stamp (see the module). */
export type Stamp = string;

export function stampOf(st: BigIntStats): Stamp {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** The stamp of the file at `path` now; undefined when it cannot be read. */
export async function fileStamp(path: string): Promise<Stamp | undefined> {
  const st = await stat(path, { bigint: true }).catch(() => undefined);
  return st === undefined ? undefined : stampOf(st);
}
