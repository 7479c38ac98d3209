/**
 * `gosync/serve`: the embedded static HTTP server (range requests, multipart ranges,
 * validators and conditional requests) behind `gosync serve`, the demo and the tests.
 *
 * @module
 */
export { startStaticServer, type StaticServer, type StaticServerOptions } from './static-server.js';
