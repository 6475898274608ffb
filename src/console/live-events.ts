import { api, signedOut } from './api.ts';

/**
 * An EventSource that tells the page when it lost its session: EventSource hides the HTTP status, so on a
 * closed stream we ask /console/session and let a 401 flow through the usual path.
 */
export function liveEvents(
  url: string,
  handlers: Record<string, (data: never) => void>, // each handler names the shape of its event
  onBroken: (message: string) => void,
): () => void {
  const es = new EventSource(url, { withCredentials: true });
  for (const [name, fn] of Object.entries(handlers)) {
    es.addEventListener(name, (e) => fn(JSON.parse((e as MessageEvent<string>).data) as never));
  }
  es.onerror = () => {
    if (es.readyState !== EventSource.CLOSED) return; // the browser reconnects by itself
    api
      .get<{ authRequired: boolean; authenticated: boolean }>('/console/session')
      .then((s) => (s.authRequired && !s.authenticated ? signedOut() : onBroken('live updates stopped')))
      .catch(() => onBroken('live updates stopped'));
  };
  return () => es.close();
}
