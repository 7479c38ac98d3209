/** What a command gets from the entry point: streams and the cancel signal. */
export interface CommandContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  /** Fires on SIGINT/SIGTERM. */
  signal: AbortSignal;
}
