/** Which Live model a name means, where the wire differs between them. */

/** Gemini 3.8 Live (and its extended-thinking variant): no thinking level, proactive audio always on. */
export function isLive38(model: string): boolean {
  return /(^|\/)gemini-3\.8-live/.test(model);
}
