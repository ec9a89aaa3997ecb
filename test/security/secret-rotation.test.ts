/**
 * Rotating the secret that signs result URLs: URLs handed out before a rotation keep working for
 * their lifetime, and warm containers pick the new secret up. Secrets Manager has no local
 * emulator: its client is stubbed with aws-sdk-client-mock.
 */
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createResultsHandler, RetryAfterError, signToken, step, verifyToken } from '../../sdk/index.ts';
import { httpApiEvent, lambdaContext, MemoryJournal } from '../../sdk/testing/index.ts';
import { durableFixture } from '../support/fixture.ts';

const secrets = mockClient(SecretsManagerClient);
let arn: string;
let version = 0;

function stored(current: string, previous?: string) {
  secrets.reset();
  secrets.on(GetSecretValueCommand, { SecretId: arn }).resolves({ SecretString: current });
  if (previous) secrets.on(GetSecretValueCommand, { SecretId: arn, VersionStage: 'AWSPREVIOUS' }).resolves({ SecretString: previous });
  else secrets.on(GetSecretValueCommand, { SecretId: arn, VersionStage: 'AWSPREVIOUS' }).rejects(new ResourceNotFoundException({ message: 'no such version', $metadata: {} }));
}

beforeEach(() => {
  arn = `arn:aws:secretsmanager:eu-west-1:123456789012:secret:TokenSecret-${++version}`;
  process.env.DURABLE_TOKEN_SECRET_ARN = arn;
});
afterEach(() => {
  delete process.env.DURABLE_TOKEN_SECRET_ARN;
  vi.useRealTimers();
});

const RUN = '01JABCDEFGHJKMNPQRSTVWXYZ0';
async function fetchResult(token: string) {
  const journal = new MemoryJournal();
  await journal.write([
    { type: 'run', run: { runId: RUN, endpoint: 'POST /p', status: 'sleeping', attempt: 1, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', wakeAt: new Date(Date.now() + 60_000).toISOString(), ttl: 9e9 } },
  ]);
  const results = createResultsHandler({ journal });
  return results(httpApiEvent({ path: `/runs/${RUN}?wait=0&token=${encodeURIComponent(token)}`, routeKey: 'GET /runs/{runId}' }), lambdaContext());
}
const inAnHour = () => new Date(Date.now() + 3_600_000);

describe('token secret rotation', () => {
  it('accepts a URL signed with the previous version, refuses one signed with neither', async () => {
    stored('version-two-0123456789abcdef', 'version-one-0123456789abcdef');

    expect((await fetchResult(signToken('version-two-0123456789abcdef', RUN, inAnHour()))).statusCode).toBe(303);
    expect((await fetchResult(signToken('version-one-0123456789abcdef', RUN, inAnHour()))).statusCode).toBe(303);
    expect((await fetchResult(signToken('version-zero-0123456789abcdef', RUN, inAnHour()))).statusCode).toBe(401);
  });

  it('reads the previous version only for a token the current one refuses', async () => {
    stored('version-two-0123456789abcdef');

    await fetchResult(signToken('version-two-0123456789abcdef', RUN, inAnHour()));
    expect(secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.VersionStage)).toEqual([undefined]);
    expect((await fetchResult(signToken('forged-0123456789abcdefgh', RUN, inAnHour()))).statusCode).toBe(401);
    expect(secrets.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.VersionStage)).toEqual([undefined, 'AWSPREVIOUS']);
  });

  it('lets warm endpoints sign with the new secret a few minutes after a rotation', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    stored('before-rotation-0123456789');
    const { wrap } = await durableFixture({ tokenSecret: undefined });
    const handler = wrap(async () => {
      await step.run('s', () => {
        throw new RetryAfterError('later', '1h');
      });
    });
    const signed = async () => {
      const answer = await handler(httpApiEvent({ method: 'POST', path: '/p' }));
      return { runId: answer.headers!['x-durable-run-id']!, token: new URL(answer.headers!.location!).searchParams.get('token')! };
    };

    const before = await signed();
    stored('after-rotation-0123456789', 'before-rotation-0123456789');
    const stillCached = await signed();
    vi.setSystemTime(Date.now() + 6 * 60_000);
    const after = await signed();

    expect(verifyToken('before-rotation-0123456789', before.runId, before.token).ok).toBe(true);
    expect(verifyToken('before-rotation-0123456789', stillCached.runId, stillCached.token).ok).toBe(true); // verified as the previous version
    expect(verifyToken('after-rotation-0123456789', after.runId, after.token).ok).toBe(true);
  });

  it('signs with the first of several secrets given in code and verifies with each', async () => {
    const journal = new MemoryJournal();
    const results = createResultsHandler({ journal, tokenSecret: ['newest-secret-0123456789', 'older-secret-0123456789'] });

    const answer = await results(httpApiEvent({ path: `/runs/${RUN}?wait=0&token=${signToken('older-secret-0123456789', RUN, inAnHour())}`, routeKey: 'GET /runs/{runId}' }));

    expect(answer.statusCode).toBe(404); // the token was accepted; the run is simply not in this journal
  });
});
