/**
 * The diff stream as runs, before zstd: pairs of LEB128 varints (zero bytes, then non-zero
 * bytes) each followed by its non-zero bytes. The difference bytes of relinked code are long
 * runs of zeros with one or two changed bytes between them (esbuild 0.25.0 → 0.25.1: 10.2 MB
 * of differences, 0.39 MB non-zero, in 266 k runs), so the pairs are a tenth of the bytes:
 * zstd codes them 4 % smaller than the raw stream and many times faster, and the apply copies
 * each zero run from the old file instead of adding byte by byte.
 */

function varintSize(value: number): number {
  let size = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) size++;
  return size;
}

/** Calls `each(zerosStart, literalsStart, literalsEnd)` for the runs of `diff` in order. */
function forEachRun(diff: Uint8Array, each: (zeros: number, literals: number, end: number) => void): void {
  const n = diff.length;
  let i = 0;
  while (i < n) {
    let zerosEnd = i;
    while (zerosEnd < n && diff[zerosEnd] === 0) zerosEnd++;
    let literalsEnd = zerosEnd;
    while (literalsEnd < n && diff[literalsEnd] !== 0) literalsEnd++;
    each(i, zerosEnd, literalsEnd);
    i = literalsEnd;
  }
}

/** The runs form of `diff`, in a buffer of its exact size (sized by a first pass). */
export function encodeRuns(diff: Uint8Array): Uint8Array {
  let size = 0;
  forEachRun(diff, (start, literals, end) => {
    size += varintSize(literals - start) + varintSize(end - literals) + end - literals;
  });
  const out = new Uint8Array(size);
  let length = 0;
  const put = (value: number): void => {
    let v = value;
    while (v >= 0x80) {
      out[length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    out[length++] = v;
  };
  forEachRun(diff, (start, literals, end) => {
    put(literals - start);
    put(end - literals);
    out.set(diff.subarray(literals, end), length);
    length += end - literals;
  });
  return out;
}
