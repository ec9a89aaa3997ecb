/**
 * The results Lambda behind `GET /runs/{runId}`. Reads the journal table named by `DURABLE_TABLE`
 * and verifies result URLs with `DURABLE_TOKEN_SECRET`, or the Secrets Manager secret at
 * `DURABLE_TOKEN_SECRET_ARN` (what the DurableEndpoints construct sets). On a REST API the construct
 * also sets `DURABLE_STREAMING=1` and the route's integration streams: the handler then runs in
 * Lambda's response-streaming mode.
 */
import { streamingHandler } from '../sdk/endpoint/lambda-streaming.ts';
import { createResultsHandler } from '../sdk/routes/results.ts';

export const handler = streamingHandler(createResultsHandler());
