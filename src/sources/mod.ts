/**
 * `gosync/sources`: the `BlockSource`s gosync ships — bytes in memory, a local file, and an
 * HTTP(S) reference read with range requests — and the HTTP helpers they share: one GET
 * of a small resource (an index), and a dispatcher to share connections between sources.
 *
 * @module
 */
export type { BlockSource, ByteRange, ReadRangesOptions, SourceStats } from '../core/block-source.js';
export { MemorySource } from './memory-source.js';
export { FileSource, type FileSourceOptions } from './file-source.js';
export { HttpSource, createHttpDispatcher, type HttpSourceOptions } from './http/http-source.js';
export type { HttpDispatcherOptions, HttpProxySettings } from './http/dispatcher.js';
export { httpGet, type HttpGetOptions, type HttpGetResult } from './http/http-get.js';
export { TokenBucket } from '../util/token-bucket.js';
