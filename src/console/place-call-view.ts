import { ApiError, api } from './api.ts';
import { fill, h } from './dom.ts';

/** A form over `POST /calls`: the main fields; the API's validation messages appear next to it. */
export function placeCallView(root: HTMLElement): () => void {
  /** Per field, where the API's message about it goes (its details read `<field>: <problem>`). */
  const fieldErrors = new Map<string, HTMLElement>();
  const field = (label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string) => {
    const error = h('small', { class: 'error', 'data-testid': `new-error-${input.name}` });
    fieldErrors.set(input.name, error);
    return h(
      'label',
      { class: 'field' },
      h('span', {}, label),
      input,
      hint && h('small', { class: 'muted' }, hint),
      error,
    );
  };
  const to = h('input', {
    name: 'to',
    required: true,
    inputmode: 'tel',
    placeholder: '+15551234567',
    'data-testid': 'new-to',
  });
  const from = h('input', {
    name: 'from',
    inputmode: 'tel',
    placeholder: 'default caller id',
    'data-testid': 'new-from',
  });
  const pipeline = h(
    'select',
    { name: 'pipeline', 'data-testid': 'new-pipeline' },
    h('option', { value: '' }, 'default'),
    ...['gemini-live', 'cascade', 'echo'].map((p) => h('option', { value: p }, p)),
  );
  const gateway = h('input', { name: 'gateway', placeholder: 'DEFAULT_GATEWAY', 'data-testid': 'new-gateway' });
  const openingReason = h('input', {
    name: 'opening_reason',
    placeholder: 'your appointment tomorrow',
    'data-testid': 'new-opening-reason',
  });
  const objective = h('textarea', {
    name: 'objective',
    rows: 3,
    placeholder: 'confirm or move the appointment',
    'data-testid': 'new-objective',
  });
  const greeting = h('input', { name: 'greeting', 'data-testid': 'new-greeting' });
  const voice = h('input', { name: 'voice', placeholder: 'Puck', 'data-testid': 'new-voice' });
  const language = h('input', { name: 'language', placeholder: 'en-US', 'data-testid': 'new-language' });
  const recording = h(
    'select',
    { name: 'recording', 'data-testid': 'new-recording' },
    h('option', { value: '' }, 'as configured'),
    h('option', { value: 'true' }, 'record'),
    h('option', { value: 'false' }, 'do not record'),
  );
  const errors = h('div', { class: 'error', role: 'alert', 'data-testid': 'new-errors' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'new-submit' }, 'Call');

  const form = h(
    'form',
    { class: 'new-call', 'data-testid': 'new-call-form', novalidate: true },
    field('To', to, 'digits with an optional leading +'),
    field('From', from),
    field('Pipeline', pipeline),
    field('Gateway', gateway),
    field('Why we call', openingReason, 'shapes the first sentence'),
    field('Objective', objective, 'what the call should achieve'),
    field('Greeting', greeting),
    field('Voice', voice),
    field('Language', language),
    field('Recording', recording),
    errors,
    submit,
  );

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body: Record<string, unknown> = {};
    for (const [k, input] of Object.entries({
      to,
      from,
      pipeline,
      gateway,
      opening_reason: openingReason,
      objective,
      greeting,
      voice,
      language,
    })) {
      const v = input.value.trim();
      if (v) body[k] = v;
    }
    if (!('to' in body)) body['to'] = ''; // let the API say what is wrong with it
    if (recording.value) body['recording'] = recording.value === 'true';
    submit.disabled = true;
    fill(errors);
    for (const e of fieldErrors.values()) e.textContent = '';
    try {
      const placed = await api.post<{ id: string }>('/calls', body);
      location.hash = `#/calls/${placed.id}`;
    } catch (err) {
      const apiErr = err instanceof ApiError ? err : undefined;
      for (const d of apiErr?.details ?? []) {
        const [, name, problem] = /^(?:body\.)?([a-z_]+): (.*)$/.exec(d) ?? [];
        const slot = name ? fieldErrors.get(name) : undefined;
        if (slot && problem) slot.textContent = problem;
      }
      fill(
        errors,
        h('p', {}, err instanceof Error ? err.message : String(err)),
        apiErr?.details.length &&
          h('ul', {}, ...apiErr.details.map((d) => h('li', { 'data-testid': 'new-error-detail' }, d))),
      );
    } finally {
      submit.disabled = false;
    }
  });

  fill(root, h('section', { class: 'place', 'data-testid': 'place-view' }, h('h1', {}, 'Place a call'), form));
  to.focus();
  return () => {};
}
