import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import type { ConverterName } from '../../src/media/resampling/converter-names.ts';
import { createResampler } from '../../src/media/resampling/converter.ts';
import { ResamplerPool, ResamplerPools } from '../../src/media/resampling/converter-pool.ts';
import { InlineResampling } from '../../src/media/resampling/inline-resampling.ts';
import { WorkerResampling } from '../../src/media/resampling/worker-resampling.ts';
import { convertInChunks } from '../bed/audio.ts';

function tone(hz: number, samples: number, rate = 24000, amplitude = 16000): Int16Array {
  const s = new Int16Array(samples);
  for (let i = 0; i < samples; i++) s[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate));
  return s;
}

/** A tone mix that spans the pass band and the band above 4 kHz that must not fold back. */
function mix(samples: number): Int16Array {
  const a = tone(440, samples, 24000, 8000);
  const b = tone(2900, samples, 24000, 6000);
  const c = tone(6500, samples, 24000, 6000);
  return a.map((v, i) => v + b[i]! + c[i]!);
}

function rms(s: Int16Array, from = 0, to = s.length): number {
  let e = 0;
  for (let i = from; i < to; i++) e += s[i]! * s[i]!;
  return Math.sqrt(e / (to - from));
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error('timed out');
    await sleep(5);
  }
}

for (const converter of ['SPEEX_3', 'SPEEX_7', 'SINC_FASTEST'] as ConverterName[]) {
  for (const outRate of [8000, 16000]) {
    test(`${converter} 24 → ${outRate / 1000} kHz: random-size chunks give the same audio as one block`, async () => {
      const input = mix(24000);
      const whole = await createResampler(24000, outRate, converter);
      const chunked = await createResampler(24000, outRate, converter);
      try {
        const a = convertInChunks(whole, input, [input.length]);
        let seed = 12345;
        const sizes: number[] = [];
        for (let left = input.length; left > 0; ) {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          const n = Math.min(left, 1 + (seed % 2400)); // 1 sample to 100 ms
          sizes.push(n);
          left -= n;
        }
        const b = convertInChunks(chunked, input, sizes);
        assert.equal(b.length, a.length);
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
        assert.ok(worst <= 2, `largest difference ${worst} LSB`);
        // All the audio comes out: the output is the input's length at the new rate (± the filter's edges).
        assert.ok(Math.abs(a.length - (input.length * outRate) / 24000) <= outRate / 50 + 2, `${a.length} samples`);
      } finally {
        whole.destroy();
        chunked.destroy();
      }
    });
  }
}

for (const converter of ['SPEEX_3', 'SPEEX_5'] as ConverterName[]) {
  test(`${converter} to 8 kHz is a real low-pass: speech tones pass, tones above 4 kHz are gone, not folded back`, async () => {
    const level = async (hz: number) => {
      const r = await createResampler(24000, 8000, converter);
      try {
        const input = tone(hz, 24000);
        const out = convertInChunks(r, input, Array(50).fill(480));
        return 20 * Math.log10(Math.max(rms(out, 800, 7200), 1e-3) / rms(input));
      } finally {
        r.destroy();
      }
    };
    for (const hz of [300, 1000, 3000]) assert.ok(Math.abs(await level(hz)) < 0.5, `${hz} Hz: ${await level(hz)} dB`);
    assert.ok((await level(3400)) > -3, 'the telephone band reaches 3.4 kHz');
    for (const hz of [5000, 7000, 10000]) assert.ok((await level(hz)) < -60, `${hz} Hz: ${await level(hz)} dB`);
  });
}

test('10 000 Speex converters created, used and destroyed one after the other keep memory bounded', async () => {
  const chunk = mix(480);
  const cycle = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = await createResampler(24000, 8000, 'SPEEX_3');
      r.process(chunk);
      r.flush();
      r.destroy();
    }
  };
  // Collected before each reading: output buffers not yet collected once counted +4.1 MB on a CI run.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  await cycle(1000);
  gc();
  const before = process.memoryUsage();
  await cycle(10_000);
  gc();
  const after = process.memoryUsage();
  // A leaked converter is a few kB of WASM heap: 10 000 of them measured +11 MB external (checked by leaving
  // destroy() out).
  assert.ok(after.external - before.external < 4_000_000, `external +${after.external - before.external} bytes`);
  assert.ok(
    after.arrayBuffers - before.arrayBuffers < 4_000_000,
    `arrayBuffers +${after.arrayBuffers - before.arrayBuffers}`,
  );
});

test('a Speex pool makes a converter per lease, past RESAMPLER_POOL_MAX, and destroys it on release', async () => {
  const pool = new ResamplerPool(24000, 8000, { converter: 'SPEEX_3', max: 2 });
  try {
    await pool.warm(8);
    assert.deepEqual(pool.stats, { free: 0, leased: 0 });
    const leases = Array.from({ length: 5 }, () => pool.tryAcquire());
    assert.ok(leases.every((r) => r !== undefined));
    assert.deepEqual(pool.stats, { free: 0, leased: 5 });
    const out = leases[0]!.process(tone(1000, 480));
    assert.ok(out.length > 100);
    for (const r of leases) pool.release(r!, false);
    assert.deepEqual(pool.stats, { free: 0, leased: 0 });
    // A destroyed converter cannot be handed out again by mistake: a new lease is a new converter.
    const again = pool.tryAcquire()!;
    assert.ok(!leases.includes(again));
    pool.release(again, false);
  } finally {
    pool.destroy();
  }
});

test('inline Speex resampling: a reply comes out whole, tail last, and no stream stays open', async () => {
  const pools = new ResamplerPools({ converter: 'SPEEX_3' });
  await pools.warm([[24000, 16000, 0]]);
  const inline = new InlineResampling(pools);
  const outs: Array<[number, boolean]> = [];
  const s = inline.open(24000, 16000, (samples, last) => outs.push([samples.length, last]))!;
  assert.ok(s, 'a stream at once');
  for (let i = 0; i < 10; i++) s.push(tone(500, 960));
  s.end();
  const total = outs.reduce((n, [len]) => n + len, 0);
  assert.equal(outs.at(-1)![1], true);
  assert.ok(Math.abs(total - 6400) <= 320 + 2, `${total} samples for 400 ms at 16 kHz`);
  assert.equal(inline.active, 0);
  assert.deepEqual(pools.stats, { leased: 0, free: 0 });
  pools.destroy();
});

test('Speex in the DSP worker: more replies at once than RESAMPLER_POOL_MAX all get resampled', async () => {
  const worker = new WorkerResampling({
    converter: 'SPEEX_3',
    warm: [[24000, 8000, 0]],
    max: 2,
    logger: silentLogger(),
  });
  try {
    await worker.ready();
    const totals = [0, 0, 0, 0, 0];
    const ended = [false, false, false, false, false];
    const streams = totals.map((_, i) =>
      worker.open(24000, 8000, (samples, last) => {
        totals[i]! += samples.length;
        if (last) ended[i] = true;
      }),
    );
    assert.ok(
      streams.every((s) => s !== undefined),
      'no fallback to WAV',
    );
    for (const s of streams) {
      s!.push(tone(1000, 2400));
      s!.end();
    }
    await until(() => ended.every(Boolean));
    for (const t of totals) assert.ok(Math.abs(t - 800) <= 160 + 2, `${t} samples for 100 ms at 8 kHz`);
    assert.equal(worker.active, 0);
  } finally {
    await worker.close();
  }
});

test('RESAMPLER takes the Speex qualities beside the libsamplerate converters', () => {
  assert.equal(loadConfig({ RESAMPLER: 'SPEEX_3' }).RESAMPLER, 'SPEEX_3');
  assert.equal(loadConfig({ RESAMPLER: 'SINC_MEDIUM_QUALITY' }).RESAMPLER, 'SINC_MEDIUM_QUALITY');
  assert.throws(() => loadConfig({ RESAMPLER: 'SPEEX_11' }));
});
