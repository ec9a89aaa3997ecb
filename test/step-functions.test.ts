/**
 * `step.startExecution` and `step.waitForExecution`. No local emulator exists for Step Functions
 * (nor for EventBridge), so the SDK client is stubbed with aws-sdk-client-mock and the tests assert
 * the exact requests the adapter sends; the journal is real (DynamoDB Local), and the execution's end
 * reaches the run as AWS delivers it: an EventBridge "Execution Status Change" event given to the
 * events handler.
 */
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand, StateMachineDoesNotExist } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AwsStepFunctions, createEventsHandler, step, type ExecutionStatus } from '../sdk/index.ts';
import { executionArnFor, executionName } from '../sdk/workflows/step-functions.ts';
import { counter, durableFixture, httpApiEvent } from './support/fixture.ts';

const sfn = mockClient(SFNClient);
beforeEach(() => sfn.reset());

const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:Fulfilment';
const post = (payload: unknown = {}) => httpApiEvent({ method: 'POST', path: '/orders', body: payload });
const stepFunctions = () => new AwsStepFunctions({ client: new SFNClient({ region: 'eu-west-1' }) });

/** What EventBridge delivers when an execution of a Standard workflow changes status. */
function statusChange(executionArn: string, status: ExecutionStatus | 'RUNNING', extra: Record<string, unknown> = {}, id = `evt-${Math.random()}`) {
  return {
    version: '0',
    id,
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: [executionArn],
    detail: {
      executionArn,
      stateMachineArn: STATE_MACHINE,
      name: executionArn.split(':').pop(),
      status,
      startDate: Date.now() - 5_000,
      stopDate: status === 'RUNNING' ? null : Date.now(),
      input: '{"orderId":"o-1"}',
      output: null,
      inputDetails: { included: true },
      outputDetails: { included: true },
      error: null,
      cause: null,
      ...extra,
    },
  };
}

async function fulfilmentFixture() {
  const fixture = await durableFixture();
  const events = createEventsHandler({ journal: fixture.journal, timer: fixture.timer });
  const { counts, hit } = counter();
  const handler = fixture.wrap(
    async (event: { body: string }) => {
      const { orderId } = JSON.parse(event.body);
      const { executionArn } = await step.startExecution('fulfil', { stateMachineArn: STATE_MACHINE, input: { orderId } });
      const result = await step.waitForExecution<{ trackingId: string }>('fulfilled', executionArn, { timeout: '1h' });
      await step.run('after', () => hit('after'));
      return { statusCode: 200, body: JSON.stringify({ orderId, executionArn, result }) };
    },
    { stepFunctions: stepFunctions() },
  );
  return { ...fixture, events, handler, counts };
}

describe('step.startExecution', () => {
  it('starts the execution with a name derived from run and step, and journals it like step.run', async () => {
    const started = new Date('2030-01-01T00:00:00Z');
    sfn.on(StartExecutionCommand).callsFake(({ name }) => ({ executionArn: executionArnFor(STATE_MACHINE, name), startDate: started }));
    const { handler, journal, timer } = await fulfilmentFixture();

    const first = await handler(post({ orderId: 'o-1' }));
    const runId = first.headers!['x-durable-run-id']!;

    expect(first.statusCode).toBe(303);
    const calls = sfn.commandCalls(StartExecutionCommand);
    expect(calls.map((c) => c.args[0].input)).toEqual([{ stateMachineArn: STATE_MACHINE, name: executionName(runId, 'fulfil'), input: '{"orderId":"o-1"}' }]);
    expect(executionName(runId, 'fulfil')).toMatch(new RegExp(`^${runId}-fulfil-[0-9a-f]{10}$`));
    const { steps } = (await journal.load(runId))!;
    expect(steps.find((s) => s.id === 'fulfil')).toMatchObject({ status: 'completed', attempts: 1 });

    // The resume at the wait's timeout replays the journaled result: no second StartExecution.
    await handler(timer.take());
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it('completes with the execution an earlier attempt started when the name is taken (ExecutionAlreadyExists)', async () => {
    // The first call started the execution, but its answer was lost; the retry finds the name taken.
    sfn
      .on(StartExecutionCommand)
      .rejectsOnce(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }))
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const { handler } = await fulfilmentFixture();

    const first = await handler(post({ orderId: 'o-2' }));
    const runId = first.headers!['x-durable-run-id']!;

    const names = sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    expect(names).toEqual([executionName(runId, 'fulfil'), executionName(runId, 'fulfil')]);
    expect(first.statusCode).toBe(303); // now waiting for that execution
  });

  it('fails the step at once when the state machine does not exist', async () => {
    sfn.on(StartExecutionCommand).rejects(new StateMachineDoesNotExist({ message: 'State Machine Does Not Exist', $metadata: {} }));
    const { handler } = await fulfilmentFixture();

    const response = await handler(post({ orderId: 'o-3' }));

    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body!).error).toMatchObject({ name: 'NonRetriableError', message: expect.stringContaining('StateMachineDoesNotExist') });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it('names executions within Step Functions limits, distinct for repeated or long step ids', () => {
    const runId = '01JABCDEFGHJKMNPQRSTVWXYZ0';
    const names = [executionName(runId, 'ship'), executionName(runId, 'ship:1'), executionName(runId, 'ship 1'), executionName(runId, 'x'.repeat(256)), executionName(runId, `${'x'.repeat(256)}y`)];
    for (const name of names) expect(name).toMatch(/^[0-9A-Za-z_-]{1,80}$/);
    expect(new Set(names).size).toBe(names.length);
    expect(executionArnFor('arn:aws-cn:states:cn-north-1:123456789012:stateMachine:Orders:prod', 'n')).toBe('arn:aws-cn:states:cn-north-1:123456789012:execution:Orders:n');
  });
});

describe('step.waitForExecution and EventBridge status changes', () => {
  beforeEach(() => {
    sfn.on(StartExecutionCommand).callsFake(({ name }) => ({ executionArn: executionArnFor(STATE_MACHINE, name), startDate: new Date() }));
  });

  it('suspends the run until the execution succeeds, then completes with its parsed output', async () => {
    const { handler, events, journal, timer, result, counts } = await fulfilmentFixture();
    const first = await handler(post({ orderId: 'o-4' }));
    const runId = first.headers!['x-durable-run-id']!;
    const executionArn = executionArnFor(STATE_MACHINE, executionName(runId, 'fulfil'));
    expect((await journal.getRun(runId))?.status).toBe('waiting');

    // A RUNNING change (not final) and another execution's end change nothing.
    await events(statusChange(executionArn, 'RUNNING'));
    await events(statusChange(executionArnFor(STATE_MACHINE, 'other'), 'SUCCEEDED', { output: '{}' }));
    expect(timer.scheduled.filter((s) => s.event.reason === 'event')).toHaveLength(0);

    const delivered = await events(statusChange(executionArn, 'SUCCEEDED', { output: '{"trackingId":"T-9"}' }, 'evt-ok'));
    expect(JSON.parse(delivered.body!)).toEqual({ id: 'aws.states/evt-ok', resumed: [runId] });
    // EventBridge and Lambda deliver at least once: the same event again resumes nothing.
    expect(JSON.parse((await events(statusChange(executionArn, 'SUCCEEDED', { output: '{"trackingId":"T-9"}' }, 'evt-ok'))).body!)).toMatchObject({ duplicate: true, resumed: [] });

    const resume = timer.scheduled.filter((s) => s.event.reason === 'event');
    expect(resume).toHaveLength(1);
    await handler(resume[0]!.event);

    const final = await result(first.headers!.location!);
    expect(JSON.parse(final.body!)).toEqual({
      orderId: 'o-4',
      executionArn,
      result: { status: 'SUCCEEDED', output: { trackingId: 'T-9' }, outputIncluded: true, error: null, cause: null },
    });
    expect(counts).toEqual({ after: 1 });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it('reports a failed execution with its error and cause', async () => {
    const { handler, events, timer, result } = await fulfilmentFixture();
    const first = await handler(post({ orderId: 'o-5' }));
    const executionArn = executionArnFor(STATE_MACHINE, executionName(first.headers!['x-durable-run-id']!, 'fulfil'));

    await events(statusChange(executionArn, 'FAILED', { error: 'OutOfStock', cause: 'no widgets left' }));
    await handler(timer.scheduled.find((s) => s.event.reason === 'event')!.event);

    expect(JSON.parse((await result(first.headers!.location!)).body!).result).toEqual({
      status: 'FAILED',
      output: null,
      outputIncluded: true,
      error: 'OutOfStock',
      cause: 'no widgets left',
    });
  });

  it('finds an execution that ended before the wait began, without suspending', async () => {
    const fixture = await durableFixture();
    const events = createEventsHandler({ journal: fixture.journal, timer: fixture.timer });
    const executionArn = executionArnFor(STATE_MACHINE, 'started-elsewhere');
    await events(statusChange(executionArn, 'SUCCEEDED', { output: '42' }));
    const handler = fixture.wrap(async () => {
      const result = await step.waitForExecution('done', executionArn, { timeout: '1h' });
      return { statusCode: 200, body: JSON.stringify(result?.output) };
    });

    expect(await handler(post())).toMatchObject({ statusCode: 200, body: '42' });
  });

  it('refuses the execution event from POST /events: only EventBridge reports an execution’s end', async () => {
    const { handler, events, timer } = await fulfilmentFixture();
    const first = await handler(post({ orderId: 'o-6' }));
    const executionArn = executionArnFor(STATE_MACHINE, executionName(first.headers!['x-durable-run-id']!, 'fulfil'));

    const data = { executionArn, status: 'SUCCEEDED', output: { trackingId: 'forged' } };
    const answer = await events(httpApiEvent({ method: 'POST', path: '/events', body: { name: 'durable-endpoints/execution', data } }));

    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body!).error.message).toMatch(/reserved/);
    expect(timer.scheduled.filter((s) => s.event.reason === 'event')).toEqual([]);
  });

  it('completes a wait from an execution end shaped as EventBridge reports it, as the dev server sends one', async () => {
    const { handler, events, timer, result } = await fulfilmentFixture();
    const first = await handler(post({ orderId: 'o-7' }));
    const executionArn = executionArnFor(STATE_MACHINE, executionName(first.headers!['x-durable-run-id']!, 'fulfil'));

    await events(statusChange(executionArn, 'SUCCEEDED', { output: JSON.stringify({ trackingId: 'T-6' }) }));
    await handler(timer.scheduled.find((s) => s.event.reason === 'event')!.event);

    expect(JSON.parse((await result(first.headers!.location!)).body!).result).toEqual({
      status: 'SUCCEEDED',
      output: { trackingId: 'T-6' },
      outputIncluded: true,
      error: null,
      cause: null,
    });
  });

  it('resolves to null after the timeout', async () => {
    const fixture = await durableFixture();
    const handler = fixture.wrap(async () => {
      const result = await step.waitForExecution('done', executionArnFor(STATE_MACHINE, 'never-ends'), { timeout: '1s' });
      return { statusCode: 200, body: JSON.stringify(result) };
    });

    const first = await handler(post());
    await new Promise((r) => setTimeout(r, 1_100));
    await fixture.resume(handler);

    expect(await fixture.result(first.headers!.location!)).toMatchObject({ statusCode: 200, body: 'null' });
  });
});
