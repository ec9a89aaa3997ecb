/** The endpoint bench/stream-latency.ts measures, served by the dev server. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { durable, step, stream, streamingHandler } from 'durable-endpoints';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `POST /ticks` `{ count = 20, every = 50 }`: one step that streams `{ i, at }` (`at`: epoch ms when
 * pushed) `count` times, `every` ms apart. With `x-durable-inject-failure: ticks:1:<delay>`, its
 * first attempt fails before streaming and every chunk comes from the resumed attempt.
 */
export const ticks = streamingHandler(
  middy<APIGatewayProxyEventV2>()
    .use(durable())
    .handler(async (event) => {
      const { count = 20, every = 50 } = JSON.parse(event.body ?? '{}') as { count?: number; every?: number };
      await step.run('ticks', async () => {
        for (let i = 0; i < count; i++) {
          stream.push({ i, at: Date.now() });
          await pause(every);
        }
      });
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ count }) };
    }),
);
