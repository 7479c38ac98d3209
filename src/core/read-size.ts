/**
 * The size of each sequential read of a local file (scanning, hashing, copying local
 * spans): large enough that the cost of a read call is lost in the work done on its
 * bytes, small enough that a buffer of it per reader (or per worker) costs little.
 *
 * @module
 */

/** Bytes asked for by each sequential read of a local file: 4 MiB. */
export const READ_SIZE = 4 * 1024 * 1024;
