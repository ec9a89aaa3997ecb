/**
 * A TCP proxy on loopback in front of DynamoDB Local that makes the journal's requests slow, fail
 * or time out, as a network and an overloaded service would. The dev server is pointed at it
 * (`durable dev --dynamodb-endpoint`); it knows nothing of HTTP beyond spotting where a request
 * begins, so what it does is what a network does:
 *
 * - `delay`: the request's bytes are held back 20-300 ms;
 * - `drop`: the connection is reset before the request reaches DynamoDB (nothing applied);
 * - `lose`: the request reaches DynamoDB, and the connection is reset instead of the answer
 *   (applied, but the caller cannot know: the SDK retries it);
 * - `stall`: nothing moves for `stallMs`, then the connection is reset (a request timing out);
 * - `error`: answered `500 InternalServerError` by the proxy itself (what DynamoDB answers when it
 *   fails internally; the SDK retries it).
 *
 * Each share is per request, decided on the first chunk of each request the client sends.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface ProxyFaults {
  delay: number;
  drop: number;
  lose: number;
  stall: number;
  error: number;
  /** How long a stalled request hangs before its connection is reset. Default 1.5-4 s. */
  stallMs?: [number, number];
}

export interface ProxyStats {
  requests: number;
  delayed: number;
  dropped: number;
  lost: number;
  stalled: number;
  errors: number;
}

export interface FaultyProxy {
  endpoint: string;
  stats: ProxyStats;
  /** Passes everything through unharmed from now on (the end-of-run accounting needs a quiet journal). */
  calm(): void;
  close(): Promise<void>;
}

const REQUEST_START = /^(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH) \//;
const ERROR_BODY = JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'chaos proxy: injected internal server error' });
const ERROR_RESPONSE =
  'HTTP/1.1 500 Internal Server Error\r\n' +
  'Content-Type: application/x-amz-json-1.0\r\n' +
  'x-amzn-RequestId: chaos-proxy\r\n' +
  'Connection: close\r\n' +
  `Content-Length: ${Buffer.byteLength(ERROR_BODY)}\r\n\r\n${ERROR_BODY}`;

export async function startFaultyProxy(target: { host: string; port: number }, faults: ProxyFaults, random: () => number = Math.random): Promise<FaultyProxy> {
  const stats: ProxyStats = { requests: 0, delayed: 0, dropped: 0, lost: 0, stalled: 0, errors: 0 };
  const [stallMin, stallMax] = faults.stallMs ?? [1_500, 4_000];
  let calm = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  const server: Server = createServer((client) => {
    track(client);
    const upstream = connect(target.port, target.host);
    track(upstream);
    const reset = () => {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    };
    client.once('error', reset);
    upstream.once('error', reset);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());

    // Bytes leave in the order they came: each chunk waits for the previous one's delay.
    let toUpstream: Promise<void> = Promise.resolve();
    let loseAnswer = false;
    // Stalled, or answered by the proxy: the rest of the request goes nowhere.
    let muted = false;
    client.on('data', (chunk: Buffer) => {
      if (muted) return;
      let hold = 0;
      if (!calm && REQUEST_START.test(chunk.toString('latin1', 0, 8))) {
        stats.requests++;
        switch (pickFault(random(), faults)) {
          case 'drop':
            stats.dropped++;
            return reset();
          case 'error':
            stats.errors++;
            muted = true;
            client.end(ERROR_RESPONSE, () => upstream.destroy());
            return;
          case 'stall':
            stats.stalled++;
            muted = true;
            setTimeout(reset, stallMin + random() * (stallMax - stallMin));
            return;
          case 'lose':
            stats.lost++;
            loseAnswer = true;
            break;
          case 'delay':
            stats.delayed++;
            hold = 20 + random() * 280;
            break;
        }
      }
      toUpstream = toUpstream.then(async () => {
        if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold));
        if (!upstream.destroyed) upstream.write(chunk);
      });
    });
    upstream.on('data', (chunk: Buffer) => {
      // The request was applied; its answer never arrives.
      if (loseAnswer) return reset();
      if (!client.destroyed) client.write(chunk);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    calm: () => {
      calm = true;
    },
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

const FAULTS = ['drop', 'error', 'stall', 'lose', 'delay'] as const;

/** Which fault (if any) a roll in [0, 1) lands on, each taking its share of the range in turn. */
function pickFault(roll: number, faults: ProxyFaults): (typeof FAULTS)[number] | undefined {
  let edge = 0;
  for (const fault of FAULTS) {
    edge += faults[fault];
    if (roll < edge) return fault;
  }
  return undefined;
}
