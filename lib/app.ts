/**
 * The example app `cdk.json` runs: the quick start (`examples/process.ts`) as `POST /process`,
 * checked by cdk-nag's AwsSolutions pack. Environment-agnostic, so `cdk synth` needs no
 * credentials; `cdk deploy` takes the account and region from the profile.
 */
import { App, CfnOutput, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import nag from 'cdk-nag';
import { fileURLToPath } from 'node:url';
import { DurableEndpoints } from './index.ts';

const app = new App();
const stack = new Stack(app, 'DurableEndpointsExample', {
  description: 'durable-endpoints example: POST /process with its journal, results route and timers',
});

const durable = new DurableEndpoints(stack, 'Durable', {
  // An example: `cdk destroy` removes its data too. Keep the default (RETAIN) for real endpoints.
  removalPolicy: RemovalPolicy.DESTROY,
});
const processFunction = durable.addEndpoint('POST /process', { entry: fileURLToPath(new URL('../examples/process.ts', import.meta.url)) });
Validations.of(durable.api.node.findChild('POST/process')).acknowledge({
  id: 'AwsSolutions-APIG4',
  reason: 'The example endpoint is public on purpose, so a deployed stack can be tried with curl. Pass `authorizer` to addEndpoint for real endpoints.',
});

new CfnOutput(stack, 'ApiUrl', { value: durable.url!, description: 'Base URL: POST <ApiUrl>process' });
new CfnOutput(stack, 'TableName', { value: durable.table.tableName, description: 'The journal table' });
new CfnOutput(stack, 'ProcessFunctionName', { value: processFunction.functionName });

Validations.of(app).addPlugins(new nag.AwsSolutionsChecks(app));

export { app, durable };
