/**
 * Attack: read credentials out of the journal (anyone with table read access, a backup, the
 * dashboard), or a session out of a results URL someone shared.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_REDACT_HEADERS, RetryAfterError, step } from '../../sdk/index.ts';
import { httpApiEvent, restApiEvent } from '../../sdk/testing/index.ts';
import { durableFixture } from '../support/fixture.ts';

async function journaled(event: unknown, options = {}) {
  const { wrap, journal } = await durableFixture();
  const seen: unknown[] = [];
  const handler = wrap(async (e: { rawQueryString?: string; queryStringParameters?: unknown }) => {
    seen.push(e.queryStringParameters);
    await step.run('work', () => 1);
    return { statusCode: 200 };
  }, options);
  const answer = await handler(event);
  const loaded = await journal.load(answer.headers!['x-durable-run-id']!);
  return { request: loaded!.request, seen };
}

describe('what the journal keeps of a request', () => {
  it.each(['x-auth-token', 'proxy-authorization', 'x-amz-security-token', 'authorization', 'cookie', 'x-api-key', 'x-csrf-token'])('leaves out the %s header', async (name) => {
    const { request } = await journaled(httpApiEvent({ method: 'POST', path: '/p', headers: { [name]: 'credential-1234' } }));

    expect(JSON.stringify(request)).not.toContain('credential-1234');
  });

  it('replaces the values of token query parameters, on HTTP and REST APIs alike, and keeps the rest', async () => {
    for (const event of [
      httpApiEvent({ path: '/p?access_token=secret-abc&page=2&X-Amz-Signature=sig-xyz' }),
      restApiEvent({ path: '/p?access_token=secret-abc&page=2&X-Amz-Signature=sig-xyz' }),
    ]) {
      const { request, seen } = await journaled(event);

      expect(request.rawQuery).toBe('access_token=REDACTED&page=2&X-Amz-Signature=REDACTED');
      expect(JSON.stringify(request)).not.toMatch(/secret-abc|sig-xyz/);
      expect(seen[0]).toMatchObject({ access_token: 'secret-abc', page: '2' }); // the first attempt still sees them
    }
  });

  it('takes more headers and query parameters to leave out from the endpoint', async () => {
    const { request } = await journaled(httpApiEvent({ path: '/p?otp=123456', headers: { 'x-tenant-secret': 'tenant-key' } }), {
      redactHeaders: ['X-Tenant-Secret'],
      redactQuery: ['OTP'],
    });

    expect(request.rawQuery).toBe('otp=REDACTED');
    expect(request.headers['x-tenant-secret']).toBeUndefined();
    expect(DEFAULT_REDACT_HEADERS).toContain('authorization');
  });
});

describe('what a results URL replays', () => {
  it('gives the caller its Set-Cookie, and never replays it to whoever holds the results URL', async () => {
    const { wrap, journal, resume, result } = await durableFixture();
    let tries = 0;
    const handler = wrap(async () => {
      await step.run('login', () => {
        if (++tries === 1) throw new RetryAfterError('busy', '1m');
      });
      return { statusCode: 200, headers: { 'Set-Cookie': 'session=s3cr3t; HttpOnly' }, cookies: ['other=1'], body: 'welcome' };
    });
    const live = wrap(async () => {
      await step.run('login', () => 1);
      return { statusCode: 200, headers: { 'set-cookie': 'session=live' }, body: 'welcome' };
    });

    const first = await live(httpApiEvent({ method: 'POST', path: '/login' }));
    expect(first.headers!['set-cookie']).toBe('session=live');
    expect((await journal.getRun(first.headers!['x-durable-run-id']!))?.response?.headers?.['set-cookie']).toBeUndefined();

    const redirected = await handler(httpApiEvent({ method: 'POST', path: '/login' }));
    await resume(handler);
    const replayed = await result(redirected.headers!.location!);

    expect(replayed).toMatchObject({ statusCode: 200, body: 'welcome' });
    expect(JSON.stringify(replayed)).not.toMatch(/s3cr3t|other=1/);
  });

  it('keeps Set-Cookie in the stored response when the endpoint opts in', async () => {
    const { wrap, journal } = await durableFixture();
    const handler = wrap(
      async () => {
        await step.run('login', () => 1);
        return { statusCode: 200, headers: { 'set-cookie': 'session=kept' } };
      },
      { storeSetCookie: true },
    );

    const answer = await handler(httpApiEvent({ method: 'POST', path: '/login' }));

    expect((await journal.getRun(answer.headers!['x-durable-run-id']!))?.response?.headers?.['set-cookie']).toBe('session=kept');
  });
});
