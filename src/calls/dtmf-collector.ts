import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';

/** How a call collects the digits its caller presses (env defaults, overridden per call: call-settings.ts). */
export interface DtmfSettings {
  /** A collection ends this long after the last digit. */
  interdigitMs: number;
  /** The digit that ends a collection at once (and is part of it): `#`, `*`, or '' for none. */
  terminator: '#' | '*' | '';
  /** The first digit stops the reply the caller is hearing, like speech over it would. */
  bargeIn: boolean;
  /** A collection ends when it holds this many digits (a stuck key cannot grow it without bound). */
  maxDigits: number;
}

export const DEFAULT_DTMF: DtmfSettings = { interdigitMs: 2000, terminator: '#', bargeIn: true, maxDigits: 32 };

export function dtmfSettings(config: Config): DtmfSettings {
  return {
    interdigitMs: config.DTMF_INTERDIGIT_MS,
    terminator: config.DTMF_TERMINATOR === 'none' ? '' : config.DTMF_TERMINATOR,
    bargeIn: config.DTMF_BARGE_IN,
    maxDigits: config.DTMF_MAX_DIGITS,
  };
}

/** The digits FreeSWITCH reports (RFC 2833 and SIP INFO alike); anything else in an event is refused. */
const DIGIT = /^[0-9*#A-D]$/;

export type DtmfEnd = 'terminator' | 'timeout' | 'max-digits';

export interface DtmfCollectorEvents {
  /** The first digit of a collection arrived (barge-in happens here, not when the collection ends). */
  first(): void;
  /** Any accepted digit (caller activity for the silence limit). */
  digit(digit: string): void;
  /** A collection is complete: `digits` in the order pressed, the terminator included when it ended one. */
  complete(digits: string, end: DtmfEnd): void;
}

/**
 * Gathers single-digit DTMF events into one collection: ended by the terminator, `interdigitMs` without a
 * new digit, or `maxDigits`. One timer at most, released by `close()`.
 */
export class DtmfCollector {
  readonly #s: DtmfSettings;
  readonly #on: DtmfCollectorEvents;
  readonly #log: Logger;
  #digits = '';
  #timer: NodeJS.Timeout | undefined;
  #refused = 0;
  #closed = false;

  constructor(settings: DtmfSettings, on: DtmfCollectorEvents, logger: Logger) {
    this.#s = settings;
    this.#on = on;
    this.#log = logger;
  }

  /** Digits refused so far (not one of 0-9 * # A-D). */
  get refused(): number {
    return this.#refused;
  }

  /** One DTMF event's digit. Returns false when it was refused. */
  push(raw: string): boolean {
    if (this.#closed) return false;
    const digit = raw.length === 1 ? raw.toUpperCase() : raw;
    if (!DIGIT.test(digit)) {
      // Counted, and logged once per call: the value came from the network and may be anything.
      if (this.#refused++ === 0) this.#log.warn({ digit: raw.slice(0, 8) }, 'ignoring an invalid DTMF digit');
      return false;
    }
    const first = this.#digits === '';
    this.#digits += digit;
    if (first) this.#on.first();
    this.#on.digit(digit);
    if (this.#closed) return true; // a handler ended the call
    if (digit === this.#s.terminator) this.#complete('terminator');
    else if (this.#digits.length >= this.#s.maxDigits) this.#complete('max-digits');
    else
      this.#timer = this.#timer
        ? this.#timer.refresh()
        : setTimeout(() => this.#complete('timeout'), this.#s.interdigitMs);
    return true;
  }

  /** Drop a collection in progress and its timer (call end). Idempotent. */
  close(): void {
    this.#closed = true;
    this.#digits = '';
    this.#clear();
  }

  #complete(end: DtmfEnd): void {
    this.#clear();
    const digits = this.#digits;
    this.#digits = '';
    if (digits) this.#on.complete(digits, end);
  }

  #clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** What the agent is told: each digit spelled out, so a model cannot read `1234` as a number. */
export const dtmfNotice = (digits: string): string => `[The caller pressed ${[...digits].join(' ')}]`;
