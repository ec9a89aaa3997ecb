/**
 * `GET /quote?symbol=…`: a price quote, at most 5 requests per 10 seconds per source IP
 * (`rateLimit: { limit: 5, period: '10s', key: source IP }`): 5 at once, then one every 2 s. A
 * request over it gets `429` with `Retry-After` and starts no run; each one is logged and counted
 * (the dev dashboard's flow-control table shows the count).
 */
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import { durable, step } from 'durable-endpoints';
import { badRequest, json } from './http.ts';

export const handler = middy<APIGatewayProxyEventV2>()
  .use(durable({ rateLimit: { limit: 5, period: '10s', key: sourceIp } }))
  .handler(async (event) => {
    const symbol = event.queryStringParameters?.symbol;
    if (!symbol || !/^[A-Z]{1,5}$/.test(symbol)) return badRequest('`symbol` must be 1 to 5 capital letters, e.g. ?symbol=ACME.');

    const quote = await step.run('price', () => price(symbol));
    return json(200, quote);
  });

/** The caller's IP as API Gateway saw it: HTTP APIs (payload 2.0) and REST APIs (1.0) put it in different places. */
function sourceIp(event: APIGatewayProxyEventV2 | APIGatewayProxyEvent): string {
  return ('http' in event.requestContext ? event.requestContext.http.sourceIp : (event as APIGatewayProxyEvent).requestContext.identity.sourceIp) ?? 'unknown';
}

// A stand-in for a market data API: a price that moves with the symbol and the minute, no network.
async function price(symbol: string) {
  await new Promise((resolve) => setTimeout(resolve, 20));
  const minute = Math.floor(Date.now() / 60_000);
  const seed = [...symbol].reduce((sum, c) => sum * 31 + c.charCodeAt(0), minute) % 10_000;
  return { symbol, price: Number((50 + seed / 100).toFixed(2)), currency: 'USD', at: new Date().toISOString() };
}
