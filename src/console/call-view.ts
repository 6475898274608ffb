import { ApiError, api } from './api.ts';
import { fill, h } from './dom.ts';
import { callDuration, clock } from './format.ts';
import { latencyChart } from './latency-chart.ts';
import { turnLatencies } from './latency.ts';
import { liveEvents } from './live-events.ts';
import { Timeline, type TimelineItem } from './timeline.ts';
import { FINAL_STATUSES, type CallRecord, type CallStatus, type TranscriptEntry } from './types.ts';

function errorText(e: unknown): string {
  if (e instanceof ApiError) return [e.message, ...e.details].join('\n');
  return e instanceof Error ? e.message : String(e);
}

/**
 * One call: its facts, the conversation as it happens (from `/calls/:id/events`), per-turn latency, the
 * recording, and the controls a live call has (hang up, transfer, say).
 */
export function callView(root: HTMLElement, id: string): () => void {
  let record: CallRecord | undefined;
  const timeline = new Timeline();
  const facts = h('dl', { class: 'facts', 'data-testid': 'call-facts' });
  const lines = h('ol', { class: 'timeline', 'data-testid': 'transcript' });
  const chart = h('div', { class: 'chart', 'data-testid': 'latency' });
  const recording = h('div', { class: 'recording', 'data-testid': 'recording' });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'call-error' });
  const info = h('p', { class: 'muted', 'data-testid': 'call-info' });

  const hangup = h('button', { type: 'button', class: 'danger', 'data-testid': 'hangup' }, 'Hang up');
  const transferTarget = h('input', {
    'data-testid': 'transfer-target',
    placeholder: '+15551234567 or sip:user@host',
    'aria-label': 'Transfer to',
  });
  const transfer = h('button', { type: 'submit', 'data-testid': 'transfer' }, 'Transfer');
  const sayText = h('input', { 'data-testid': 'say-text', placeholder: 'Text the agent says', 'aria-label': 'Say' });
  const say = h('button', { type: 'submit', 'data-testid': 'say' }, 'Say');
  const controls = [hangup, transferTarget, transfer, sayText, say];

  async function act(what: () => Promise<string | undefined>): Promise<void> {
    error.textContent = '';
    info.textContent = '';
    try {
      info.textContent = (await what()) ?? '';
    } catch (e) {
      error.textContent = errorText(e);
    }
  }
  hangup.addEventListener('click', () =>
    act(async () => {
      await api.del(`/calls/${id}`);
      return 'Hanging up…';
    }),
  );
  const transferForm = h('form', { class: 'inline' }, transferTarget, transfer);
  transferForm.addEventListener('submit', (e) => {
    e.preventDefault();
    void act(async () => {
      const r = await api.post<{ ok: boolean; reason?: string; detail?: string }>(`/calls/${id}/transfer`, {
        target: transferTarget.value.trim(),
      });
      if (!r.ok) throw new Error(`transfer ${r.reason ?? 'failed'}${r.detail ? `: ${r.detail}` : ''}`);
      return 'Transferred.';
    });
  });
  const sayForm = h('form', { class: 'inline' }, sayText, say);
  sayForm.addEventListener('submit', (e) => {
    e.preventDefault();
    void act(async () => {
      await api.post(`/calls/${id}/say`, { text: sayText.value });
      sayText.value = '';
      return 'Sent to the agent.';
    });
  });

  function renderFacts(): void {
    if (!record) return;
    const r = record;
    const fact = (label: string, value: string | undefined, testid: string) =>
      value ? [h('dt', {}, label), h('dd', { 'data-testid': testid }, value)] : [];
    fill(
      facts,
      ...fact('State', r.status, 'fact-status'),
      ...fact('Direction', r.direction, 'fact-direction'),
      ...fact('From', r.from, 'fact-from'),
      ...fact('To', r.to, 'fact-to'),
      ...fact('Pipeline', r.pipeline || 'default', 'fact-pipeline'),
      ...fact('Started', clock(r.createdAt), 'fact-started'),
      ...fact('Duration', callDuration(r, Date.now()), 'fact-duration'),
      ...fact('Hang-up cause', r.hangupCause, 'fact-cause'),
      ...fact('Why it ended', r.endReason, 'fact-end-reason'),
      ...fact('Objective', r.objective, 'fact-objective'),
    );
    const over = FINAL_STATUSES.has(r.status);
    for (const c of controls) c.disabled = over;
  }

  function item(x: TimelineItem): HTMLLIElement {
    if (x.kind === 'dtmf')
      return h(
        'li',
        { class: 'dtmf', 'data-testid': 'timeline-dtmf' },
        h('span', { class: 'who' }, 'digits'),
        x.digits,
      );
    return h(
      'li',
      {
        class: `${x.speaker}${x.final ? '' : ' interim'}`,
        'data-testid': 'transcript-line',
        'data-speaker': x.speaker,
        'data-final': String(x.final),
      },
      h('span', { class: 'who' }, x.speaker),
      h('span', { class: 'text' }, x.text),
    );
  }

  function renderTimeline(changed?: number): void {
    const atBottom = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 4;
    if (changed !== undefined && changed < lines.children.length)
      lines.children[changed]!.replaceWith(item(timeline.items[changed]!));
    else if (changed !== undefined && changed === lines.children.length) lines.append(item(timeline.items[changed]!));
    else fill(lines, ...timeline.items.map(item));
    if (atBottom) lines.scrollTop = lines.scrollHeight;
  }

  function renderChart(): void {
    if (!record) return;
    const turns = turnLatencies(record.turns, record.heardTurns);
    fill(chart, turns.length ? latencyChart(turns) : h('p', { class: 'muted' }, 'No replies yet.'));
  }

  function renderRecording(): void {
    const r = record?.recording;
    if (r?.status === 'complete')
      fill(
        recording,
        h('audio', {
          controls: true,
          preload: 'none',
          src: `/calls/${id}/recording`,
          'data-testid': 'recording-audio',
        }),
      );
    else
      fill(
        recording,
        h(
          'p',
          { class: 'muted' },
          !r ? 'Not recorded.' : r.status === 'recording' ? 'Recording…' : `No recording (${r.reason ?? r.status}).`,
        ),
      );
  }

  function renderAll(): void {
    renderFacts();
    renderTimeline();
    renderChart();
    renderRecording();
  }

  fill(
    root,
    h(
      'section',
      { class: 'call', 'data-testid': 'call-view' },
      h('p', {}, h('a', { href: '#/' }, '← Calls')),
      h('h1', {}, 'Call ', h('code', {}, id)),
      error,
      info,
      h('div', { class: 'controls' }, hangup, transferForm, sayForm),
      h(
        'div',
        { class: 'columns' },
        h('div', {}, facts, h('h2', {}, 'Latency per turn'), chart, h('h2', {}, 'Recording'), recording),
        h('div', {}, h('h2', {}, 'Conversation'), lines),
      ),
    ),
  );

  let stop = () => {};
  let disposed = false;

  /**
   * The stream is over: read the record again for its final facts. The recording (and its analysis, the heard
   * latency) finishes a little after the call: look again, once a second, for a while.
   */
  async function settle(): Promise<void> {
    for (let i = 0; i < 30 && !disposed; i++) {
      try {
        record = await api.get<CallRecord>(`/calls/${id}`);
      } catch {
        return;
      }
      renderFacts();
      renderChart();
      renderRecording();
      const r = record.recording;
      if (r?.status !== 'recording' && (r?.status !== 'complete' || record.heardTurns)) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  const timer = setInterval(() => {
    if (record?.answeredAt && !record.endedAt) renderFacts();
  }, 1000);

  api
    .get<CallRecord>(`/calls/${id}`)
    .then((r) => {
      record = r;
      timeline.reset(r.transcript);
      renderAll();
      if (FINAL_STATUSES.has(r.status)) return void settle();
      stop = liveEvents(
        `/calls/${id}/events`,
        {
          snapshot: (s: CallRecord) => {
            record = s;
            timeline.reset(s.transcript);
            renderAll();
          },
          status: (d: { status: CallStatus; at: number; hangupCause?: string; endReason?: string }) => {
            if (!record) return;
            record.status = d.status;
            if (d.status === 'answered') record.answeredAt ??= d.at;
            if (FINAL_STATUSES.has(d.status)) record.endedAt ??= d.at;
            if (d.hangupCause) record.hangupCause = d.hangupCause;
            if (d.endReason) record.endReason = d.endReason;
            renderFacts();
          },
          transcript: (d: { entry: TranscriptEntry }) => renderTimeline(timeline.transcript(d.entry)),
          dtmf: (d: { digits: string; at: number }) => renderTimeline(timeline.dtmf(d.digits, d.at)),
          turn: (d: { timings: Record<string, number> }) => {
            record?.turns.push(d.timings);
            renderChart();
          },
          // The stream is over: the record has the final facts (recording, heard latency).
          end: () => {
            stop();
            void settle();
          },
        },
        (why) => {
          error.textContent = why;
        },
      );
    })
    .catch((e) => {
      error.textContent = errorText(e);
      for (const c of controls) c.disabled = true;
    });

  return () => {
    disposed = true;
    stop();
    clearInterval(timer);
  };
}
