// lemu's live page. State (functions, environments, queue, rules) comes from GET /lemu/v1/state,
// refreshed after every event and every 2 s; the timeline comes from GET /lemu/v1/events
// (server-sent events: lemu answers each request with the events after Last-Event-ID and the
// page asks again at once, so nothing is missed). No framework, no build step.
// A lemu started with a control token wants it on every /lemu/v1/ call: open the page as
// /lemu/ui#token=TOKEN (the fragment never reaches the server, so no log sees it), or type it when
// the page asks. It is kept for this tab only (sessionStorage) and sent as X-Lemu-Control-Token.
'use strict';

const MAX_ROWS = 400;
const REFRESH_MS = 2000;
const OUTCOME_LABEL = {
  success: 'success', error: 'function error', timeout: 'timeout', oom: 'out of memory',
  throttle: 'throttled (429)', fault: 'injected fault',
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function fillTable(id, rows, emptyId) {
  const body = $(id).querySelector('tbody');
  body.replaceChildren(...rows);
  $(id).hidden = rows.length === 0;
  if (emptyId) $(emptyId).hidden = rows.length !== 0;
}

function whenText(rule) {
  const w = rule.When;
  if (!w || w.Always) return 'always';
  if (w.Nth) return 'invoke #' + w.Nth.join(', #');
  if (w.Every) return 'every ' + w.Every;
  if (w.Probability !== undefined) return 'p=' + w.Probability + (w.Seed !== undefined ? ' seed ' + w.Seed : '');
  return JSON.stringify(w);
}

const TOKEN_HEADER = 'X-Lemu-Control-Token';
const TOKEN_KEY = 'lemu-control-token';

// The token from #token=... or ?token=... (then taken out of the address bar), else this tab's.
function initialToken() {
  for (const params of [new URLSearchParams(location.hash.slice(1)), new URLSearchParams(location.search)]) {
    const t = params.get('token');
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t);
      history.replaceState(null, '', location.pathname);
      return t;
    }
  }
  return sessionStorage.getItem(TOKEN_KEY) || '';
}
let controlToken = initialToken();
let asking = null;
let declined = false; // the prompt was cancelled: do not ask again until the page is reloaded

// fetch() of a /lemu/v1/ path with the token; on 401 ask for the token once and try again.
async function api(path, init = {}) {
  const send = () => fetch(path, { ...init, headers: { ...(init.headers || {}),
    ...(controlToken ? { [TOKEN_HEADER]: controlToken } : {}) } });
  let r = await send();
  if (r.status === 401 && !declined) {
    if (!asking) {
      asking = Promise.resolve().then(() => {
        const t = window.prompt('This lemu requires its control token (lemu serve --control-token):', '');
        if (t) {
          controlToken = t.trim();
          sessionStorage.setItem(TOKEN_KEY, controlToken);
        } else {
          declined = true;
        }
        return Boolean(t);
      }).finally(() => { setTimeout(() => { asking = null; }, 0); });
    }
    if (await asking) r = await send();
  }
  return r;
}

let knownFunctions = '';
let knownKinds = '';

function renderState(s) {
  $('account').textContent = `account concurrency ${s.Account.UnreservedConcurrentExecutions} running `
    + `of ${s.Account.ConcurrentExecutions}`;
  fillTable('functions', s.Functions.map((f) => el('tr', { 'data-function': f.FunctionName },
    el('td', { class: 'fn' }, f.FunctionName), el('td', {}, f.Runtime),
    el('td', {}, el('span', { class: 'badge state-' + f.State }, f.State)),
    el('td', {}, f.Timeout + ' s'), el('td', {}, f.MemorySize + ' MB'),
    el('td', {}, f.ReservedConcurrentExecutions === null ? '—' : f.ReservedConcurrentExecutions),
    el('td', {}, f.ConcurrentExecutions))));
  fillTable('environments', s.Environments.map((e) => el('tr', { 'data-function': e.Function },
    el('td', { class: 'mono' }, e.Id), el('td', {}, e.Function), el('td', {}, e.State),
    el('td', {}, el('span', { class: 'badge ' + (e.Warm ? 'env-warm' : 'env-cold') },
      e.Warm ? 'warm' : 'cold start')),
    el('td', { class: 'mono' }, e.Pid), el('td', {}, (e.AgeMs / 1000).toFixed(1) + ' s'))), 'environments-empty');
  fillTable('queue', s.Queue.map((q) => el('tr', { 'data-request-id': q.RequestId },
    el('td', { class: 'mono' }, q.RequestId), el('td', {}, q.Function), el('td', {}, q.Attempts),
    el('td', {}, q.State), el('td', { class: 'mono' }, q.NextAttempt))), 'queue-empty');
  fillTable('faults', s.Faults.map((r) => {
    const remove = el('button', { type: 'button', title: 'remove rule ' + r.Id }, 'Remove');
    remove.addEventListener('click', () => removeRule(r.Id));
    return el('tr', { 'data-rule-id': r.Id }, el('td', { class: 'mono' }, r.Id), el('td', {}, r.Function),
      el('td', {}, r.Fault), el('td', {}, whenText(r)), el('td', {}, r.Times === undefined ? '∞' : r.Times),
      el('td', {}, r.Fired), el('td', {}, remove));
  }), 'faults-empty');
  const names = s.Functions.map((f) => f.FunctionName).join('\n');
  if (names !== knownFunctions) {
    knownFunctions = names;
    const sel = $('fault-function');
    const keep = sel.value;
    sel.replaceChildren(el('option', { value: '*' }, '* (every function)'),
      ...s.Functions.map((f) => el('option', { value: f.FunctionName }, f.FunctionName)));
    sel.value = keep || '*';
  }
  const kinds = s.FaultKinds.join('\n');
  if (kinds !== knownKinds) {
    knownKinds = kinds;
    $('fault-kind').replaceChildren(...s.FaultKinds.map((k) => el('option', { value: k }, k)));
  }
}

let refreshTimer = null;
async function refresh() {
  clearTimeout(refreshTimer);
  try {
    const r = await api('/lemu/v1/state', { cache: 'no-store' });
    if (r.ok) renderState(await r.json());
  } catch (e) {
    // lemu stopped: the events stream shows it; keep trying
  }
  refreshTimer = setTimeout(refresh, REFRESH_MS);
}

let refreshSoon = null;
function scheduleRefresh() {
  if (refreshSoon) return;
  refreshSoon = setTimeout(() => { refreshSoon = null; refresh(); }, 100);
}

function addEvent(ev) {
  const outcome = ev.Outcome || (ev.Type === 'async' ? 'success' : 'fault');
  if (ev.Type === 'async') return; // queue changes show in the queue table
  const time = new Date(ev.Time).toISOString().slice(11, 23);
  let what = OUTCOME_LABEL[outcome] || outcome;
  let extra = '';
  if (ev.Type === 'invocation') {
    extra = `${ev.DurationMs.toFixed(ev.DurationMs < 10 ? 2 : 0)} ms${ev.ColdStart ? ' · cold start' : ''}`
      + `${ev.Async ? ' · async' : ''}`;
  } else if (ev.Type === 'fault') {
    what = 'rule fired';
    extra = ev.Detail || '';
  }
  const row = el('li', { class: 'event outcome-' + outcome, 'data-type': ev.Type, 'data-outcome': outcome,
    'data-request-id': ev.RequestId || '', 'data-function': ev.Function },
  el('span', { class: 'time mono' }, time), el('span', { class: 'fn' }, ev.Function),
  el('span', {}, el('span', { class: 'badge outcome-' + outcome }, what)),
  el('span', { class: 'rid mono' }, ev.RequestId || ''), el('span', { class: 'extra' }, extra));
  const list = $('timeline');
  list.prepend(row);
  while (list.children.length > MAX_ROWS) list.lastChild.remove();
  $('timeline-empty').hidden = true;
}

// Each answer of /lemu/v1/events ends its response (at the latest after 2 s without news) and the
// page asks again with the last id it saw (fetch, not EventSource: EventSource cannot send the
// control token). The page says "lost" only when no answer came for LOST_MS.
const LOST_MS = 6000;
const RETRY_MS = 1000;
let lastAnswer = 0;
let refused = ''; // why lemu refused the last events request (401 / 403), shown instead of "lost"

function live() {
  lastAnswer = Date.now();
  $('conn').dataset.state = 'live';
  $('conn').textContent = 'live';
}

// The server-sent events of one answer: [{id, event, data}].
function parseEvents(text) {
  const out = [];
  for (const block of text.split('\n\n')) {
    const ev = { id: null, event: 'message', data: [] };
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') ev.id = value;
      else if (field === 'event') ev.event = value;
      else if (field === 'data') ev.data.push(value);
    }
    if (ev.data.length) out.push({ ...ev, data: ev.data.join('\n') });
  }
  return out;
}

async function pollEvents() {
  let lastId = null;
  for (;;) {
    try {
      const r = await api('/lemu/v1/events', { cache: 'no-store',
        headers: lastId === null ? {} : { 'Last-Event-ID': lastId } });
      if (r.status === 401 || r.status === 403) {
        refused = r.status === 401 ? 'lemu wants its control token: open /lemu/ui#token=TOKEN'
          : 'lemu answers this page only on 127.0.0.1 unless it has a control token';
        throw new Error('HTTP ' + r.status);
      }
      refused = '';
      if (!r.ok) throw new Error('HTTP ' + r.status);
      live();
      if (lastId === null) lastId = '0'; // from now on wait for news (0: none seen yet)
      for (const m of parseEvents(await r.text())) {
        if (m.id !== null) lastId = m.id;
        if (m.event !== 'lemu') continue;
        addEvent(JSON.parse(m.data));
        scheduleRefresh();
      }
    } catch (e) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS)); // lemu stopped: keep trying
    }
  }
}

function connect() {
  pollEvents();
  setInterval(() => {
    if (refused || Date.now() - lastAnswer > LOST_MS) {
      $('conn').dataset.state = 'lost';
      $('conn').textContent = refused || 'lemu is not answering…';
    }
  }, 1000);
}

async function control(method, path, body) {
  const r = await api(path, { method, headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) {
    let msg = text;
    try { msg = JSON.parse(text).message || text; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return text ? JSON.parse(text) : null;
}

async function removeRule(id) {
  try {
    await control('DELETE', '/lemu/v1/faults/' + encodeURIComponent(id));
    $('fault-message').textContent = '';
  } catch (e) {
    $('fault-message').textContent = e.message;
  }
  refresh();
}

$('fault-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const rule = { Function: $('fault-function').value, Fault: $('fault-kind').value };
  const when = $('fault-when').value;
  const n = Number($('fault-n').value);
  if (when === 'Always') rule.When = { Always: true };
  else if (when === 'Nth') rule.When = { Nth: [n] };
  else if (when === 'Every') rule.When = { Every: n };
  else rule.When = { Probability: n, Seed: 0 };
  if ($('fault-times').value) rule.Times = Number($('fault-times').value);
  try {
    const r = await control('POST', '/lemu/v1/faults', rule);
    $('fault-message').textContent = '';
    $('fault-message').dataset.lastId = r.Id;
  } catch (err) {
    $('fault-message').textContent = err.message;
  }
  refresh();
});

$('fault-clear').addEventListener('click', async () => {
  try {
    await control('DELETE', '/lemu/v1/faults');
    $('fault-message').textContent = '';
  } catch (e) {
    $('fault-message').textContent = e.message;
  }
  refresh();
});

refresh();
connect();
