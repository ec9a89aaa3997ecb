/**
 * The results Lambda behind `GET /runs/{runId}`. Reads the journal table named by `DURABLE_TABLE`
 * and verifies result URLs with `DURABLE_TOKEN_SECRET`, or the Secrets Manager secret at
 * `DURABLE_TOKEN_SECRET_ARN` (what the DurableEndpoints construct sets).
 */
import { createResultsHandler } from '../sdk/routes/results.ts';

export const handler = createResultsHandler();
