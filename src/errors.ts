/** A readable message from anything thrown or passed to an error event (SDKs also emit plain `{ message }` objects). */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'message' in e && typeof e.message === 'string') return e.message;
  return String(e);
}

/** Validation problems (zod issues) as `path: message` lines; `root` names a problem with the whole value. */
export function issueLines(
  error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> },
  root = 'value',
): string[] {
  return error.issues.map((i) => `${i.path.map(String).join('.') || root}: ${i.message}`);
}

/** A start-up failure the operator can fix (busy port, unwritable directory): printed as one line, no stack. */
export class StartupError extends Error {
  override name = 'StartupError';
}
