/**
 * `gosync/remote`: push and pull through ssh (rsync's model on gosync's matcher and
 * librsync codec), the server end of a session (`gosync serve --stdio`), and the
 * transports a session runs over: ssh, any command, or a pair of streams.
 *
 * @module
 */
export { push, pull, type PushPullOptions } from './push-pull.js';
export type { FilterRule } from '../localfs/filter.js';
export { serveSession, type ServeSessionOptions, type ServedSession } from './serve-stdio.js';
export { commandTransport, sshTransport, streamTransport, type SshOptions } from './transport.js';
export { parseRemote, type RemoteLocation } from './remote-path.js';
export type { CompressionOptions, Transport } from './wire/channel.js';
export type { Hello } from './wire/handshake.js';
export type { FinishReport, SyncProgress, SyncReport } from './wire/report.js';
