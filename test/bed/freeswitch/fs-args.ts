/**
 * switch_separate_string(buf, ' ', argv, max) as FreeSWITCH API commands use it: split on single spaces (two
 * spaces make an empty argument), the last argument takes the rest of the line, single quotes group words
 * and are removed, a backslash escapes the next character. Double quotes are ordinary characters, which is
 * why compact JSON survives as `uuid_audio_stream` metadata.
 */
export function separateString(input: string, max: number): string[] {
  const raw: string[] = [];
  let start = 0;
  let quoted = false;
  let i = 0;
  if (!input) return [];
  while (raw.length < max - 1 && i <= input.length) {
    const c = input[i];
    if (c === '\\') i += 2;
    else if (c === "'") {
      quoted = !quoted;
      i++;
    } else if ((c === ' ' && !quoted) || c === undefined) {
      if (c === undefined) break;
      raw.push(input.slice(start, i));
      start = ++i;
    } else i++;
  }
  if (start < input.length) raw.push(input.slice(start));
  return raw.map(cleanup);
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', s: ' ' };

/** Leading spaces, unescaped single quotes and trailing spaces go; escapes are resolved. */
function cleanup(arg: string): string {
  let out = '';
  let quoted = false;
  let keepUpTo = 0;
  const s = arg.replace(/^ +/, '');
  for (let i = 0; i < s.length; i++) {
    let c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      c = ESCAPES[s[i + 1]!] ?? s[i + 1]!;
      i++;
    } else if (c === "'") {
      quoted = !quoted;
      continue;
    }
    out += c;
    if (c !== ' ' || quoted) keepUpTo = out.length;
  }
  return out.slice(0, keepUpTo);
}
