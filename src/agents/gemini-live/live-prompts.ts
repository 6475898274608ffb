/**
 * The text callbridge sends the model on its own behalf (realtimeInput.text; a clientContent turn only for
 * speak-first on older models): the opening turn, text to say word for word, events on the call.
 */

const DEFAULT_SPEAK_FIRST = 'The call has just been answered. Greet the caller.';

export function speakFirstText(greeting: string | undefined, hint: string | undefined): string {
  if (hint !== undefined) return hint;
  return greeting ? `The call has just been answered. Greet the caller by saying: ${greeting}` : DEFAULT_SPEAK_FIRST;
}

/**
 * A speech-to-speech model has no "speak this" input: it is asked to, in words that leave it nothing to add.
 * The quotes delimit the text; quotes inside it stay as they are (the model reads them as part of it).
 */
export function sayText(text: string): string {
  return `Say exactly this to the caller, word for word, nothing else: "${text}"`;
}

/** An event on the call, in brackets so the model takes it for a notice, not for words the caller said. */
export function notifyText(text: string): string {
  const t = text.trim();
  return t.startsWith('[') && t.endsWith(']') ? t : `[${t}]`;
}

/** The client message carrying `text`. Gemini 3.1 Live closes with 1007 on clientContent after setup. */
export function textMessage(text: string, via: 'client-content' | 'realtime-text' = 'realtime-text'): string {
  return via === 'client-content'
    ? JSON.stringify({ clientContent: { turns: [{ role: 'user', parts: [{ text }] }], turnComplete: true } })
    : JSON.stringify({ realtimeInput: { text } });
}
