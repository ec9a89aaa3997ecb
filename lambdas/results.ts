/**
 * The results Lambda behind `GET /runs/{runId}`. Reads the journal table named by `DURABLE_TABLE`
 * and verifies result URLs with `DURABLE_TOKEN_SECRET`.
 */
import { createResultsHandler } from '../sdk/server/results.ts';

export const handler = createResultsHandler();
