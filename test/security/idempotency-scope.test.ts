/**
 * Attack: reuse someone else's Idempotency-Key to read their stored response (Set-Cookie included).
 * Keys are scoped to the principal API Gateway authenticated, else to the credentials the request
 * carries; a retry by the same principal attaches to its run even when its signature changed.
 */
import { describe, expect, it } from 'vitest';
import { step } from '../../sdk/index.ts';
import { httpApiEvent, restApiEvent } from '../../sdk/testing/index.ts';
import type { MemoryTable } from '../../sdk/journal/memory-table.ts';
import { counter, durableFixture } from '../support/fixture.ts';

type Context = Record<string, unknown>;
const KEY = 'export-2026-11-21'; // predictable keys are common

async function charging() {
  const { wrap, journal } = await durableFixture();
  const { counts, hit } = counter();
  const handler = wrap(async () => {
    const n = await step.run('charge', () => hit('charge'));
    return { statusCode: 201, headers: { 'set-cookie': `session=${n}` }, body: `charge ${n}` };
  });
  return { handler, counts, journal };
}

function http(authorizer: Context | undefined, headers: Record<string, string> = {}) {
  const event = httpApiEvent({ method: 'POST', path: '/charge', body: { amount: 5 }, headers: { 'idempotency-key': KEY, ...headers } });
  if (authorizer) (event.requestContext as unknown as Context).authorizer = authorizer;
  return event;
}

function rest(context: { authorizer?: Context; identity?: Context }, headers: Record<string, string> = {}) {
  const event = restApiEvent({ method: 'POST', path: '/charge', body: { amount: 5 }, headers: { 'idempotency-key': KEY, ...headers } });
  if (context.authorizer) (event.requestContext as unknown as Context).authorizer = context.authorizer;
  if (context.identity) Object.assign(event.requestContext.identity, context.identity);
  return event;
}

const styles: { name: string; same: [unknown, unknown]; other: unknown }[] = [
  {
    name: 'a JWT authorizer (issuer and subject; the token itself changes)',
    same: [
      http({ jwt: { claims: { iss: 'https://idp', sub: 'alice' } } }, { authorization: 'Bearer token-1' }),
      http({ jwt: { claims: { iss: 'https://idp', sub: 'alice' } } }, { authorization: 'Bearer token-2' }),
    ],
    other: http({ jwt: { claims: { iss: 'https://idp', sub: 'bob' } } }, { authorization: 'Bearer token-1' }),
  },
  {
    name: 'a Cognito user pool authorizer on a REST API',
    same: [rest({ authorizer: { claims: { iss: 'https://cognito', sub: 'alice' } } }), rest({ authorizer: { claims: { iss: 'https://cognito', sub: 'alice' } } })],
    other: rest({ authorizer: { claims: { iss: 'https://cognito', sub: 'bob' } } }),
  },
  {
    name: 'IAM (SigV4: the Authorization header differs on every retry)',
    same: [
      http({ iam: { userArn: 'arn:aws:iam::1:user/alice' } }, { authorization: 'AWS4-HMAC-SHA256 Signature=aaa' }),
      http({ iam: { userArn: 'arn:aws:iam::1:user/alice' } }, { authorization: 'AWS4-HMAC-SHA256 Signature=bbb' }),
    ],
    other: http({ iam: { userArn: 'arn:aws:iam::1:user/bob' } }, { authorization: 'AWS4-HMAC-SHA256 Signature=aaa' }),
  },
  {
    name: 'a Lambda authorizer on a REST API (its principal)',
    same: [rest({ authorizer: { principalId: 'alice', tier: 'gold' } }), rest({ authorizer: { principalId: 'alice', tier: 'gold' } })],
    other: rest({ authorizer: { principalId: 'bob', tier: 'gold' } }),
  },
  {
    name: 'a Lambda authorizer on an HTTP API (its context)',
    same: [http({ lambda: { user: 'alice', tier: 'gold' } }), http({ lambda: { tier: 'gold', user: 'alice' } })],
    other: http({ lambda: { user: 'bob', tier: 'gold' } }),
  },
  {
    name: 'a REST API key (its id, not its value)',
    same: [rest({ identity: { apiKeyId: 'key-alice' } }, { 'x-api-key': 'secret-a' }), rest({ identity: { apiKeyId: 'key-alice' } }, { 'x-api-key': 'secret-a' })],
    other: rest({ identity: { apiKeyId: 'key-bob' } }, { 'x-api-key': 'secret-b' }),
  },
  {
    name: 'session cookies, without an authorizer',
    same: [http(undefined, { cookie: 'sid=alice-session' }), http(undefined, { cookie: 'sid=alice-session' })],
    other: http(undefined, { cookie: 'sid=bob-session' }),
  },
];

describe('Idempotency-Key scope', () => {
  it.each(styles)('with $name: the same principal attaches to its run, another never sees it', async ({ same: [first, retry], other }) => {
    const { handler, counts } = await charging();

    const answered = await handler(first);
    const attached = await handler(retry);
    const others = await handler(other);

    // The stored answer, as replayed: without the Set-Cookie only the first caller got.
    expect(attached).toMatchObject({ statusCode: 201, body: answered.body, headers: { 'x-durable-run-id': answered.headers!['x-durable-run-id'] } });
    expect(attached.headers!['set-cookie']).toBeUndefined();
    expect(others.headers!['x-durable-run-id']).not.toBe(answered.headers!['x-durable-run-id']);
    expect(others.body).toBe('charge 2');
    expect(counts.charge).toBe(2);
  });

  it('scopes keys with the endpoint’s own scope function when given one', async () => {
    const { wrap } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(
      async () => {
        await step.run('charge', () => hit('charge'));
        return { statusCode: 201, body: 'ok' };
      },
      { idempotency: { scope: (event) => (event.headers as Record<string, string>)['x-tenant']! } },
    );

    await handler(http(undefined, { 'x-tenant': 'acme', authorization: 'Bearer one' }));
    await handler(http(undefined, { 'x-tenant': 'acme', authorization: 'Bearer two' }));
    await handler(http(undefined, { 'x-tenant': 'globex', authorization: 'Bearer one' }));

    expect(counts.charge).toBe(2);
  });

  it('stores the scope only as a hash keyed by the deployment secret, never the credentials', async () => {
    const basic = 'Basic YWxpY2U6aHVudGVyMg=='; // alice:hunter2
    const stored: string[] = [];
    for (const tokenSecret of ['deployment-one-0123456789abcdef', 'deployment-two-0123456789abcdef']) {
      const { wrap, journal } = await durableFixture({ tokenSecret });
      await wrap(async () => step.run('charge', () => 1))(http(undefined, { authorization: basic }));
      const table = (journal as unknown as { table: MemoryTable }).table;
      const items = table.partitionKeys().flatMap((pk) => table.query(pk).map(([, item]) => item));
      const dump = JSON.stringify(items);
      expect(dump).not.toContain('YWxpY2U6aHVudGVyMg');
      stored.push(items.find((item) => item.fingerprint !== undefined)!.caller as string);
    }

    // A plain hash would be the same in every deployment, and crackable offline.
    expect(stored[0]).not.toBe(stored[1]);
  });
});
