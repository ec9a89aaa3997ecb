/**
 * DynamoDB Local holds the journal, with fixed credentials anyone knows: it must be reachable from
 * this machine only. This is the test run's own DynamoDB Local, started by `startDynamoLocal` as
 * the dev server starts its one.
 */
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { describe, expect, inject, it } from 'vitest';

/** Whether a TCP connection to host:port is accepted (a refusal or no answer within 3 s: not). */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 3_000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

// The machine's addresses that other machines can reach it on.
const external = Object.values(networkInterfaces())
  .flat()
  .filter((address) => address && !address.internal && !address.address.startsWith('fe80:'))
  .map((address) => address!.address);

describe('DynamoDB Local', () => {
  const port = Number(new URL(inject('dynamoEndpoint')).port);

  it('listens on 127.0.0.1', async () => {
    expect(inject('dynamoEndpoint')).toBe(`http://127.0.0.1:${port}`);
    expect(await accepts('127.0.0.1', port)).toBe(true);
  });

  // Skipped on a machine with no address besides loopback: there is nothing to refuse.
  it.skipIf(external.length === 0)('refuses connections on the machine’s network addresses', async () => {
    for (const address of external) expect(await accepts(address, port), address).toBe(false);
  });
});
