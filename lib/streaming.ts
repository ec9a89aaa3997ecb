import { Annotations, Duration } from 'aws-cdk-lib';
import { CfnRestApi, type IRestApi } from 'aws-cdk-lib/aws-apigateway';
import type { IConstruct } from 'constructs';
import { STREAMING_ENV } from '../sdk/endpoint/lambda-streaming.ts';

/**
 * API Gateway ends a streamed response after 15 minutes, whatever the integration's timeout (and a
 * Lambda function runs 15 minutes at most): the longest a streaming method's integration and its
 * function may run, and their default.
 */
export const MAX_STREAM_DURATION = Duration.minutes(15);

/** What a function behind a streaming integration gets: its handler may answer with a streamed body. */
export const STREAMING_ENVIRONMENT: Readonly<Record<string, string>> = { [STREAMING_ENV]: '1' };

/**
 * The timeout of a streaming method's integration and function: `timeout`, or the 15 minutes API
 * Gateway allows a stream. Throws for an HTTP API, which cannot stream, and for a longer timeout.
 */
export function streamTimeout(routeKey: string, apiType: 'http' | 'rest', timeout = MAX_STREAM_DURATION): Duration {
  if (apiType === 'http') {
    throw new Error(
      `DurableEndpoints.addEndpoint: ${routeKey} cannot stream on an HTTP API: API Gateway streams responses only from REST API ` +
        "methods (response transfer mode STREAM). Give DurableEndpoints a REST API (`api: new RestApi(stack, 'Api', { endpointTypes: [EndpointType.REGIONAL] })`), " +
        'or drop `streaming` (the endpoint then answers a stream request with the whole response at the end).',
    );
  }
  if (timeout.toSeconds() > MAX_STREAM_DURATION.toSeconds()) {
    throw new Error(`DurableEndpoints.addEndpoint: ${routeKey}: a streamed response lasts at most 15 minutes on API Gateway; \`timeout\` is ${timeout.toHumanString()}.`);
  }
  return timeout;
}

/**
 * Warns on `method` when the API is edge-optimized (CDK's default for a `RestApi`): API Gateway
 * closes a stream that sends nothing for 30 seconds there, 5 minutes on a regional or private API.
 * An imported API's endpoint type is unknown, so it gets no warning.
 */
export function warnIfEdgeOptimized(api: IRestApi, method: IConstruct): void {
  const resource = api.node.defaultChild;
  if (!(resource instanceof CfnRestApi)) return;
  const types = (resource.endpointConfiguration as CfnRestApi.EndpointConfigurationProperty | undefined)?.types ?? ['EDGE'];
  if (!types.includes('EDGE')) return;
  Annotations.of(method).addWarningV2(
    'durable-endpoints:stream-idle-timeout',
    'This method streams on an edge-optimized REST API, where API Gateway closes a stream that sends nothing for 30 seconds ' +
      '(5 minutes on a regional API): use `endpointTypes: [EndpointType.REGIONAL]`, or make sure the response sends something at least every 30 seconds.',
  );
}
