import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';

/** What a forward proxy was asked. */
export interface ProxiedRequest {
  /** `CONNECT` (a tunnel) or the method of a forwarded request. */
  readonly method: string;
  /** `host:port` of a tunnel, the absolute URL of a forwarded request. */
  readonly target: string;
  readonly authorization: string | undefined;
}

/** A forward proxy on 127.0.0.1, as the tests start it: CONNECT tunnels and absolute-URI requests. */
export interface ForwardProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly requests: ProxiedRequest[];
  /** Local ports of the proxy's connections to targets: a target sees requests through the proxy come from them. */
  readonly upstreamPorts: Set<number>;
  close(): Promise<void>;
}

/** Options of {@link startForwardProxy}. */
export interface ForwardProxyOptions {
  /** `Proxy-Authorization` required (`Basic base64(user:password)`); others get 407. @default none required */
  readonly authorization?: string;
  /** Status answered to every CONNECT instead of tunnelling (a proxy that refuses, e.g. 502). @default tunnel */
  readonly refuseWith?: number;
}

/** Starts a small HTTP forward proxy (CONNECT and plain forwarding) on 127.0.0.1 and a free port. */
export async function startForwardProxy(options: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const requests: ProxiedRequest[] = [];
  const upstreamPorts = new Set<number>();
  const sockets = new Set<Socket>();
  const allowed = (request: IncomingMessage) =>
    options.authorization === undefined || request.headers['proxy-authorization'] === options.authorization;
  const server: Server = createServer((request, response) => {
    requests.push({
      method: request.method ?? 'GET',
      target: request.url ?? '',
      authorization: request.headers['proxy-authorization'],
    });
    if (!allowed(request)) {
      response.writeHead(407, { 'proxy-authenticate': 'Basic realm="proxy"' }).end();
      return;
    }
    const target = new URL(request.url ?? '');
    const { 'proxy-authorization': _auth, 'proxy-connection': _connection, ...headers } = request.headers;
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: request.method, headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('socket', (socket: Socket) =>
      socket.on('connect', () => socket.localPort && upstreamPorts.add(socket.localPort)),
    );
    upstream.on('error', () => response.writeHead(502).end());
    request.pipe(upstream);
  });
  server.on('connect', (request: IncomingMessage, client: Socket, head: Buffer) => {
    requests.push({ method: 'CONNECT', target: request.url ?? '', authorization: request.headers['proxy-authorization'] });
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (!allowed(request)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="proxy"\r\n\r\n');
      return;
    }
    if (options.refuseWith !== undefined) {
      client.end(`HTTP/1.1 ${options.refuseWith} Refused\r\n\r\n`);
      return;
    }
    const [host, port] = (request.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      if (upstream.localPort !== undefined) upstreamPorts.add(upstream.localPort);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    upstreamPorts,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 where nothing listens (a proxy that is down). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
