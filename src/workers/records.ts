/**
 * The index builder's worker task: the records of whole blocks (see tasks.ts for the
 * message conventions). A module of its own so that a worker that only hashes blocks
 * loads none of the scan's code (the matcher, the lookup table, file reading): a worker
 * running `worker-main.js` started in 62-78 ms of CPU with the scan's modules, 42-46 ms
 * bare (3 starts each, the loaded 2-vCPU VM).
 *
 * @module
 */
import { FULL_HASH_BYTES, writeBlockRecords, type RecordShape } from '../core/index/block-records.js';

/** Hash the whole blocks of a chunk into records. */
export interface RecordsTask {
  kind: 'records';
  shape: RecordShape;
  /** The chunk (moved to the worker and back). */
  buffer: ArrayBuffer;
  /** Bytes of the chunk in use: a multiple of the block size. */
  length: number;
}

/** The records of a chunk, and the chunk's buffer back for reuse. */
export interface RecordsResult {
  /**
   * The records, then each block's full SHA-256 (32 bytes per block) for the block digest:
   * hand it whole to `IndexBuilder.takeRecords`, which writes only the records.
   */
  records: ArrayBuffer;
  buffer: ArrayBuffer;
}

/** Runs a {@link RecordsTask}. */
export function runRecords(task: RecordsTask): RecordsResult {
  const { shape, length } = task;
  const count = length / shape.blockSize;
  const size = count * (shape.weakBytes + shape.strongBytes);
  const records = new Uint8Array(size + count * FULL_HASH_BYTES);
  writeBlockRecords(new Uint8Array(task.buffer, 0, length), 0, count, shape, records, 0, records, size);
  return { records: records.buffer, buffer: task.buffer };
}
