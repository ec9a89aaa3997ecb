/**
 * `GET /research?topic=...`: a deep-research agent. It plans queries, searches them in parallel (one
 * step each), extracts learnings per source, recurses once on follow-up queries and writes a report.
 * With the fakes' realistic latency its work takes about 32 s, past API Gateway's 30 s: at 25 s the
 * caller gets a 303 and the run goes on in a new invocation; the caller's results URL waits for the
 * report. Steps that finished are not run again; the one in flight at the hand-off (the 12 s report,
 * started at 20 s) runs once more, so the answer comes after about 38 s.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { durable, step } from 'durable-endpoints';
import { badRequest, json } from '../http.ts';
import { extractLearnings, followUpQueries, planQueries, search, synthesize, type Source } from './fakes.ts';

export const handler = middy<APIGatewayProxyEventV2>()
  .use(durable({ handoffAfter: (process.env.RESEARCH_HANDOFF_AFTER as `${number}s`) ?? '25s' }))
  .handler(async (event) => {
    const topic = event.queryStringParameters?.topic?.trim();
    if (!topic || topic.length > 200) return badRequest('`topic` is required (at most 200 characters).');

    const queries = await step.run('plan', () => planQueries(topic));
    const learnings = await research(topic, queries);
    const followUps = await step.run('follow-ups', () => followUpQueries(topic, learnings));
    learnings.push(...(await research(topic, followUps)));
    const report = await step.run('report', () => synthesize(topic, learnings));
    return json(200, { topic, report, learnings: learnings.length });
  });

async function research(topic: string, queries: string[]): Promise<string[]> {
  const results: Source[][] = await Promise.all(queries.map((query) => step.run(`search:${query}`, () => search(query))));
  const sources = results.flat();
  const learned = await Promise.all(sources.map((source) => step.run(`extract:${source.url}`, () => extractLearnings(topic, source))));
  return learned.flat();
}
