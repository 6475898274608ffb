/**
 * Server-Sent Events (of one call, or of all at /events), collected into a list as they arrive (close() ends
 * the stream). `headers`: sent as well (a console cookie, say).
 */
export function sse(url: string, token?: string, headers: Record<string, string> = {}) {
  const events: Array<{ event: string; data: any }> = [];
  const ctl = new AbortController();
  const done = (async () => {
    const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const res = await fetch(url, { headers: { ...auth, ...headers }, signal: ctl.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event) events.push({ event, data: data ? JSON.parse(data) : undefined });
      }
    }
  })().catch(() => {});
  return { events, done, close: () => ctl.abort() };
}
