/**
 * `POST /exit` for repro/worker-death.ts: its one step answers the worker thread's id after `ms`;
 * with `exit: true` it ends its worker first (process.exit(1)), before anything is journaled.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { threadId } from 'node:worker_threads';
import { durable, step } from 'durable-endpoints';

export const handler = middy<APIGatewayProxyEventV2>()
  .use(durable())
  .handler(async (event) => {
    const { exit = false, ms = 0 } = JSON.parse(event.body ?? '{}') as { exit?: boolean; ms?: number };
    const thread = await step.run('only', async () => {
      if (exit) process.exit(1);
      await new Promise((resolve) => setTimeout(resolve, ms));
      return threadId;
    });
    return { statusCode: 200, body: JSON.stringify({ thread }) };
  });
