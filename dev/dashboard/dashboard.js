// The dev dashboard: runs from /_durable/api, refreshed every second. Plain DOM, no build step;
// everything from the API is rendered as text, never as HTML.
const $ = (id) => document.getElementById(id);
const api = (path, init) => fetch(`/_durable/api${path}`, init).then((r) => r.json());
let selected = decodeURIComponent(location.hash.replace(/^#\/runs\//, '')) || undefined;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('data-')) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? '')));
  return node;
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');
const ms = (from, to) => Math.max(0, Date.parse(to) - Date.parse(from));
const INJECT_FAILURE_HEADER = 'x-durable-inject-failure';
let endpoints = [];

async function loadEndpoints() {
  ({ endpoints } = await api('/endpoints'));
  for (const { routeKey } of endpoints) $('endpoint-filter').append(el('option', { value: routeKey }, routeKey));
}

/** A curl command that calls one of the served endpoints on this server, as README shows it: -L, and no -X POST (curl would POST the results URL too). */
function exampleCall() {
  const known = endpoints.find((e) => e.routeKey === 'POST /process');
  if (known) return `curl -L ${location.origin}/process -d '{"userId":"u1","data":{}}'`;
  const any = endpoints.find((e) => /^(GET|POST) /.test(e.routeKey));
  if (!any) return undefined;
  const [method, path] = any.routeKey.split(' ');
  return `curl -L ${location.origin}${path}${method === 'POST' ? ` -d '{}'` : ''}`;
}

function showEmpty(filtered) {
  const call = exampleCall();
  $('no-runs').replaceChildren(
    ...(filtered ? ['No runs match these filters.'] : call ? ['No runs yet. Call an endpoint, e.g. ', el('code', {}, call)] : ['No runs yet: call an endpoint.']),
  );
}

const filters = () => ({ status: $('status-filter').value, endpoint: $('endpoint-filter').value });

async function refreshRuns() {
  const { status, endpoint } = filters();
  const query = new URLSearchParams();
  if (status) query.set('status', status);
  if (endpoint) query.set('endpoint', endpoint);
  const { runs } = await api(`/runs?${query}`);
  $('no-runs').hidden = runs.length > 0;
  if (runs.length === 0) showEmpty(Boolean(status || endpoint));
  $('run-rows').replaceChildren(
    ...runs.map((run) => {
      const row = el(
        'tr',
        { class: run.runId === selected ? 'selected' : '', 'data-run-id': run.runId, onclick: () => select(run.runId) },
        el('td', {}, el('code', {}, run.runId)),
        el('td', {}, run.endpoint),
        el('td', { class: `status status-${run.status}`, title: run.why ?? '' }, run.status),
        el('td', {}, run.attempt),
        el('td', {}, time(run.createdAt)),
      );
      return row;
    }),
  );
}

// Limited keys: what runs now, what waits, and what was turned away (every 429 is counted).
async function refreshFlow() {
  const { limits } = await api('/flow');
  $('flow').hidden = limits.length === 0;
  $('flow-rows').replaceChildren(
    ...limits.map((limit) =>
      el(
        'tr',
        { 'data-flow-key': `${limit.scope}|${limit.kind}|${limit.key}` },
        el(
          'td',
          { class: 'flow-limit' },
          `${limit.scope} · ${limit.kind}${limit.limit === undefined ? '' : ` ${limit.limit}${limit.periodMs ? `/${limit.periodMs / 1000}s` : ''}`}`,
          limit.nextStartAt ? el('small', {}, `next start ${time(limit.nextStartAt)}`) : '',
        ),
        el('td', {}, el('code', {}, limit.key)),
        el('td', { class: 'flow-running' }, limit.running === undefined ? '' : `${limit.running}/${limit.limit ?? '?'}`),
        el('td', { class: 'flow-queued' }, limit.queued ?? ''),
        el('td', { class: limit.rejected > 0 ? 'flow-rejected warn' : 'flow-rejected', title: limit.lastRejectedAt ? `last at ${time(limit.lastRejectedAt)}` : '' }, limit.rejected),
      ),
    ),
  );
}

function select(runId) {
  if (runId !== selected) $('replay-note').hidden = true;
  selected = runId;
  location.hash = `#/runs/${runId}`;
  void refresh();
}

async function refreshDetail() {
  if (!selected) return;
  const detail = await api(`/runs/${selected}`);
  if (detail.error) {
    $('detail').hidden = true;
    return;
  }
  const { run, request, steps } = detail;
  // A run the filters leave out of the list is left out of the page too.
  const { status, endpoint } = filters();
  $('detail').hidden = Boolean((status && run.status !== status) || (endpoint && run.endpoint !== endpoint));
  const replayed = run.replayedAt ? ` · replayed ${time(run.replayedAt)}${request.headers[INJECT_FAILURE_HEADER] ? ' without injected faults' : ''}` : '';
  $('detail-title').replaceChildren(`${run.endpoint} · `, el('span', { class: `status status-${run.status}`, id: 'detail-status' }, run.status));
  $('detail-meta').textContent = `run ${run.runId} · attempt ${run.attempt} · started ${time(run.createdAt)} · updated ${time(run.updatedAt)}${run.wakeAt && run.limitedBy?.kind !== 'concurrency' ? ` · next attempt ${time(run.wakeAt)}` : ''}${replayed}`;
  $('detail-why').hidden = !run.why;
  $('detail-why').textContent = run.why ? `Queued: ${run.why}` : '';
  $('detail-error').hidden = !run.error;
  $('detail-error').textContent = run.error ? `${run.error.name}: ${run.error.message}` : '';
  $('replay').hidden = run.status !== 'failed';
  renderWaterfall(run, steps);
  $('request').textContent = `${request.method} ${request.path}${request.rawQuery ? `?${request.rawQuery}` : ''}\n${Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${request.body ?? ''}`;
  $('response').textContent = run.response
    ? `${run.response.statusCode}\n${Object.entries(run.response.headers ?? {}).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${run.response.body ?? ''}`
    : '(none yet)';
}

function renderWaterfall(run, steps) {
  const start = Date.parse(run.createdAt);
  const end = Math.max(Date.parse(run.updatedAt), ...steps.map((s) => Date.parse(s.endedAt ?? s.retryAt ?? s.startedAt)));
  const span = Math.max(1, end - start);
  $('waterfall').replaceChildren(
    ...steps.map((step) => {
      const from = Date.parse(step.startedAt) - start;
      const to = Date.parse(step.endedAt ?? step.retryAt ?? step.startedAt) - start;
      const bar = el('div', { class: `bar ${step.status}` });
      bar.style.left = `${(100 * from) / span}%`;
      bar.style.width = `${Math.max(0.3, (100 * (to - from)) / span)}%`;
      const detail = step.status === 'completed' ? JSON.stringify(step.output) ?? 'no output' : step.error ? `${step.error.name}: ${step.error.message}` : '';
      const info = `${step.status} · ${step.attempts} attempt${step.attempts === 1 ? '' : 's'}${step.endedAt ? ` · ${ms(step.startedAt, step.endedAt)} ms` : ''}${step.retryAt ? ` · next ${time(step.retryAt)}` : ''}\n${detail}`;
      return el(
        'div',
        { class: 'step', role: 'listitem', 'data-step-id': step.id, 'data-attempts': String(step.attempts), 'data-status': step.status },
        el('span', { class: 'step-name', title: step.id }, step.id),
        el('div', { class: 'track' }, bar),
        el('div', { class: 'step-info' }, info),
        ...streamed(step),
      );
    }),
  );
}

const chunkText = (chunk) => (typeof chunk === 'string' ? chunk : JSON.stringify(chunk));

/** What a step streamed: its committed chunks, and those of attempts that failed and were rolled back. */
function streamed(step) {
  const lists = [];
  for (const failed of step.rolledBack ?? []) {
    lists.push(
      el(
        'div',
        { class: 'chunks rolled-back', 'data-try': String(failed.try) },
        el('span', { class: 'chunks-title' }, `rolled back: ${failed.chunks.length} chunk${failed.chunks.length === 1 ? '' : 's'} of attempt ${failed.try}${failed.truncated ? ' (cut)' : ''}`),
        el('ol', {}, ...failed.chunks.map((chunk) => el('li', {}, chunkText(chunk)))),
      ),
    );
  }
  if (step.chunks) {
    lists.push(
      el(
        'div',
        { class: 'chunks committed' },
        el('span', { class: 'chunks-title' }, `streamed: ${step.chunks.length} chunk${step.chunks.length === 1 ? '' : 's'}, committed${step.commit ? ` (#${step.commit})` : ''}`),
        el('ol', {}, ...step.chunks.map((chunk) => el('li', {}, chunkText(chunk)))),
      ),
    );
  }
  return lists;
}

async function refresh() {
  try {
    await Promise.all([refreshRuns(), refreshDetail(), refreshFlow()]);
    $('live').textContent = '● live';
    $('live').className = 'live-ok';
  } catch {
    $('live').textContent = '○ dev server unreachable';
    $('live').className = 'live-down';
  }
}

$('replay').onclick = async () => {
  $('replay').disabled = true;
  try {
    const response = await fetch(`/_durable/api/runs/${selected}/replay`, { method: 'POST' });
    const answer = await response.json();
    $('replay-note').textContent = response.ok
      ? `Running again from its failed step${answer.injectedFaultsOff ? `, without the faults its request injected (${answer.injectedFaultsOff}): a replay takes the cause as fixed.` : '.'}`
      : answer.error;
  } catch (error) {
    $('replay-note').textContent = `The replay was not sent: ${error.message}`;
  } finally {
    $('replay-note').hidden = false;
    $('replay').disabled = false;
  }
  await refresh();
};
$('filters').onchange = () => void refresh();
window.onhashchange = () => {
  selected = decodeURIComponent(location.hash.replace(/^#\/runs\//, '')) || undefined;
  void refresh();
};

await loadEndpoints();
await refresh();
setInterval(refresh, 1000);
