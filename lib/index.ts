export {
  DurableEndpoints,
  registeredDurableEndpoints,
  type DurableEndpointsProps,
  type DurableEndpointProps,
  type DurableEndpointDefinition,
} from './durable-endpoints.ts';
export { JournalTable, type JournalTableProps } from './journal-table.ts';
export { TokenSecret, type TokenSecretProps } from './token-secret.ts';
export { PayloadBucket, type PayloadBucketProps } from './payload-bucket.ts';
export { ResumeTimer, type ResumeTimerProps } from './resume-timer.ts';
export { ResultsRoute, type ResultsRouteProps } from './results-route.ts';
export { EventsRoute, type EventsRouteProps } from './events-route.ts';
export { Sweeper, type SweeperProps } from './sweeper.ts';
export type { DurableApi } from './api.ts';
