/**
 * The validators for every value that reaches an ESL command line (commands.ts builds the commands from
 * them). ESL commands are single lines split on spaces, and originate/`{var=value}` blocks split on commas
 * and braces: one stray space, comma, brace, quote, `&` or newline in a value rewrites the command. So every
 * value is checked against a strict pattern here and anything else is refused with an `UnsafeEslValueError`.
 */

import { PATTERNS } from '../patterns.ts';

export class UnsafeEslValueError extends Error {
  readonly field: string;
  constructor(field: string, value: unknown, rule: string) {
    super(`refusing ${field} ${JSON.stringify(String(value)).slice(0, 80)}: ${rule}`);
    this.name = 'UnsafeEslValueError';
    this.field = field;
  }
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// mod_audio_stream: ws/wss, host of letters/digits/./- (no underscore, no IPv6), path and query of URL-safe characters.
const STREAM_URL = /^wss?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~/-]*)?(\?[A-Za-z0-9._~=-]*)?$/;
const FILE_PATH = /^\/(?!.*\/\.\.?(\/|$))[A-Za-z0-9._/-]+$/;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
// Values that survive both `uuid_setvar` and `{a=b,c=d}`: no spaces, commas, braces, quotes, `&`, `;` or control characters.
const VAR_VALUE = /^[A-Za-z0-9_.:@+/=*#-]{0,512}$/;
const HANGUP_CAUSE = /^[A-Z][A-Z_]{1,48}$/;

/** `value` if it matches `re`; otherwise throws naming `field` and the `rule` it broke. */
export function check(field: string, value: string, re: RegExp, rule: string): string {
  if (typeof value !== 'string' || !re.test(value)) throw new UnsafeEslValueError(field, value, rule);
  return value;
}

export const uuid = (v: string, field = 'uuid'): string =>
  check(field, v, UUID, 'expected a UUID like 8-4-4-4-12 hex digits');
export const streamUrl = (v: string): string =>
  check(
    'stream url',
    v,
    STREAM_URL,
    'expected ws:// or wss:// with a host of letters, digits, dots, dashes and a URL-safe path/query',
  );
export const filePath = (v: string): string =>
  check(
    'file path',
    v,
    FILE_PATH,
    'expected an absolute path of letters, digits, ".", "_", "-", "/" without .. segments',
  );
/** True when `v` would pass `filePath` (for settings checked at start-up, long before a command is built). */
export const isFilePath = (v: string): boolean => typeof v === 'string' && FILE_PATH.test(v);
export const varName = (v: string): string =>
  check('variable name', v, VAR_NAME, 'expected letters, digits and "_", starting with a letter or "_"');
// Free text travels base64url-encoded in variables named `*_b64`, as long as the API's longest field allows
// (20,000 characters: at most 60,000 bytes of UTF-8, 80,000 characters of base64url).
const B64_VALUE = /^[A-Za-z0-9_-]*$/;
const B64_MAX = 80_000;
export const varValue = (v: string, name = 'value'): string => {
  if (!name.endsWith('_b64'))
    return check(
      `variable ${name}`,
      v,
      VAR_VALUE,
      'no spaces, commas, braces, quotes, "&", ";" or control characters (encode free text as base64)',
    );
  if (typeof v === 'string' && v.length > B64_MAX)
    throw new UnsafeEslValueError(`variable ${name}`, v, `at most ${B64_MAX} characters`);
  return check(`variable ${name}`, v, B64_VALUE, 'base64url: letters, digits, "-" and "_" only');
};
export const hangupCause = (v: string): string =>
  check('hangup cause', v, HANGUP_CAUSE, 'expected an upper-case cause like NORMAL_CLEARING');

export const phoneNumber = (v: string, field = 'number'): string =>
  check(field, v, PATTERNS.phoneNumber, 'expected digits with an optional leading +');
export const gateway = (v: string): string =>
  check('gateway', v, PATTERNS.gateway, 'expected letters, digits, ".", "_" or "-"');
export const callerName = (v: string): string =>
  check(
    'caller id name',
    v,
    PATTERNS.callerName,
    'letters, digits, ".", "_" or "-" (no spaces: they would split the originate command)',
  );

/**
 * A SIP URI callbridge may dial or REFER to: `sip:user@host[:port]`, user of letters, digits and `+._-`, host of
 * letters, digits, dots and dashes. No parameters, headers, spaces, commas, braces, quotes, `&` or `;`: they
 * would change the dial string or the REFER.
 */
const SIP_URI = /^sip:[A-Za-z0-9+._-]{1,64}@[A-Za-z0-9.-]{1,253}(:\d{1,5})?$/;
export const sipUri = (v: string): string =>
  check('SIP URI', v, SIP_URI, 'expected sip:user@host[:port] (letters, digits, "+", ".", "_", "-")');
/** A sofia profile name (sofia/<profile>/<uri>). */
export const sofiaProfile = (v: string): string =>
  check('sofia profile', v, PATTERNS.gateway, 'expected letters, digits, ".", "_" or "-"');
// uuid_send_dtmf: digits, * # A-D, and w/W (0.5 s / 1 s pauses). No `@duration`: the default length is what IVRs expect.
const DTMF = /^[0-9*#A-DwW]{1,64}$/;
export const dtmfDigits = (v: string): string => check('DTMF digits', v, DTMF, 'expected 1-64 of 0-9 * # A-D w W');
