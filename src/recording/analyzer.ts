/**
 * Analyses finished call recordings for ear-level latency (analysis.ts) in one worker thread, off the event
 * loop: a bounded queue (the oldest waiting job is dropped when full, and counted), one job at a time, a time
 * limit per job (past it the worker is terminated, since a Silero run cannot be interrupted, and a fresh one
 * takes the next job), and the result written to the call's record. A record that is gone by then (pruned, or
 * never stored) drops the result.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import type { Analysis } from './analysis.ts';
import type { AnalyzeJob, AnalyzeResult, StopRequest, StoppedReply } from './analyzer-worker.ts';

/** How long a stopping worker may take to leave its job (a Silero window, or the model's load) before it is ended anyway. */
const STOP_GRACE_MS = 5000;

/**
 * End a worker without taking the process down: terminating it while onnxruntime runs aborts the process, so
 * it is asked to stop and terminated once it says nothing native is in flight (or after the grace time).
 */
async function stopWorker(w: Worker): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('exit', done);
      resolve();
    };
    const onMessage = (m: AnalyzeResult | StoppedReply) => 'stopped' in m && done();
    const timer = setTimeout(done, STOP_GRACE_MS);
    w.on('message', onMessage);
    w.once('exit', done);
    w.postMessage({ stop: true } satisfies StopRequest);
  });
  await w.terminate();
}

/** Where results go: false when the call's record no longer exists. */
export interface AnalysisSink {
  heard(callId: string, analysis: Analysis): Promise<boolean>;
}

export type AnalysisOutcome = 'ok' | 'error' | 'timeout' | 'dropped' | 'gone';

export interface AnalyzerOptions {
  sink: AnalysisSink;
  logger: Logger;
  /** Each finished job's outcome (and, when ok, its analysis): metrics. */
  observe?: (outcome: AnalysisOutcome, analysis?: Analysis) => void;
  /** Jobs waiting; beyond, the oldest is dropped. Default 100. */
  maxQueue?: number;
  /** Per job, from its start in the worker. Default 120 s (an hour of call takes ~20 s of one core). */
  timeoutMs?: number;
  /**
   * Recordings larger than this are refused: the worker holds the file and its two channels (twice the
   * file). Default one hour of 8 kHz stereo (115 MB).
   */
  maxBytes?: number;
}

export interface AnalyzerStats {
  queued: number;
  running: boolean;
  done: number;
  failed: number;
  timedOut: number;
  dropped: number;
  gone: number;
  /** Worker CPU spent on finished jobs, and the audio they covered. */
  cpuMs: number;
  audioMs: number;
}

interface Job {
  callId: string;
  path: string;
}

interface Running {
  id: number;
  job: Job;
  timer: NodeJS.Timeout;
}

export class RecordingAnalyzer {
  readonly #o: Required<Omit<AnalyzerOptions, 'observe'>> & Pick<AnalyzerOptions, 'observe'>;
  readonly #queue: Job[] = [];
  #worker: Worker | undefined;
  #current: Running | undefined;
  #nextId = 1;
  #closed = false;
  #idle: Array<() => void> = [];
  readonly stats: AnalyzerStats = {
    queued: 0,
    running: false,
    done: 0,
    failed: 0,
    timedOut: 0,
    dropped: 0,
    gone: 0,
    cpuMs: 0,
    audioMs: 0,
  };

  constructor(opts: AnalyzerOptions) {
    this.#o = { maxQueue: 100, timeoutMs: 120_000, maxBytes: 3600 * 8000 * 4 + 4096, ...opts };
  }

  /** A call's stereo recording is complete (left caller, right agent, 8 kHz 16-bit). False once closed. */
  enqueue(callId: string, wavPath: string): boolean {
    if (this.#closed) return false;
    if (this.#queue.length >= this.#o.maxQueue) {
      const old = this.#queue.shift()!;
      this.stats.dropped++;
      this.#o.observe?.('dropped');
      this.#o.logger.warn({ call: old.callId }, 'recording analysis queue full: dropped the oldest job');
    }
    this.#queue.push({ callId, path: wavPath });
    this.stats.queued = this.#queue.length;
    this.#next();
    return true;
  }

  /** A worker thread exists (started with the first job, ended by close or a timeout). */
  get hasWorker(): boolean {
    return this.#worker !== undefined;
  }

  /** Resolves once nothing is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (!this.#current && !this.#queue.length) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Drop waiting jobs, abandon the running one and end the worker. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#queue.length = 0;
    this.stats.queued = 0;
    if (this.#current) clearTimeout(this.#current.timer);
    this.#current = undefined;
    this.stats.running = false;
    const w = this.#worker;
    this.#worker = undefined;
    this.#settle();
    if (w) await stopWorker(w);
  }

  #spawn(): Worker {
    const here = fileURLToPath(import.meta.url);
    // dist/ has analyzer-worker.js next to this file, src/ has analyzer-worker.ts (Node's type stripping).
    const w = new Worker(new URL(`./analyzer-worker${extname(here)}`, import.meta.url));
    w.on('message', (r: AnalyzeResult | StoppedReply) => 'id' in r && this.#result(w, r));
    w.on('error', (err) => this.#lost(w, err.message));
    w.on('exit', (code) => this.#lost(w, `exited with code ${code}`));
    return w;
  }

  #next(): void {
    if (this.#closed || this.#current || !this.#queue.length) return;
    const job = this.#queue.shift()!;
    this.stats.queued = this.#queue.length;
    this.#worker ??= this.#spawn();
    const id = this.#nextId++;
    const timer = setTimeout(() => this.#timeout(id), this.#o.timeoutMs);
    timer.unref();
    this.#current = { id, job, timer };
    this.stats.running = true;
    const msg: AnalyzeJob = { id, path: job.path, maxBytes: this.#o.maxBytes };
    this.#worker.ref(); // held while it works; an idle analyzer must not keep the process alive
    this.#worker.postMessage(msg);
  }

  #finish(outcome: AnalysisOutcome, analysis?: Analysis): void {
    if (this.#current) clearTimeout(this.#current.timer);
    this.#current = undefined;
    this.stats.running = false;
    this.#o.observe?.(outcome, analysis);
    this.#next();
    if (!this.#current) this.#worker?.unref();
    this.#settle();
  }

  #settle(): void {
    if (this.#current || this.#queue.length) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }

  #result(w: Worker, r: AnalyzeResult): void {
    const cur = this.#current;
    if (w !== this.#worker || !cur || cur.id !== r.id) return; // a job given up on (timeout, close)
    const log = this.#o.logger;
    if ('error' in r) {
      this.stats.failed++;
      log.warn({ call: cur.job.callId, err: r.error }, 'recording analysis failed');
      return this.#finish('error');
    }
    this.stats.cpuMs += r.cpuMs;
    this.stats.audioMs += r.analysis.summary.audioMs;
    void this.#store(cur, r.analysis, r.cpuMs);
  }

  /** The result into the call's record (the next job waits: one at a time, also for the history's write). */
  async #store(cur: Running, analysis: Analysis, cpuMs: number): Promise<void> {
    const log = this.#o.logger;
    let stored: boolean;
    try {
      stored = await this.#o.sink.heard(cur.job.callId, analysis);
    } catch (err) {
      if (this.#current !== cur) return; // timed out or closed meanwhile
      this.stats.failed++;
      log.error({ call: cur.job.callId, err: String(err) }, 'could not store the recording analysis');
      return this.#finish('error');
    }
    if (this.#current !== cur) return;
    if (!stored) {
      this.stats.gone++;
      return this.#finish('gone');
    }
    this.stats.done++;
    log.info(
      { call: cur.job.callId, ...analysis.summary, cpuMs: Math.round(cpuMs) },
      'recording analysed: heard turn latency',
    );
    this.#finish('ok', analysis);
  }

  #timeout(id: number): void {
    const cur = this.#current;
    if (!cur || cur.id !== id) return;
    this.stats.timedOut++;
    this.#o.logger.warn({ call: cur.job.callId, timeoutMs: this.#o.timeoutMs }, 'recording analysis timed out');
    const w = this.#worker;
    this.#worker = undefined; // its late result or exit is ignored; the next job gets a fresh worker
    if (w) void stopWorker(w);
    this.#finish('timeout');
  }

  #lost(w: Worker, reason: string): void {
    if (w !== this.#worker) return; // terminated by us (timeout, close)
    this.#worker = undefined;
    if (!this.#current) return;
    this.stats.failed++;
    this.#o.logger.error({ call: this.#current.job.callId, err: reason }, 'recording analysis worker failed');
    this.#finish('error');
  }
}
