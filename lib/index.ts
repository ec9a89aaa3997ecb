export {
  DurableEndpoints,
  registeredDurableEndpoints,
  type DurableEndpointsProps,
  type DurableEndpointProps,
  type DurableEndpointDefinition,
} from './durable-endpoints.ts';
