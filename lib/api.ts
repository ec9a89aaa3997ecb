import { Annotations, ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import { AuthorizationType, LambdaIntegration, ResponseTransferMode, type IAuthorizer, type IRestApi } from 'aws-cdk-lib/aws-apigateway';
import type { CfnApi, HttpApi, HttpMethod, IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import type { EndpointDefinition } from '../sdk/core/contract.ts';
import type { ResolvedCors } from '../sdk/core/cors.ts';

/** The API durable endpoints are routed on: an `HttpApi` (payload 2.0) or a `RestApi` (payload 1.0). */
export type DurableApi = HttpApi | IRestApi;

/** `'iam'`: callers sign their requests (SigV4) and need `execute-api:Invoke` on the route. */
export type RouteAuthorizer = IHttpRouteAuthorizer | IAuthorizer | 'iam';

const ROUTE_KEY = /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) (\/\S*)$/;

export function isRouteKey(routeKey: string): boolean {
  return ROUTE_KEY.test(routeKey);
}

function parse(routeKey: string): { method: string; path: string } {
  const [, method, path] = ROUTE_KEY.exec(routeKey) ?? [];
  if (!method || !path) throw new Error(`durable-endpoints: route key ${JSON.stringify(routeKey)} should look like 'POST /process' (method, one space, path).`);
  return { method, path };
}

function isHttpApi(api: DurableApi): api is HttpApi {
  return 'addRoutes' in api;
}

export function apiTypeOf(api: DurableApi): EndpointDefinition['apiType'] {
  return isHttpApi(api) ? 'http' : 'rest';
}

/** The API's base URL when it is known at synth: a `RestApi`'s or an `HttpApi`'s default stage's. */
export function urlOf(api: DurableApi): string | undefined {
  return isHttpApi(api) ? (api.url ?? api.apiEndpoint) : (api as { url?: string }).url;
}

/**
 * Routes `routeKey` to `fn`. With `streamTimeout` (REST APIs only: callers check, see
 * `streamTimeout()` in streaming.ts), the method's integration streams: response transfer mode
 * STREAM, which invokes the function with `InvokeWithResponseStream` (the
 * `response-streaming-invocations` URI), and waits up to `streamTimeout`.
 */
export function addRoute(api: DurableApi, routeKey: string, fn: IFunction, authorizer?: RouteAuthorizer, streamTimeout?: Duration): void {
  const { method, path } = parse(routeKey);
  if (isHttpApi(api)) {
    api.addRoutes({
      path,
      methods: [method as HttpMethod],
      integration: new HttpLambdaIntegration(`${routeKey}Integration`, fn),
      authorizer: authorizer === 'iam' ? new HttpIamAuthorizer() : (authorizer as IHttpRouteAuthorizer | undefined),
    });
  } else {
    // The permission LambdaIntegration adds (lambda:InvokeFunction for apigateway.amazonaws.com,
    // scoped to the method) covers InvokeWithResponseStream: Lambda has no separate action for it.
    const integration = new LambdaIntegration(fn, streamTimeout ? { responseTransferMode: ResponseTransferMode.STREAM, timeout: streamTimeout } : {});
    api.root
      .resourceForPath(path)
      .addMethod(method, integration, authorizer === 'iam' ? { authorizationType: AuthorizationType.IAM } : { authorizer: authorizer as IAuthorizer | undefined });
  }
}

/** HTTP APIs whose CORS configuration the kit set: the API's own is told apart from it. */
const configured = new WeakSet<HttpApi>();
const warned = new WeakSet<HttpApi>();

/**
 * The preflight of the route's path: on an HTTP API, the API's CORS configuration (API Gateway
 * answers the preflights of every route; set once, unless the API has its own); on a REST API, an
 * `OPTIONS` method on the resource (a mock integration, no authorizer: browsers send preflights
 * without credentials).
 */
export function addPreflight(api: DurableApi, routeKey: string, cors: ResolvedCors): void {
  const { path } = parse(routeKey);
  if (isHttpApi(api)) {
    if (configured.has(api)) return;
    const cfn = api.node.defaultChild as CfnApi;
    if (cfn.corsConfiguration === undefined) {
      configured.add(api);
      cfn.corsConfiguration = {
        allowOrigins: [...cors.allowOrigins],
        allowHeaders: [...cors.allowHeaders],
        exposeHeaders: [...cors.exposeHeaders],
        allowMethods: ['*'],
        allowCredentials: cors.allowCredentials,
        maxAge: cors.maxAge,
      };
    } else if (!warned.has(api)) {
      warned.add(api);
      Annotations.of(api).addWarningV2('durable-endpoints:cors', `The HTTP API has its own CORS configuration (corsPreflight), which is kept: the cors setting of DurableEndpoints only sets the Lambdas' answers. Allow the headers durableFetch sends there (prefer, idempotency-key).`);
    }
    return;
  }
  const resource = api.root.resourceForPath(path);
  if (resource.node.tryFindChild('OPTIONS')) return;
  const method = resource.addCorsPreflight({
    allowOrigins: [...cors.allowOrigins],
    allowHeaders: [...cors.allowHeaders],
    exposeHeaders: [...cors.exposeHeaders],
    allowCredentials: cors.allowCredentials,
    maxAge: Duration.seconds(cors.maxAge),
  });
  const reason = 'CORS preflight: browsers send it without credentials; it answers allowed origins, methods and headers from a mock integration and reaches no Lambda.';
  for (const id of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) Validations.of(method).acknowledge({ id, reason });
}

/** The construct cdk-nag reports a route's findings on. */
export function routeScope(api: DurableApi, routeKey: string): Construct {
  const { method, path } = parse(routeKey);
  if (isHttpApi(api)) return api.node.findChild(`${method}${path}`);
  return api.root.resourceForPath(path).node.findChild(method);
}

/**
 * Acknowledges cdk-nag's findings on a route without an authorizer (APIG4, and COG4 on a REST
 * API), with `reason`: a route that authenticates its requests itself or is public on purpose.
 */
export function acknowledgeOpenRoute(api: DurableApi, routeKey: string, reason: string): void {
  const route = Validations.of(routeScope(api, routeKey));
  for (const id of isHttpApi(api) ? ['AwsSolutions-APIG4'] : ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) route.acknowledge({ id, reason });
}

/** Lets `grantee` call the route on any stage: `execute-api:Invoke` on that method and path only. */
export function grantInvokeRoute(api: DurableApi, routeKey: string, grantee: IGrantable): Grant {
  const { method, path } = parse(routeKey);
  const apiId = isHttpApi(api) ? api.apiId : api.restApiId;
  const resourceName = `${apiId}/*/${method}${path.replace(/\{[^}]*\}/g, '*')}`;
  return Grant.addToPrincipal({
    grantee,
    actions: ['execute-api:Invoke'],
    resourceArns: [Stack.of(api).formatArn({ service: 'execute-api', resource: resourceName, arnFormat: ArnFormat.NO_RESOURCE_NAME })],
  });
}
