/**
 * The events Lambda behind `POST /events` (IAM-authorized on AWS), and the target of the rule on
 * Step Functions execution status changes. Reads the journal table named by `DURABLE_TABLE` and
 * resumes runs with the deployment's timer.
 */
import { createEventsHandler } from '../sdk/routes/events.ts';

export const handler = createEventsHandler();
