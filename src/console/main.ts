import { api, whenUnauthorized } from './api.ts';
import { callAgentPanel } from './call-agent-panel.ts';
import { callView } from './call-view.ts';
import { callsView } from './calls-view.ts';
import { fill, h } from './dom.ts';
import { loginView } from './login-view.ts';
import { placeCallView } from './place-call-view.ts';

/** The console: hash routes `#/` (calls), `#/calls/<id>` (one call), `#/new` (place a call), behind a login when API_TOKEN is set. */

interface Session {
  authRequired: boolean;
  authenticated: boolean;
}

const main = h('main', { id: 'main' });
const signOut = h('button', { type: 'button', class: 'link', 'data-testid': 'sign-out', hidden: true }, 'Sign out');
const nav = h(
  'nav',
  {},
  h('a', { href: '#/', 'data-testid': 'nav-calls' }, 'Calls'),
  h('a', { href: '#/new', 'data-testid': 'nav-new' }, 'Place a call'),
  signOut,
);
const header = h(
  'header',
  { class: 'top' },
  h('a', { class: 'brand', href: '#/' }, 'callbridge'),
  nav,
  callAgentPanel(),
);
let dispose: () => void = () => {};
let signedIn = false;

function route(): void {
  dispose();
  if (!signedIn) return showLogin();
  header.hidden = false;
  const path = location.hash.replace(/^#/, '') || '/';
  const call = /^\/calls\/([0-9A-Za-z-]{1,64})$/.exec(path);
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.getAttribute('href') === `#${path}`);
  if (call) dispose = callView(main, call[1]!);
  else if (path === '/new') dispose = placeCallView(main);
  else dispose = callsView(main);
}

function showLogin(): void {
  dispose();
  signedIn = false;
  header.hidden = true;
  dispose = loginView(main, () => {
    signedIn = true;
    signOut.hidden = false;
    route();
  });
}

async function boot(): Promise<void> {
  document.body.append(header, main);
  whenUnauthorized(() => {
    if (signedIn) showLogin();
  });
  signOut.addEventListener('click', async () => {
    await api.del('/console/session').catch(() => {});
    showLogin();
  });
  window.addEventListener('hashchange', route);
  try {
    const s = await api.get<Session>('/console/session');
    signedIn = !s.authRequired || s.authenticated;
    signOut.hidden = !s.authRequired;
  } catch (e) {
    fill(main, h('p', { class: 'error', role: 'alert' }, e instanceof Error ? e.message : String(e)));
    return;
  }
  route();
}

void boot();
