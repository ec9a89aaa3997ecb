/**
 * Reproduces what the chaos run found on the dev server when a handler worker dies:
 *
 * 1. Every invocation that arrives before a replacement worker is ready starts a worker of its
 *    own (`HandlerRuntime.invoke` calls `load()` while `current` is unset), so after one death N
 *    concurrent requests start N workers, each importing the handlers and the AWS SDK: on a 2-core
 *    machine steps then take seconds and runs reach the hand-off.
 * 2. A request whose worker died before its first step was journaled leaves its Idempotency-Key
 *    claimed by a run that will never exist: the client's resend gets `409 RequestInProgress`, and
 *    does for 15 minutes (the claim goes stale after the longest possible Lambda, not after the
 *    endpoint's own timeout); `durableFetch` with `idempotent: true` gives up after 30 of them.
 *
 * Run: node --conditions=source --disable-warning=ExperimentalWarning test/chaos/repro/worker-death.ts
 */
import { fileURLToPath } from 'node:url';
import { startDevServer } from '../../../dev/server.ts';

const server = await startDevServer({
  port: 0,
  watch: false,
  log: () => undefined,
  endpoints: [{ routeKey: 'POST /exit', entry: fileURLToPath(new URL('./exit-endpoint.ts', import.meta.url)), handler: 'handler', format: '2.0', timeoutMs: 29_000, functionName: 'Exit' }],
});
const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${server.url.replace('localhost', '127.0.0.1')}/exit`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
try {
  // 1.
  console.log(`a worker answers: ${await (await post({})).text()}`);
  const died = await post({ exit: true });
  console.log(`a step ends its worker: ${died.status}`);
  const answers = await Promise.all(Array.from({ length: 8 }, () => post({ ms: 500 }).then((r) => r.json() as Promise<{ thread: number }>)));
  console.log(`1. 8 requests sent together after the death ran on ${new Set(answers.map((a) => a.thread)).size} distinct new worker threads: ${answers.map((a) => a.thread).join(', ')}`);

  // 2.
  const key = { 'idempotency-key': `key-${Date.now()}` };
  const first = await post({ exit: true }, key);
  const resent = await post({ exit: true }, key);
  console.log(`2. a request whose worker died before its first step: ${first.status}; the client sends it again with the same key: ${resent.status} ${await resent.text()} (retry-after ${resent.headers.get('retry-after')})`);
} finally {
  await server.close();
}
