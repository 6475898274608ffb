import { ApiError, api } from './api.ts';
import { fill, h } from './dom.ts';

/** Asks for API_TOKEN once; callbridge answers with a signed, HttpOnly session cookie. */
export function loginView(root: HTMLElement, done: () => void): () => void {
  const token = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'current-password',
    required: true,
    'data-testid': 'login-token',
    'aria-label': 'API token',
  });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'login-error' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'login', 'data-testid': 'login-form' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'This callbridge asks for its API token (API_TOKEN).'),
    h('label', { class: 'field' }, h('span', {}, 'API token'), token),
    error,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      await api.post('/console/session', { token: token.value });
      token.value = '';
      done();
    } catch (err) {
      error.textContent =
        err instanceof ApiError && err.status === 401 ? 'Wrong token.' : String((err as Error).message);
    } finally {
      submit.disabled = false;
    }
  });
  fill(root, form);
  token.focus();
  return () => {};
}
