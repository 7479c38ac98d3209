/**
 * The memory allocator of the bsdiff modules (suffix-array.ts, diff-model.ts): a bump pointer
 * over the module's memory, grown as needed, never freed (one instance does one job).
 * AssemblyScript's stub runtime does the same but refuses blocks over 1 GiB, and the suffix
 * array of a 512 MiB base is 2 GiB. Memory that cannot grow (over 4 GiB in all) traps.
 */

let top: usize = (__heap_base + 15) & ~15;

/** `size` bytes of the module's memory, 16-byte aligned. */
export function alloc(size: usize): usize {
  const at = top;
  const end = (at + size + 15) & ~15;
  if (end < at || end > 0xffff0000) unreachable();
  const pages = <i32>((end + 0xffff) >>> 16) - memory.size();
  if (pages > 0 && memory.grow(pages) < 0) unreachable();
  top = end;
  return at;
}
