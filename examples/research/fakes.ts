/**
 * Deterministic stand-ins for an LLM and a web search API: same input, same output, no network,
 * with latencies like the real services'. `RESEARCH_LATENCY_SCALE` (default 1) scales every delay.
 */
const scale = Number(process.env.RESEARCH_LATENCY_SCALE ?? 1);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms * scale));

export const LATENCY_MS = { plan: 3_000, search: 3_000, extract: 4_000, followUps: 3_000, synthesize: 12_000 };

export interface Source {
  url: string;
  title: string;
  snippet: string;
}

const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

export async function planQueries(topic: string): Promise<string[]> {
  await pause(LATENCY_MS.plan);
  return [`${topic} overview`, `${topic} recent advances`, `${topic} open problems`];
}

export async function search(query: string): Promise<Source[]> {
  await pause(LATENCY_MS.search);
  return [1, 2].map((n) => ({
    url: `https://search.example/${slug(query)}/${n}`,
    title: `${query} (${n})`,
    snippet: `Finding ${n} about ${query}: ${slug(query).length * n} notable results.`,
  }));
}

export async function extractLearnings(topic: string, source: Source): Promise<string[]> {
  await pause(LATENCY_MS.extract);
  return [`${source.title}: ${source.snippet}`];
}

export async function followUpQueries(topic: string, learnings: string[]): Promise<string[]> {
  await pause(LATENCY_MS.followUps);
  return [`${topic} case studies (${learnings.length} learnings so far)`, `${topic} criticism`];
}

/** The report, written line by line over `LATENCY_MS.synthesize`, as an LLM streams its tokens. */
export async function* writeReport(topic: string, learnings: string[]): AsyncGenerator<string> {
  const lines = [`# ${topic}`, '', ...learnings.map((learning) => `- ${learning}`)];
  for (const [i, line] of lines.entries()) {
    await pause(LATENCY_MS.synthesize / lines.length);
    yield i < lines.length - 1 ? `${line}\n` : line;
  }
}
