/** A readable message from anything thrown or passed to an error event (SDKs also emit plain `{ message }` objects). */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'message' in e && typeof e.message === 'string') return e.message;
  return String(e);
}
