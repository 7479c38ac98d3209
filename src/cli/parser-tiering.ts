/**
 * Keeps undici's HTTP/1.1 parser (llhttp, a WebAssembly module) in V8's baseline tier, so
 * that a short command does not wait at exit for its optimizing compilation.
 *
 * V8 compiles WebAssembly with Liftoff first and hands a function that has used up its
 * "tiering budget" to TurboFan on a background thread. llhttp's parsing function is one
 * 33 kB state machine: a few hundred bytes of response headers use up its budget, and its
 * TurboFan compilation then takes 150–190 ms of CPU (`--trace-wasm-compilation-times`:
 * "wasm-function#20 using TurboFan, took 186 ms", after two requests of a 997-byte index).
 * `process.exit` joins V8's background threads, which finish the job first: every HTTP
 * command took 60–190 ms to end after its work was done (a patch of local files: 5 ms).
 * `perf record` of that tail shows a V8 worker thread in TurboFan's wasm phases and the main
 * thread in `pthread_join`.
 *
 * The budget is read when an instance is made, and undici makes llhttp's one instance
 * synchronously within its first HTTP/1.1 connection, between the `undici:client:beforeConnect`
 * and `undici:client:connected` diagnostics messages. A budget V8 never uses up is set for that
 * window only; the instances made before or after (gosync's own WebAssembly hashes and scan)
 * keep the usual one and are optimized as before. In baseline code llhttp costs nothing that
 * matters: with a Content-Length (and multipart answers have one) a body is passed on in one
 * step per chunk, not parsed byte by byte.
 *
 * Measured (`node --import` a mark at `process.exit`, 8 interleaved runs, medians, 20 GETs of
 * jquery.js from nginx on 127.0.0.1 through an undici Client): 79 ms from `process.exit` to
 * the end of the process, 16 ms with the budget held (`node -e 'process.exit()'`: 16 ms).
 *
 * @module
 */
import { builtin } from '../util/builtin.js';

const { channel } = builtin('node:diagnostics_channel');

/** V8's `--wasm-tiering-budget` in Node 24 (`node --v8-options`), restored after the window unless the process was given its own. */
export const V8_DEFAULT_WASM_TIERING_BUDGET = 13_000_000;
/** A budget no parse uses up (V8 counts it down in a 32-bit integer). */
const UNUSED_BUDGET = 2_000_000_000;

/** The budget this process runs with: its own `--wasm-tiering-budget` (command line or NODE_OPTIONS), else V8's default. */
export function configuredTieringBudget(execArgv: readonly string[], nodeOptions: string | undefined): number {
  let budget = V8_DEFAULT_WASM_TIERING_BUDGET;
  const words = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  for (let i = 0; i < words.length; i++) {
    const m = /^--wasm[-_]tiering[-_]budget(?:=(\d+))?$/.exec(words[i]!);
    if (!m) continue;
    const value = Number(m[1] ?? words[i + 1]);
    if (Number.isSafeInteger(value)) budget = value;
  }
  return budget;
}

/**
 * Holds llhttp's budget from the next HTTP/1.1 connection undici opens until it is open (or
 * failed); after the first HTTP/1.1 connection, llhttp exists and this stops listening.
 * Returns a function that stops listening now.
 */
export function holdHttpParserInBaselineTier(restoreBudget: number): () => void {
  const before = channel('undici:client:beforeConnect');
  const connected = channel('undici:client:connected');
  const failed = channel('undici:client:connectError');
  let held = false;
  // node:v8 is loaded by the first connection only (about 5 ms of start-up otherwise).
  const setFlagsFromString = (flags: string) => process.getBuiltinModule('node:v8').setFlagsFromString(flags);
  const hold = () => {
    if (held) return;
    held = true;
    setFlagsFromString(`--wasm-tiering-budget=${UNUSED_BUDGET}`);
  };
  const release = () => {
    if (!held) return;
    held = false;
    setFlagsFromString(`--wasm-tiering-budget=${restoreBudget}`);
  };
  const onConnected = (message: unknown) => {
    release();
    // An HTTP/2 connection made no parser: keep listening for an HTTP/1.1 one.
    if ((message as { connectParams?: { version?: string } }).connectParams?.version !== 'h2') stop();
  };
  const stop = () => {
    release();
    before.unsubscribe(hold);
    connected.unsubscribe(onConnected);
    failed.unsubscribe(release);
  };
  before.subscribe(hold);
  connected.subscribe(onConnected);
  failed.subscribe(release);
  return stop;
}
