/**
 * The example app `cdk.json` runs, checked by cdk-nag's AwsSolutions pack: the quick start
 * (`examples/process.ts`) as `POST /process`; the examples of runs that outlive the request:
 * `GET /research` (hands off at the gateway's deadline), `POST /orders` (waits for an event sent to
 * `POST /events`) and `GET /remind` (sleeps); and flow control: `POST /reports` (two at once per
 * tenant) and `GET /quote` (5 per 10 s per source IP). Environment-agnostic, so `cdk synth` needs no
 * credentials; `cdk deploy` takes the account and region from the profile.
 */
import { App, CfnOutput, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import nag from 'cdk-nag';
import { fileURLToPath } from 'node:url';
import { DurableEndpoints } from './index.ts';

const app = new App();
const stack = new Stack(app, 'DurableEndpointsExample', {
  description: 'durable-endpoints examples: POST /process, GET /research, POST /orders, GET /remind, POST /reports, GET /quote with their journal, results and events routes, and timers',
});

const durable = new DurableEndpoints(stack, 'Durable', {
  // An example: `cdk destroy` removes its data too. Keep the default (RETAIN) for real endpoints.
  removalPolicy: RemovalPolicy.DESTROY,
});
const example = (file: string) => fileURLToPath(new URL(`../examples/${file}`, import.meta.url));

// Says so to cdk-nag (AwsSolutions-APIG4). Pass `authorizer` instead for real endpoints.
const PUBLIC = 'An example endpoint, public on purpose so that a deployed stack can be tried with curl.';

const processFunction = durable.addEndpoint('POST /process', { entry: example('process.ts'), public: PUBLIC });
// The agent works about 32 s: the caller gets the 303 at 25 s, during the 12 s report step, which
// the resumed invocation runs again (about 38 s in all; a resume is not bound by API Gateway's 30 s).
durable.addEndpoint('GET /research', { entry: example('research/handler.ts'), timeout: Duration.minutes(5), public: PUBLIC });
durable.addEndpoint('POST /orders', { entry: example('orders.ts'), public: PUBLIC });
durable.addEndpoint('GET /remind', { entry: example('remind.ts'), public: PUBLIC });
durable.addEndpoint('POST /reports', { entry: example('reports.ts'), public: PUBLIC });
durable.addEndpoint('GET /quote', { entry: example('quote.ts'), public: PUBLIC });

new CfnOutput(stack, 'ApiUrl', {
  value: durable.url!,
  description: 'Base URL: POST <ApiUrl>process, GET <ApiUrl>research?topic=…, POST <ApiUrl>orders, GET <ApiUrl>remind?after=…, POST <ApiUrl>reports, GET <ApiUrl>quote?symbol=…',
});
new CfnOutput(stack, 'TableName', { value: durable.table.tableName, description: 'The journal table' });
new CfnOutput(stack, 'ProcessFunctionName', { value: processFunction.functionName });
new CfnOutput(stack, 'EventsFunctionName', { value: durable.eventsFunction.functionName, description: 'Behind POST <ApiUrl>events (IAM-authorized)' });
new CfnOutput(stack, 'EventsDeadLetterQueueUrl', { value: durable.eventsDeadLetterQueue.queueUrl, description: 'Execution ends the events Lambda never took: should stay empty' });

Validations.of(app).addPlugins(new nag.AwsSolutionsChecks(app));

export { app, durable };
