/** The CDK app the chaos run serves with `durable dev`: one DurableEndpoints with `POST /chaos`. */
import { App, Stack } from 'aws-cdk-lib';
import { fileURLToPath } from 'node:url';
import { DurableEndpoints } from '../../lib/index.ts';

const app = new App();
const durable = new DurableEndpoints(new Stack(app, 'Chaos'), 'Durable');
durable.addEndpoint('POST /chaos', { entry: fileURLToPath(new URL('./endpoint.ts', import.meta.url)) });
