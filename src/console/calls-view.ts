import { api } from './api.ts';
import { h, fill } from './dom.ts';
import { callDuration, clock } from './format.ts';
import { liveEvents } from './live-events.ts';
import { FINAL_STATUSES, STATUSES, type CallStatus, type CallSummary } from './types.ts';

const PAGE = 50;

/**
 * Live and recent calls, newest first. History comes from `GET /calls` (status filter on the server, paged
 * with `next`); the direction filter works on the page, since the API has none. `GET /events` keeps rows
 * current: new calls appear at the top, status changes update their row.
 */
export function callsView(root: HTMLElement): () => void {
  const calls = new Map<string, CallSummary>();
  let next: string | undefined;
  let status: CallStatus | '' = '';
  let direction: 'inbound' | 'outbound' | '' = '';

  const statusSelect = h(
    'select',
    { 'data-testid': 'filter-status', 'aria-label': 'Status' },
    h('option', { value: '' }, 'any state'),
    ...STATUSES.map((s) => h('option', { value: s }, s)),
  );
  const directionSelect = h(
    'select',
    { 'data-testid': 'filter-direction', 'aria-label': 'Direction' },
    h('option', { value: '' }, 'both directions'),
    h('option', { value: 'inbound' }, 'inbound'),
    h('option', { value: 'outbound' }, 'outbound'),
  );
  const message = h('p', { class: 'error', 'data-testid': 'calls-error', role: 'alert' });
  const tbody = h('tbody', { 'data-testid': 'calls-body' });
  const empty = h('p', { class: 'muted', 'data-testid': 'calls-empty' }, 'No calls yet.');
  const older = h('button', { type: 'button', 'data-testid': 'calls-older' }, 'Older');

  const shown = (c: CallSummary) => (!status || c.status === status) && (!direction || c.direction === direction);

  function row(c: CallSummary, now: number): HTMLTableRowElement {
    const live = !FINAL_STATUSES.has(c.status);
    const link = h('a', { href: `#/calls/${c.id}` }, c.from || '—');
    return h(
      'tr',
      { 'data-testid': 'call-row', 'data-call-id': c.id, 'data-status': c.status, class: live ? 'live' : '' },
      h(
        'td',
        { 'data-testid': 'call-status', 'data-label': 'State' },
        h('span', { class: `badge ${c.status}` }, c.status),
      ),
      h('td', { 'data-testid': 'call-direction', 'data-label': 'Direction' }, c.direction),
      h('td', { 'data-testid': 'call-from', 'data-label': 'From' }, link),
      h('td', { 'data-testid': 'call-to', 'data-label': 'To' }, c.to),
      h('td', { 'data-testid': 'call-pipeline', 'data-label': 'Pipeline' }, c.pipeline || 'default'),
      h('td', { 'data-testid': 'call-started', 'data-label': 'Started' }, clock(c.createdAt)),
      h('td', { 'data-testid': 'call-duration', 'data-label': 'Duration' }, callDuration(c, now)),
      h('td', { 'data-testid': 'call-cause', 'data-label': 'Hang-up cause' }, c.hangupCause ?? ''),
    );
  }

  function render(): void {
    const now = Date.now();
    const list = [...calls.values()].filter(shown).sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    fill(tbody, ...list.map((c) => row(c, now)));
    empty.hidden = list.length > 0;
    older.hidden = !next;
  }

  /** Durations of answered calls still going tick every second. */
  function tick(): void {
    const now = Date.now();
    for (const tr of tbody.querySelectorAll<HTMLTableRowElement>('tr.live')) {
      const c = calls.get(tr.dataset['callId'] ?? '');
      const cell = tr.querySelector('[data-testid="call-duration"]');
      if (c && cell) cell.textContent = callDuration(c, now);
    }
  }

  async function load(reset: boolean): Promise<void> {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (status) q.set('status', status);
    if (!reset && next) q.set('before', next);
    try {
      const page = await api.get<{ calls: CallSummary[]; next?: string }>(`/calls?${q}`);
      if (reset) for (const [id, c] of calls) if (FINAL_STATUSES.has(c.status)) calls.delete(id);
      for (const c of page.calls) calls.set(c.id, { ...calls.get(c.id), ...c });
      next = page.next;
      message.textContent = '';
    } catch (e) {
      message.textContent = e instanceof Error ? e.message : String(e);
    }
    render();
  }

  statusSelect.addEventListener('change', () => {
    status = statusSelect.value as CallStatus | '';
    next = undefined;
    void load(true);
  });
  directionSelect.addEventListener('change', () => {
    direction = directionSelect.value as typeof direction;
    render();
  });
  older.addEventListener('click', () => void load(false));

  fill(
    root,
    h(
      'section',
      { class: 'calls', 'data-testid': 'calls-view' },
      h('div', { class: 'toolbar' }, h('h1', {}, 'Calls'), statusSelect, directionSelect),
      message,
      h(
        'table',
        { class: 'calls-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['State', 'Direction', 'From', 'To', 'Pipeline', 'Started', 'Duration', 'Hang-up cause'].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        tbody,
      ),
      empty,
      h('div', { class: 'paging' }, older),
    ),
  );
  render();

  const stop = liveEvents(
    '/events',
    {
      snapshot: (d: { calls: CallSummary[] }) => {
        for (const c of d.calls) calls.set(c.id, { ...calls.get(c.id), ...c });
        render();
      },
      call: (d: { call: CallSummary }) => {
        calls.set(d.call.id, { ...calls.get(d.call.id), ...d.call });
        render();
      },
      // The server dropped us for falling behind: start over.
      overflow: () => void load(true),
    },
    (why) => {
      message.textContent = why;
    },
  );
  void load(true);
  const timer = setInterval(tick, 1000);
  return () => {
    stop();
    clearInterval(timer);
  };
}
