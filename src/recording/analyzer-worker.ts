/**
 * The recording-analysis worker thread: one job at a time, `{id, path}` in, `{id, analysis, cpuMs}` or
 * `{id, error}` out. Reading the WAV, Silero over every caller window and the energy passes all run here, so a
 * long call's analysis (seconds of CPU) never holds the event loop. The Silero model is loaded once per worker,
 * with the first job.
 */
import { open } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { loadSileroModel } from '../media/silero-model.ts';
import { analyse, parseWav, speechProbabilities, type Analysis } from './analysis.ts';

export interface AnalyzeJob {
  id: number;
  path: string;
  /** Larger files are refused (memory: the whole file is read). */
  maxBytes: number;
}
export type AnalyzeResult = { id: number; analysis: Analysis; cpuMs: number } | { id: number; error: string };
export interface StopRequest {
  stop: true;
}
export interface StoppedReply {
  stopped: true;
}

const port = parentPort!;

/** This thread's CPU time in ms (process.threadCpuUsage: Node ≥ 22.19; else the process's, an upper bound). */
function cpuMs(): number {
  const p = process as unknown as { threadCpuUsage?: () => { user: number; system: number } };
  const u = p.threadCpuUsage ? p.threadCpuUsage() : process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function readWav(path: string, maxBytes: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) throw new Error(`recording too large to analyse (${size} bytes > ${maxBytes})`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

async function run(job: AnalyzeJob): Promise<AnalyzeResult> {
  const before = cpuMs();
  const wav = parseWav(await readWav(job.path, job.maxBytes));
  if (wav.channels !== 2 || wav.bits !== 16 || wav.sampleRate !== 8000)
    throw new Error(`expected 8 kHz 16-bit stereo, got ${wav.sampleRate} Hz ${wav.bits}-bit × ${wav.channels}`);
  // Straight from the file's bytes into the two channels (no aligned copy of the whole file first): the
  // file and the channels are the peak memory, twice the file.
  const frames = wav.data.length >> 2;
  const left = new Int16Array(frames);
  const right = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    left[i] = wav.data.readInt16LE(4 * i);
    right[i] = wav.data.readInt16LE(4 * i + 2);
  }
  const model = await loadSileroModel();
  const probs = await speechProbabilities(model, left, () => stopping);
  const analysis = analyse(left, right, probs);
  return { id: job.id, analysis, cpuMs: cpuMs() - before };
}

/**
 * Ending this thread while onnxruntime runs (or loads the model) aborts the whole process (a native error
 * thrown across threads): asked to stop, the thread leaves its job at the next window, and says `stopped`
 * once nothing native is in flight; only then does the analyzer terminate it.
 */
let stopping = false;
let running: Promise<unknown> = Promise.resolve();

port.on('message', (msg: AnalyzeJob | StopRequest) => {
  if ('stop' in msg) {
    stopping = true;
    void running.finally(() => port.postMessage({ stopped: true } satisfies StoppedReply));
    return;
  }
  if (stopping) return;
  running = run(msg).then(
    (r) => port.postMessage(r),
    (err: unknown) => port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) }),
  );
});
