/**
 * The diff stream as runs, before zstd: pairs of LEB128 varints (zero bytes, then non-zero
 * bytes) each followed by its non-zero bytes. The difference bytes of relinked code are long
 * runs of zeros with one or two changed bytes between them (esbuild 0.25.0 → 0.25.1: 10.2 MB
 * of differences, 0.39 MB non-zero, in 266 k runs), so the pairs are a tenth of the bytes:
 * zstd codes them 4 % smaller than the raw stream and many times faster, and the apply copies
 * each zero run from the old file instead of adding byte by byte.
 */

/** The runs form of `diff`. */
export function encodeRuns(diff: Uint8Array): Uint8Array {
  // Worst case: alternating zero and non-zero bytes, 3 bytes per 2, and one empty run first.
  const out = new Uint8Array(Math.ceil(diff.length * 1.5) + 16);
  let length = 0;
  const put = (value: number): void => {
    let v = value;
    while (v >= 0x80) {
      out[length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    out[length++] = v;
  };
  const n = diff.length;
  let i = 0;
  while (i < n) {
    let zerosEnd = i;
    while (zerosEnd < n && diff[zerosEnd] === 0) zerosEnd++;
    let literalsEnd = zerosEnd;
    while (literalsEnd < n && diff[literalsEnd] !== 0) literalsEnd++;
    put(zerosEnd - i);
    put(literalsEnd - zerosEnd);
    out.set(diff.subarray(zerosEnd, literalsEnd), length);
    length += literalsEnd - zerosEnd;
    i = literalsEnd;
  }
  return out.subarray(0, length);
}
