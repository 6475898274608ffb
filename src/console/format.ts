/** How times and durations read on the page. */

/** `1:05`, `12:00:03`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** How long the call has lasted (answered → ended, or → now while live); empty before it was answered. */
export function callDuration(c: { answeredAt?: number; endedAt?: number }, now: number): string {
  if (!c.answeredAt) return '';
  return duration((c.endedAt ?? now) - c.answeredAt);
}

export function clock(ms: number): string {
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}
