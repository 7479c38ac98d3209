/**
 * Telling index formats apart by their first bytes, without loading their codecs: a patch
 * checks the first bytes of every index it downloads, and only a zsync or go-sync index
 * needs the code that decodes it (with MD4 and the rolling checksum). Measured on the
 * jquery.js patch through nginx: formats/detect.ts with both codecs took about 15 ms of
 * CPU to load (in-process `process.cpuUsage()` around the import, medians of 11 runs).
 *
 * | format | starts with | |
 * |---|---|---|
 * | `gosync` | `GOSYNCIX` | gosync's own index (docs/format.md) |
 * | `zsync` | `zsync:` | a zsync control file (docs/formats.md) |
 * | `go-sync` | `G0S9NC` | a go-sync 0.2 index (docs/formats.md) |
 *
 * @module
 */
import { isGosyncIndex } from '../core/index/format.js';

/** The index formats gosync recognises. */
export type IndexFormat = 'gosync' | 'zsync' | 'go-sync';

/** go-sync's magic, `G0S9NC`. */
export const GO_SYNC_MAGIC = Uint8Array.from([0x47, 0x30, 0x53, 0x39, 0x4e, 0x43]);
/** How a `.zsync` control file starts: `zsync:`. */
const ZSYNC_PREFIX = Uint8Array.from([0x7a, 0x73, 0x79, 0x6e, 0x63, 0x3a]);

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

/** True when `data` starts like a `.zsync` control file (`zsync:`). */
export function isZsyncControl(data: Uint8Array): boolean {
  return startsWith(data, ZSYNC_PREFIX);
}

/** True when `data` starts with go-sync's magic `G0S9NC`. */
export function isGoSyncV0Index(data: Uint8Array): boolean {
  return startsWith(data, GO_SYNC_MAGIC);
}

/** The format of an encoded index, from its first bytes; `undefined` when none matches. */
export function detectIndexFormat(data: Uint8Array): IndexFormat | undefined {
  if (isGosyncIndex(data)) return 'gosync';
  if (isZsyncControl(data)) return 'zsync';
  if (isGoSyncV0Index(data)) return 'go-sync';
  return undefined;
}
