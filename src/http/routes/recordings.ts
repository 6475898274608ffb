import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { fail, type ApiDeps } from './shared.ts';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A single `bytes=` range of a file of `size` bytes: `[start, end]` inclusive, 'unsatisfiable', or undefined (whole file). */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges or another unit: served whole (RFC 9110 lets a server ignore Range).
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return [start, end];
}

/**
 * `GET /calls/{id}/recording`: the call's stereo WAV (caller left, agent right) once complete, with single
 * byte ranges so an audio element can seek; 404 while recording or when there is none.
 * `DELETE /calls/{id}/recording`: removes the file (409 while recording). Auth as the rest of the API.
 */
export function recordingRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  const recordings = deps.recordings;
  if (!recordings) return;
  app.get('/calls/:id/recording', async (c) => {
    const id = c.req.param('id');
    if (!UUID.test(id)) return fail(c, 404, 'not_found', 'no such recording');
    const file = await recordings.file(id);
    if (!file) return fail(c, 404, 'not_found', 'no recording for this call (none, or still recording)');
    const range = parseRange(c.req.header('range'), file.bytes);
    const headers: Record<string, string> = {
      'Content-Type': 'audio/wav',
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'private, no-store',
      'Content-Disposition': `inline; filename="${id}.wav"`,
    };
    if (range === 'unsatisfiable') {
      return c.body(null, 416, { ...headers, 'Content-Range': `bytes */${file.bytes}` });
    }
    const [start, end] = range ?? [0, file.bytes - 1];
    const length = file.bytes === 0 ? 0 : end - start + 1;
    headers['Content-Length'] = String(length);
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${file.bytes}`;
    const body = length
      ? (Readable.toWeb(createReadStream(file.path, { start, end })) as ReadableStream<Uint8Array>)
      : null;
    return new Response(body, { status: range ? 206 : 200, headers });
  });
  app.delete('/calls/:id/recording', async (c) => {
    const id = c.req.param('id');
    if (!UUID.test(id)) return fail(c, 404, 'not_found', 'no such recording');
    const result = await recordings.remove(id);
    if (result === 'busy') return fail(c, 409, 'recording', 'the call is still being recorded');
    if (result === 'none') return fail(c, 404, 'not_found', 'no recording for this call');
    return c.body(null, 204);
  });
}
