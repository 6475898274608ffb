import { BrowserCall, type BrowserCallState } from './browser-call.ts';
import { h } from './dom.ts';

const LABELS: Record<BrowserCallState['name'], string> = {
  connecting: 'Connecting…',
  ringing: 'Ringing…',
  'in call': 'In call',
  ended: 'Ended',
};

/** The header's "Call the agent" button, with the state of the call and its Hang up button. */
export function callAgentPanel(): HTMLElement {
  const audio = h('audio', { autoplay: true, 'data-testid': 'browser-call-audio' });
  const state = h('span', { class: 'state', 'data-testid': 'browser-call-state', 'aria-live': 'polite' });
  const hangup = h(
    'button',
    { type: 'button', class: 'danger', 'data-testid': 'browser-call-hangup', hidden: true },
    'Hang up',
  );
  const start = h('button', { type: 'button', class: 'primary', 'data-testid': 'call-agent' }, 'Call the agent');
  let call: BrowserCall | undefined;

  const show = (s: BrowserCallState) => {
    state.dataset['state'] = s.name;
    state.textContent = s.name === 'ended' ? `${LABELS.ended}: ${s.cause}` : LABELS[s.name];
    const live = s.name !== 'ended';
    hangup.hidden = !live;
    start.disabled = live;
  };
  start.addEventListener('click', () => {
    call = new BrowserCall(audio, show);
    void call.start();
  });
  hangup.addEventListener('click', () => call?.hangup());
  return h('div', { class: 'call-agent' }, start, state, hangup, audio);
}
