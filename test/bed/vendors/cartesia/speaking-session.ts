/**
 * Speaking a context: its queued transcripts one after the other as tone chunks (paced faster than real time),
 * word timestamps when asked for, and `done` once the context has ended and everything was spoken.
 */
import { tone } from './audio.ts';
import type { FakeTtsContext } from './options.ts';
import { CartesiaWireSession } from './wire-session.ts';

export abstract class SpeakingSession extends CartesiaWireSession {
  /** Speak the queued transcripts of a context one after the other; `done` once ended and drained. */
  protected async speak(ctx: FakeTtsContext): Promise<void> {
    const q = this.queues.get(ctx.id);
    if (!q) return;
    q.running = true;
    const o = this.fake.options;
    const live = () => !this.isClosed && this.queues.get(ctx.id) === q && !ctx.cancelled && !ctx.errored;
    try {
      while (live() && q.items.length > 0) {
        const text = q.items.shift()!;
        const { encoding, sample_rate: rate } = ctx.outputFormat;
        const totalMs = Math.max(40, Math.round(text.length * (o.msPerChar ?? 60)));
        const chunkMs = o.chunkMs ?? 40;
        await this.sleep(o.firstChunkDelayMs ?? 10);
        let sentTimestamps = false;
        for (let done = 0; done < totalMs && live(); done += chunkMs) {
          const ms = Math.min(chunkMs, totalMs - done);
          const pcm = tone(ms, rate, encoding, o.toneHz ?? 440, q.phase);
          q.phase += Math.round((rate * ms) / 1000);
          ctx.audioBytes += pcm.length;
          ctx.audioMs += ms;
          ctx.chunks++;
          ctx.firstChunkAt ??= performance.now();
          this.send({
            type: 'chunk',
            context_id: ctx.id,
            status_code: 206,
            done: false,
            data: pcm.toString('base64'),
            step_time: 5,
          });
          if (ctx.addTimestamps && !sentTimestamps) {
            sentTimestamps = true;
            const words = text.split(/\s+/).filter(Boolean);
            const per = totalMs / 1000 / Math.max(1, words.length);
            const base = q.offsetSec;
            this.send({
              type: 'timestamps',
              context_id: ctx.id,
              status_code: 206,
              done: false,
              word_timestamps: {
                words,
                start: words.map((_, i) => +(base + i * per).toFixed(3)),
                end: words.map((_, i) => +(base + (i + 1) * per).toFixed(3)),
              },
            });
          }
          if (done + chunkMs < totalMs) await this.sleep(o.paceMs ?? 2);
        }
        q.offsetSec += totalMs / 1000;
      }
      if (live() && ctx.ended && q.items.length === 0 && !ctx.done) {
        ctx.done = true;
        this.send({ type: 'done', context_id: ctx.id, status_code: 200, done: true });
        this.emit('done', ctx);
      }
    } finally {
      q.running = false;
    }
    // Text that arrived while the last sleep was pending.
    if (live() && (q.items.length > 0 || (ctx.ended && !ctx.done))) void this.speak(ctx);
  }
}
