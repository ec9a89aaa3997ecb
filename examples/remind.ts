/** `GET /remind?after=<duration>`: sleeps, then answers `{ "remindedAt": <ISO time> }`. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { durable, step } from 'durable-endpoints';
import { badRequest, json, validDuration } from './http.ts';

export const handler = middy<APIGatewayProxyEventV2>()
  .use(durable())
  .handler(async (event) => {
    const after = event.queryStringParameters?.after;
    if (!validDuration(after)) return badRequest('`after` must be a duration such as "10s", "5m" or "2h".');

    await step.sleep('wait', after);
    const remindedAt = await step.run('remind', () => new Date().toISOString());
    return json(200, { remindedAt });
  });
