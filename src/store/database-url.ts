/**
 * DATABASE_URL carries a password: whatever callbridge logs or throws about the database names it with the
 * password replaced (`postgres://user:***@host:5432/db`).
 */

/** The URL as it may be shown: the password (and any `password=` parameter) replaced by `***`. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString().replace('%2A%2A%2A', '***');
  } catch {
    return url.replace(/^([a-z]+:\/\/[^:/@\s]*:)[^@\s]*@/i, '$1***@').replace(/password=[^&\s]*/gi, 'password=***');
  }
}

/** `text` (an error message) without the URL's password, however it appears in it. */
export function withoutPassword(text: string, url: string): string {
  const shown = redactDatabaseUrl(url);
  let out = text.replaceAll(url, shown);
  out = out.replace(/([a-z]+:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1***@');
  for (const secret of passwords(url)) {
    // Very short passwords would match ordinary words, and one that is also the user, host or database name
    // is shown by the URL anyway: the URL patterns above caught those.
    if (secret.length >= 4 && !shown.includes(secret)) out = out.replaceAll(secret, '***');
  }
  return out;
}

function passwords(url: string): string[] {
  try {
    const u = new URL(url);
    const found = [u.password, decodeURIComponent(u.password), u.searchParams.get('password') ?? ''];
    return [...new Set(found.filter(Boolean))];
  } catch {
    return [];
  }
}
