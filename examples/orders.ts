/**
 * `POST /orders` with `{ "orderId": string, "approvalTimeout"?: duration }`: waits for the event
 * `order/approved` whose `data.orderId` matches (send it to `POST /events`), up to
 * `approvalTimeout` (default 1h), and answers `{ "orderId", "approved": true|false }`.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { durable, step } from 'durable-endpoints';
import { badRequest, json, parseJsonBody, validDuration } from './http.ts';

export const handler = middy<APIGatewayProxyEventV2>()
  .use(durable())
  .handler(async (event) => {
    const body = parseJsonBody(event.body);
    if (!body.ok) return badRequest(body.error);
    const { orderId, approvalTimeout = '1h' } = body.value as { orderId?: unknown; approvalTimeout?: unknown };
    if (typeof orderId !== 'string' || orderId.length === 0) return badRequest('`orderId` must be a non-empty string.');
    if (!validDuration(approvalTimeout)) return badRequest('`approvalTimeout` must be a duration such as "30s", "15m" or "1h".');

    const approval = await step.waitForEvent('approval', { event: 'order/approved', match: { 'data.orderId': orderId }, timeout: approvalTimeout });
    return json(200, { orderId, approved: approval !== null });
  });
