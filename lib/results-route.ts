import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV, ROUTES } from '../sdk/core/contract.ts';
import { resolveCors, type CorsOptions } from '../sdk/core/cors.ts';
import { acknowledgeOpenRoute, addPreflight, addRoute, apiTypeOf, type DurableApi } from './api.ts';
import type { JournalTable } from './journal-table.ts';
import type { PayloadBucket } from './payload-bucket.ts';
import { kitFile, kitFunction, type LogOptions } from './kit-function.ts';
import { MAX_STREAM_DURATION, STREAMING_ENVIRONMENT } from './streaming.ts';

export interface ResultsRouteProps {
  /** The API the route is added to: the endpoints' API, so a browser follows the 303 on the same origin. */
  readonly api: DurableApi;
  readonly table: JournalTable;
  /** Verifies the token in result URLs. */
  readonly tokenSecret: ISecret;
  /** Where large responses are: served by presigned URL when larger than a Lambda may return. */
  readonly payloads?: PayloadBucket;
  /** How long the function's logs are kept. Default one month. */
  readonly logRetention?: LogOptions['logRetention'];
  /** What `cdk destroy` does with the function's log group. Default `RETAIN`. */
  readonly removalPolicy?: RemovalPolicy;
  /** CORS for pages on other origins: the route's preflight, and the Lambda's answers (`DURABLE_CORS`). Default none. */
  readonly cors?: CorsOptions;
}

/**
 * `GET /runs/{runId}`: the kit's results Lambda, which replays a finished run's response, answers
 * a failed run's error, or long-polls a running one. It reads the run item, the token secret and
 * stored responses in the payload bucket, nothing else. The route takes no authorizer: each request carries an HMAC token.
 *
 * On a REST API the route streams (response transfer mode STREAM, Lambda's response-streaming
 * invocation, 15 minutes): a request with `Accept: text/event-stream` gets the run's events, replayed
 * from the journal (so the function may also `Query` the run's items) and then followed live.
 * HTTP APIs cannot stream: there the route keeps the long-poll within the gateway's 30 seconds.
 */
export class ResultsRoute extends Construct {
  /** The route key, `GET /runs/{runId}`. */
  readonly routeKey: string = ROUTES.results;
  /** The results Lambda. */
  readonly function: NodejsFunction;
  /** Whether the route streams: on a REST API. */
  readonly streaming: boolean;

  constructor(scope: Construct, id: string, props: ResultsRouteProps) {
    super(scope, id);
    this.streaming = apiTypeOf(props.api) === 'rest';
    const cors = resolveCors(props.cors);
    // 'Default' leaves the construct's own id out of the function's logical ID: it keeps the
    // one it had before this construct existed, and with it its name.
    this.function = kitFunction(this, { function: 'Default', role: 'Role', logGroup: 'Logs' }, {
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      entry: kitFile('lambdas/results'),
      handler: 'handler',
      // A long-poll lasts up to 25 s, within API Gateway's 29-30 s; a stream up to API Gateway's 15 minutes.
      timeout: this.streaming ? MAX_STREAM_DURATION : Duration.seconds(29),
      memorySize: 256,
      environment: {
        [ENV.table]: props.table.tableName,
        [ENV.tokenSecretArn]: props.tokenSecret.secretArn,
        ...(props.payloads ? { [ENV.blobBucket]: props.payloads.bucketName } : {}),
        ...(this.streaming ? STREAMING_ENVIRONMENT : {}),
        ...(cors ? { [ENV.cors]: JSON.stringify(cors) } : {}),
      },
    });
    if (this.streaming) props.table.grantResultsStreamAccess(this.function);
    else props.table.grantResultsAccess(this.function);
    props.tokenSecret.grantRead(this.function);
    props.payloads?.grantResultsAccess(this.function);

    addRoute(props.api, this.routeKey, this.function, undefined, this.streaming ? MAX_STREAM_DURATION : undefined);
    if (cors) addPreflight(props.api, this.routeKey, cors);
    acknowledgeOpenRoute(props.api, this.routeKey, 'The results route authenticates each request itself: the URL carries an HMAC token over the run id and its expiry (401 otherwise).');
  }
}
