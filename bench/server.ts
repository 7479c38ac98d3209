/**
 * nginx on 127.0.0.1 over `.bench/www`, through the tests' helper (private config, access
 * log `$status $body_bytes_sent …`). Bytes on the wire are always counted here, from the
 * access log, never taken from a client's own report.
 *
 * @module
 */
import { startNginx, type AccessLogEntry, type NginxServer } from '../test/helpers/nginx.js';
import { sleep } from './util.js';

export interface Traffic {
  /** Sum of `$body_bytes_sent` (response bodies incl. multipart boundaries; no response headers). */
  bytes: number;
  requests: number;
  /** Requests answered 206. */
  partial: number;
}

export class BenchServer {
  readonly nginx: NginxServer;
  #mark = 0;

  private constructor(nginx: NginxServer) {
    this.nginx = nginx;
  }

  static async start(root: string): Promise<BenchServer | undefined> {
    const nginx = await startNginx(root);
    return nginx ? new BenchServer(nginx) : undefined;
  }

  get url(): string {
    return this.nginx.url;
  }

  get port(): number {
    return this.nginx.port;
  }

  /** The access log once no new line has appeared for 100 ms (nginx logs just after sending). */
  async #settled(): Promise<AccessLogEntry[]> {
    let prev = await this.nginx.accessEntries();
    for (;;) {
      await sleep(60);
      const now = await this.nginx.accessEntries();
      if (now.length === prev.length) return now;
      prev = now;
    }
  }

  /** Starts counting from now. */
  async mark(): Promise<void> {
    this.#mark = (await this.#settled()).length;
  }

  /** Traffic since the last {@link mark}. */
  async since(): Promise<Traffic> {
    const entries = (await this.#settled()).slice(this.#mark);
    return {
      bytes: entries.reduce((s, e) => s + e.bodyBytesSent, 0),
      requests: entries.length,
      partial: entries.filter((e) => e.status === 206).length,
    };
  }

  close(): Promise<void> {
    return this.nginx.close();
  }
}
