/**
 * What `durable()` and the results handler take from the environment the DurableEndpoints
 * construct sets, when nothing is configured in code. Secrets Manager and Step Functions have no
 * local emulator: their clients are stubbed with aws-sdk-client-mock; the journal is DynamoDB Local.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createResultsHandler, durable, RetryAfterError, step, type HttpResponse } from '../sdk/index.ts';
import { httpApiEvent, lambdaContext } from '../sdk/testing/index.ts';
import { createTestJournal } from './support/fixture.ts';

const secrets = mockClient(SecretsManagerClient);
const sfn = mockClient(SFNClient);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:DurableTokenSecret-AbCdEf';
const ENV = {
  DURABLE_TOKEN_SECRET_ARN: SECRET_ARN,
  DURABLE_TIMER_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:Timer',
  DURABLE_SCHEDULER_GROUP: 'durable-schedules',
  DURABLE_SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/SchedulerRole',
  AWS_LAMBDA_FUNCTION_NAME: 'process-function',
};

beforeEach(() => {
  Object.assign(process.env, ENV);
  secrets.reset().on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({ SecretString: 'generated-secret-from-secrets-manager-0123' });
  sfn.reset().on(StartExecutionCommand).resolves({});
});
afterEach(() => {
  for (const name of [...Object.keys(ENV), 'DURABLE_TOKEN_SECRET']) delete process.env[name];
});

describe('a deployed endpoint with no timer or secret in code', () => {
  it('suspends through the AWS timer named by the environment and signs the result URL with the secret from Secrets Manager, read once', async () => {
    const journal = await createTestJournal();
    let failures = 0;
    const handler = middy()
      .use(durable({ journal, inlineDelayMax: 0 }))
      .handler(async () => {
        await step.run('charge', () => {
          if (failures++ < 2) throw new RetryAfterError('busy', '30s');
          return 1;
        });
        return { statusCode: 200, body: 'ok' };
      });
    const results = createResultsHandler({ journal });
    const call = () => handler(httpApiEvent({ method: 'POST', path: '/charge', body: {} }) as never, lambdaContext({ functionName: 'process-function' })) as Promise<HttpResponse>;

    const first = await call();
    const second = await call();

    expect([first.statusCode, second.statusCode]).toEqual([303, 303]);
    const starts = sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
    expect(starts.map((s) => s.stateMachineArn)).toEqual([ENV.DURABLE_TIMER_STATE_MACHINE_ARN, ENV.DURABLE_TIMER_STATE_MACHINE_ARN]);
    expect(JSON.parse(starts[0]!.input!).functionName).toBe('process-function');
    // The results route (another handler in the process, as in the results Lambda) verifies it with the same secret.
    const location = new URL(first.headers!.location!);
    const answer = await results(httpApiEvent({ path: `${location.pathname}${location.search}&wait=0`, routeKey: 'GET /runs/{runId}' }), lambdaContext());
    expect(answer.statusCode).toBe(303); // still running, so the token was accepted (a bad one answers 401)
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('prefers DURABLE_TOKEN_SECRET to the deployed secret', async () => {
    process.env.DURABLE_TOKEN_SECRET = 'a-secret-set-in-the-environment-0123';
    const journal = await createTestJournal();
    const results = createResultsHandler({ journal });

    const answer = await results(httpApiEvent({ path: '/runs/01JABCDEFGHJKMNPQRSTVWXYZ0?token=bad', routeKey: 'GET /runs/{runId}' }), lambdaContext());

    expect(answer.statusCode).toBe(401);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('says what to check when the secret cannot be read', async () => {
    process.env.DURABLE_TOKEN_SECRET_ARN = `${SECRET_ARN}-other`;
    secrets.on(GetSecretValueCommand, { SecretId: `${SECRET_ARN}-other` }).rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }));
    const results = createResultsHandler({ journal: await createTestJournal() });

    const answer = results(httpApiEvent({ path: '/runs/01JABCDEFGHJKMNPQRSTVWXYZ0?token=x', routeKey: 'GET /runs/{runId}' }), lambdaContext());

    await expect(answer).rejects.toThrow(/could not read the token secret .*AccessDeniedException.*secretsmanager:GetSecretValue/);
  });
});
