/**
 * `GET /research?topic=...`: a deep-research agent. It plans queries, searches them in parallel (one
 * step each), extracts learnings per source, recurses once on follow-up queries and writes a report.
 * With the fakes' realistic latency its work takes about 32 s, past API Gateway's 30 s: at 25 s the
 * caller gets a 303 and the run goes on in a new invocation; the caller's results URL waits for the
 * report. Steps that finished are not run again; the one in flight at the hand-off (the 12 s report,
 * started at 20 s) runs once more, so the answer comes after about 38 s.
 *
 * Asked with `Accept: text/event-stream`, it streams its progress as it works: the planned queries,
 * each source as it is read, and the report as it is written. A live stream is not cut at 30 s,
 * so the whole run fits one invocation where the platform streams responses.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { durable, step, stream, streamingHandler } from 'durable-endpoints';
import { badRequest, json } from '../http.ts';
import { extractLearnings, followUpQueries, planQueries, search, writeReport, type Source } from './fakes.ts';

// Exported through streamingHandler: a request for an event stream is answered at once, while the agent works.
export const handler = streamingHandler(
  middy<APIGatewayProxyEventV2>()
    .use(durable({ handoffAfter: (process.env.RESEARCH_HANDOFF_AFTER as `${number}s`) ?? '25s' }))
    .handler(async (event) => {
      const topic = event.queryStringParameters?.topic?.trim();
      if (!topic || topic.length > 200) return badRequest('`topic` is required (at most 200 characters).');

      const queries = await step.run('plan', async () => {
        const planned = await planQueries(topic);
        stream.push({ type: 'queries', queries: planned });
        return planned;
      });
      const learnings = await research(topic, queries);
      const followUps = await step.run('follow-ups', async () => {
        const planned = await followUpQueries(topic, learnings);
        stream.push({ type: 'queries', queries: planned });
        return planned;
      });
      learnings.push(...(await research(topic, followUps)));
      const report = await step.run('report', async () => {
        let text = '';
        for await (const piece of writeReport(topic, learnings)) {
          stream.push({ type: 'report', text: piece });
          text += piece;
        }
        return text;
      });
      return json(200, { topic, report, learnings: learnings.length });
    }),
);

async function research(topic: string, queries: string[]): Promise<string[]> {
  const results: Source[][] = await Promise.all(queries.map((query) => step.run(`search:${query}`, () => search(query))));
  const sources = results.flat();
  const learned = await Promise.all(
    sources.map((source) =>
      step.run(`extract:${source.url}`, () => {
        stream.push({ type: 'source', title: source.title, url: source.url });
        return extractLearnings(topic, source);
      }),
    ),
  );
  return learned.flat();
}
