/**
 * How a vendor declares its settings, so that config.ts, the per-call settings and the pipeline table read
 * them from one place: the environment variables it reads (zod, with defaults), the keys without which it
 * cannot answer, and the per-call overrides a callback answer or a profile may carry.
 */
import { z } from 'zod';

/** One per-call override: `<section>.<key>` in a callback answer or profile sets `setting` of AgentSettings. */
export interface Override<S extends string = string> {
  readonly section: 'gemini' | 'cascade';
  readonly key: string;
  readonly schema: z.ZodType<string>;
  readonly setting: S;
}

export interface VendorSettings<Shape extends z.ZodRawShape = z.ZodRawShape, S extends string = string> {
  readonly name: string;
  /** Environment variables this vendor reads, validated and defaulted by zod. */
  readonly env: Shape;
  /** Variables that must be set for this vendor to answer (their absence makes a pipeline fall back). */
  readonly needs: readonly string[];
  readonly overrides: readonly Override<S>[];
}

/** Declare a vendor's settings with its literal types kept (env names, override settings). */
export function defineVendor<const Shape extends z.ZodRawShape, const S extends string = never>(
  v: VendorSettings<Shape, S>,
): VendorSettings<Shape, S> {
  return v;
}

type UnionToIntersection<U> = (U extends unknown ? (k: U) => void : never) extends (k: infer I) => void ? I : never;

/** The environment variables of all `vendors`, as one zod shape. */
export function mergeEnv<const V extends readonly VendorSettings[]>(vendors: V): UnionToIntersection<V[number]['env']> {
  return Object.assign({}, ...vendors.map((v) => v.env)) as UnionToIntersection<V[number]['env']>;
}

/** The AgentSettings fields the vendors' overrides set. */
export type OverrideSettings<V extends readonly VendorSettings[]> = {
  [K in V[number]['overrides'][number]['setting']]?: string;
};

type Section = z.ZodOptional<z.ZodObject<Record<string, z.ZodOptional<z.ZodType<string>>>>>;

/** The override sections of a settings patch (`gemini: {model}`, `cascade: {deepgram_model, ...}`). */
export function overrideSections(vendors: readonly VendorSettings[]): Record<Override['section'], Section> {
  const shapes: Record<string, Record<string, z.ZodOptional<z.ZodType<string>>>> = { gemini: {}, cascade: {} };
  for (const v of vendors) for (const o of v.overrides) shapes[o.section]![o.key] = o.schema.optional();
  return {
    gemini: z.object(shapes.gemini!).optional(),
    cascade: z.object(shapes.cascade!).optional(),
  };
}

/** `settings` with every override present in `patch` applied. */
export function applyOverrides<T extends object>(
  vendors: readonly VendorSettings[],
  settings: T,
  patch: Partial<Record<Override['section'], Record<string, string | undefined> | undefined>>,
): T {
  const out = { ...settings } as Record<string, unknown>;
  for (const v of vendors) {
    for (const o of v.overrides) {
      const value = patch[o.section]?.[o.key];
      if (value !== undefined) out[o.setting] = value;
    }
  }
  return out as T;
}

/** A duration in milliseconds, as an environment variable. */
export const msSetting = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The parsed values of a vendor's environment variables. */
export type EnvOf<V extends VendorSettings> = z.output<z.ZodObject<V['env']>>;
