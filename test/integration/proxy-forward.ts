/**
 * A small forward proxy on 127.0.0.1 for the tests, as a corporate proxy behaves: plain http
 * requests in absolute-URI form (`GET http://host:port/path HTTP/1.1`) are forwarded, https
 * goes through a `CONNECT host:port` tunnel. It counts both, and may require credentials
 * (`Proxy-Authorization: Basic`, answering 407 otherwise).
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface ForwardProxy {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  /** Absolute-URI requests forwarded, each with its target URL. */
  readonly forwarded: string[];
  /** CONNECT tunnels opened, each with its `host:port`. */
  readonly tunnels: string[];
  /** `Proxy-Authorization` values received (also those refused). */
  readonly authorizations: string[];
  /** Client connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Starts the proxy; with `credentials` ('user:pass') it answers 407 to requests without them. */
export async function startForwardProxy(options: { credentials?: string } = {}): Promise<ForwardProxy> {
  const forwarded: string[] = [];
  const tunnels: string[] = [];
  const authorizations: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const expected = options.credentials === undefined ? undefined : `Basic ${Buffer.from(options.credentials).toString('base64')}`;
  const allowed = (req: IncomingMessage): boolean => {
    const given = req.headers['proxy-authorization'];
    if (given !== undefined) authorizations.push(given);
    return expected === undefined || given === expected;
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!allowed(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="proxy"', 'content-length': '0' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
      if (target.protocol !== 'http:') throw new Error('not http');
    } catch {
      res.writeHead(400, { 'content-length': '0' }).end();
      return;
    }
    forwarded.push(target.href);
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = request(
      { host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (!allowed(req)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="proxy"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    tunnels.push(req.url ?? '');
    const upstream = connect({ host: host!, port: Number(port) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    forwarded,
    tunnels,
    authorizations,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
