/**
 * The sweeper Lambda, invoked every minute by a schedule: re-arms live runs that are overdue (their
 * timer never fired, their attempt died) and gives up on runs that make no progress. Reads the
 * journal table named by `DURABLE_TABLE` (its `due` index) and invokes the endpoints.
 */
import { createSweeper } from '../sdk/routes/sweep.ts';

export const handler = createSweeper();
