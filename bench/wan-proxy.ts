/**
 * An emulated WAN link as a TCP proxy on 127.0.0.1 (node:net only; the kernel here has
 * no netem): clients connect to the proxy, which connects to the real server (nginx).
 *
 * - **Latency**: every byte is delivered `delayMs` (default 25 ms) after it leaves the
 *   link, in each direction, so a request/response round trip costs 2 × 25 = 50 ms.
 *   The TCP handshake is emulated too: data a client sends right after connecting is
 *   held until one round trip after the connection was accepted (a real client's
 *   `connect()` returns only after SYN / SYN-ACK), so a fresh connection costs one RTT
 *   more than a kept-alive one, as on a real link.
 * - **Bandwidth**: one token bucket per direction, **shared by all connections**
 *   (default 100 Mbit/s each way, full duplex): bytes leave the link at that rate in
 *   total, the connections taking turns (round robin, 16 KiB pieces), like flows
 *   sharing one bottleneck. Several connections therefore do not get more bandwidth
 *   than one; they only overlap their round trips.
 * - **Flow control**: the proxy stops reading from a sender while more than 256 KiB of
 *   its data wait to enter the link, and stops sending to a receiver that does not read
 *   (more than 1 MiB buffered in its socket), so a busy client slows the sender as TCP's
 *   window would. Not modelled: slow start, loss, retransmission, a finite window (the
 *   data in flight is not limited by the bandwidth-delay product).
 * - **Counting**: bytes that crossed the link in each direction (HTTP headers and all).
 *
 * Usage as a module: `const p = await startWanProxy({ target: { host, port } })`, then
 * point clients at `http://127.0.0.1:${p.port}/`. As a command:
 * `node dist/bench/wan-proxy.js <target-port> [--delay 25] [--rate 100M] [--port 0]`.
 *
 * @module
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface WanProxyOptions {
  target: { host?: string; port: number };
  /** One-way delay in ms (default 25). */
  delayMs?: number;
  /** Link rate per direction in bit/s, shared by all connections (default 100e6). */
  rateBitsPerSecond?: number;
  /** Emulate the handshake round trip on new connections (default true). */
  handshake?: boolean;
  /** Port to listen on (default: any free port). */
  port?: number;
}

export interface WanStats {
  /** Bytes server → client that crossed the link. */
  down: number;
  /** Bytes client → server that crossed the link. */
  up: number;
  /** Connections accepted. */
  connections: number;
}

export interface WanProxy {
  port: number;
  url: string;
  stats(): WanStats;
  /** Zeroes the counters. */
  reset(): void;
  close(): Promise<void>;
}

const PIECE = 16 * 1024;
const HIGH_WATER = 256 * 1024;
const LOW_WATER = 64 * 1024;
const RECEIVER_LIMIT = 1024 * 1024;
const END = Symbol('end');

/** One direction of one connection. */
class Flow {
  readonly queue: (Buffer | typeof END)[] = [];
  queued = 0;
  paused = false;
  /** Data may not enter the link before this time (handshake emulation). */
  notBefore = 0;
  done = false;
  constructor(
    readonly from: Socket,
    readonly to: Socket,
  ) {}
}

/** One direction of the link: a shared token bucket, round robin over flows, then the delay line. */
class Link {
  readonly #bytesPerMs: number;
  readonly #burst: number;
  readonly #delay: number;
  #tokens: number;
  #last = performance.now();
  #timer: NodeJS.Timeout | undefined;
  readonly #flows: Flow[] = [];
  #rr = 0;
  bytes = 0;

  constructor(bitsPerSecond: number, delayMs: number) {
    this.#bytesPerMs = bitsPerSecond / 8 / 1000;
    this.#burst = Math.max(2 * PIECE, this.#bytesPerMs * 4); // at most a few ms of line rate
    this.#delay = delayMs;
    this.#tokens = this.#burst;
  }

  add(flow: Flow): void {
    this.#flows.push(flow);
  }

  remove(flow: Flow): void {
    const i = this.#flows.indexOf(flow);
    if (i >= 0) this.#flows.splice(i, 1);
  }

  enqueue(flow: Flow, chunk: Buffer | typeof END): void {
    if (chunk === END) flow.queue.push(END);
    else {
      for (let i = 0; i < chunk.length; i += PIECE) flow.queue.push(chunk.subarray(i, i + PIECE));
      flow.queued += chunk.length;
      if (flow.queued > HIGH_WATER && !flow.paused) {
        flow.paused = true;
        flow.from.pause();
      }
    }
    this.pump();
  }

  #eligible(f: Flow, now: number): boolean {
    return f.queue.length > 0 && now >= f.notBefore && f.to.writableLength < RECEIVER_LIMIT && !f.to.destroyed;
  }

  pump(): void {
    if (this.#timer !== undefined) return; // a pump is already scheduled
    const now = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#bytesPerMs);
    this.#last = now;
    let waitUntil = Infinity;
    while (this.#tokens > 0) {
      let flow: Flow | undefined;
      for (let k = 0; k < this.#flows.length; k++) {
        const f = this.#flows[(this.#rr + k) % this.#flows.length]!;
        if (this.#eligible(f, now)) {
          flow = f;
          this.#rr = (this.#rr + k + 1) % this.#flows.length;
          break;
        }
        if (f.queue.length > 0 && now < f.notBefore) waitUntil = Math.min(waitUntil, f.notBefore);
      }
      if (flow === undefined) break;
      const item = flow.queue.shift()!;
      if (item === END) {
        const to = flow.to;
        flow.done = true;
        setTimeout(() => to.end(), this.#delay);
        this.remove(flow);
        continue;
      }
      this.#tokens -= item.length;
      this.bytes += item.length;
      flow.queued -= item.length;
      if (flow.paused && flow.queued < LOW_WATER) {
        flow.paused = false;
        flow.from.resume();
      }
      const to = flow.to;
      setTimeout(() => {
        if (!to.destroyed) to.write(item);
      }, this.#delay);
    }
    const backlog = this.#flows.some((f) => f.queue.length > 0 && now >= f.notBefore && f.to.writableLength < RECEIVER_LIMIT);
    let delay = Infinity;
    if (backlog) delay = Math.max(1, Math.ceil(-this.#tokens / this.#bytesPerMs));
    if (waitUntil < Infinity) delay = Math.min(delay, Math.max(1, Math.ceil(waitUntil - now)));
    if (delay < Infinity) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.pump();
      }, delay);
    }
  }
}

/** Starts the proxy on 127.0.0.1. */
export async function startWanProxy(options: WanProxyOptions): Promise<WanProxy> {
  const delay = options.delayMs ?? 25;
  const rate = options.rateBitsPerSecond ?? 100e6;
  const handshake = options.handshake ?? true;
  const down = new Link(rate, delay);
  const up = new Link(rate, delay);
  let connections = 0;
  const sockets = new Set<Socket>();

  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    connections++;
    const accepted = performance.now();
    const upstream = connect({ host: options.target.host ?? '127.0.0.1', port: options.target.port, allowHalfOpen: true, noDelay: true });
    sockets.add(client);
    sockets.add(upstream);
    const toServer = new Flow(client, upstream);
    const toClient = new Flow(upstream, client);
    if (handshake) toServer.notBefore = accepted + 2 * delay; // SYN out, SYN-ACK back: the client may send only now
    up.add(toServer);
    down.add(toClient);
    client.on('data', (b: Buffer) => up.enqueue(toServer, b));
    upstream.on('data', (b: Buffer) => down.enqueue(toClient, b));
    client.on('end', () => up.enqueue(toServer, END));
    upstream.on('end', () => down.enqueue(toClient, END));
    client.on('drain', () => down.pump());
    upstream.on('drain', () => up.pump());
    const kill = (): void => {
      up.remove(toServer);
      down.remove(toClient);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    const closed = (s: Socket): void => {
      sockets.delete(s);
      // A fully closed side with nothing more to deliver ends the pair.
      if (client.destroyed && upstream.destroyed) kill();
    };
    client.on('close', () => {
      closed(client);
      if (!toClient.done) kill(); // the client went away: drop what was still coming
    });
    upstream.on('close', () => {
      closed(upstream);
      // nginx closed: let the queued bytes (and the END) still reach the client.
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => done());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    stats: () => ({ down: down.bytes, up: up.bytes, connections }),
    reset: () => {
      down.bytes = 0;
      up.bytes = 0;
      connections = 0;
    },
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}

// As a command: node dist/bench/wan-proxy.js <target-port> [--delay ms] [--rate 100M] [--port n]
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { delay: { type: 'string' }, rate: { type: 'string' }, port: { type: 'string' } },
  });
  const targetPort = Number(positionals[0]);
  if (!Number.isInteger(targetPort) || targetPort <= 0) {
    process.stderr.write('usage: node dist/bench/wan-proxy.js <target-port> [--delay 25] [--rate 100M] [--port 0]\n');
    process.exit(2);
  }
  const rateText = values.rate ?? '100M';
  const m = /^([\d.]+)([kMG]?)$/.exec(rateText);
  const rate = m ? Number(m[1]) * { '': 1, k: 1e3, M: 1e6, G: 1e9 }[m[2] as '' | 'k' | 'M' | 'G'] : NaN;
  const proxy = await startWanProxy({
    target: { port: targetPort },
    delayMs: Number(values.delay ?? 25),
    rateBitsPerSecond: rate,
    port: Number(values.port ?? 0),
  });
  process.stdout.write(`WAN proxy on ${proxy.url} → 127.0.0.1:${targetPort}, ${values.delay ?? 25} ms each way, ${rateText}bit/s shared\n`);
  process.on('SIGINT', () => {
    const s = proxy.stats();
    process.stdout.write(`\n${s.connections} connections, ${s.down} B down, ${s.up} B up\n`);
    void proxy.close().then(() => process.exit(0));
  });
}
