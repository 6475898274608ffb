/**
 * The shapes of values that may end up on an ESL command line or in a vendor request: phone numbers, gateway
 * and voice names, language tags, model ids. One definition, used by configuration, the HTTP schemas,
 * per-call settings and the ESL command builder (which checks again, as the last line of defence).
 * None of them admits a space, comma, brace, quote, `&` or newline.
 */
export const PATTERNS = {
  /** E.164-ish: digits with an optional leading +. */
  phoneNumber: /^\+?[0-9]{1,20}$/,
  /** A FreeSWITCH gateway (sofia/gateway/<name>/...). */
  gateway: /^[A-Za-z0-9_.-]{1,64}$/,
  /** Caller id name: no spaces, they would split the originate command. */
  callerName: /^[A-Za-z0-9_.-]{1,40}$/,
  /** A voice name (Puck) or vendor voice id (a Cartesia uuid), or a profile name. */
  voice: /^[A-Za-z0-9_-]{1,64}$/,
  /** BCP 47-like language tag: en-US, pt-BR, yue-Hant-HK. */
  language: /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/,
  /** A model id, which may carry a path (models/gemini-...). */
  model: /^[A-Za-z0-9._/-]{1,100}$/,
} as const;
