/**
 * @file Which variant of a manifest to load, chosen together with the backend: fp16 on WebGPU when the
 * adapter has `shader-f16`, int8 on WASM and on onnxruntime-node's CPU, fp16 on its GPU providers, fp32 otherwise. A variant whose `requires` the backend
 * cannot meet is skipped, and the report says so. (Preferring fp16 is a choice about speed, made
 * only where half floats are fast; `requires` is the manifest's hard condition to run at all.)
 */
import { OndeviceError } from '../errors.js';
import type { Backend, BackendFallback } from '../types.js';
import type { Availability } from './detect.js';

/**
 * Preference per backend; variants not named here come after, in manifest order. `npm run bench`
 * (suites variants and decode) measured the 4-bit ones (MatMulNBits):
 * - on WASM, slower than fp32 at every size (1.9–3.2× fp32's time on the digits MLP, 11–12× on 16 MB of
 *   MatMuls at batch 1: onnxruntime's WASM build dequantizes the blocks at each run), so last: a
 *   smaller download, for the app that asks for it by name;
 * - on WebGPU, faster where weights dominate (q4 0.60× fp32's time on 16 MB of MatMuls at batch 1,
 *   0.22× at batch 16; 0.42× on the digits MLP at batch 360), slower on a 2 MB decoder step (0.72×
 *   the tokens a second). The models that ship 4-bit weights are the large ones, so q4 comes before
 *   fp32, and q4f16 (float16 compute, on adapters with `shader-f16` only) first.
 */
const PREFERENCE: Partial<Record<Backend, readonly string[]>> = {
  webgpu: ['q4f16', 'fp16', 'q4', 'fp32', 'int8'],
  wasm: ['int8', 'fp32', 'fp16', 'q4', 'q4f16'],
  // onnxruntime-node: its CPU like WASM; its GPU providers like WebGPU (there is no adapter to ask).
  cpu: ['int8', 'fp32', 'fp16', 'q4', 'q4f16'],
  cuda: ['q4f16', 'fp16', 'q4', 'fp32', 'int8'],
  dml: ['q4f16', 'fp16', 'q4', 'fp32', 'int8'],
  coreml: ['fp16', 'fp32', 'int8', 'q4f16', 'q4'],
};

/** Why a 4-bit variant ranks after the chosen one, by backend (see PREFERENCE). */
const WHY_LATER: Partial<Record<Backend, string>> = {
  wasm: '4-bit weights are a smaller download but run slower on WASM (npm run bench, suites variants and decode)',
  cpu: "4-bit weights are a smaller download but run slower on onnxruntime-node's CPU than int8 and fp32",
  webgpu: 'on an adapter with shader-f16, float16 compute comes first',
};

/** Variants that, when offered and not chosen, are reported: the publisher shipped them on purpose. */
const SAID_WHEN_PASSED = ['q4', 'q4f16'];

/** Preferred only where the device has the feature that makes them worth it. */
const PREFERRED_WITH: Partial<Record<Backend, Record<string, string>>> = { webgpu: { fp16: 'shader-f16' } };

export interface VariantChoice {
  variant: string;
  /** Backends and variants passed over before the choice, each with the reason. */
  fallbacks: BackendFallback[];
}

export type Offered = Readonly<Record<string, { requires: readonly string[] }>>;

/**
 * What a variant needs on a backend beyond its manifest's `requires`, by its name. q4f16 (the
 * transformers.js layout's, and `ondevice quantize --to q4f16`'s) computes in float16, which
 * onnxruntime-web's WebGPU refuses on an adapter without `shader-f16`, and only at the first run
 * ("Program Cast requires f16 but the device does not support it"), after the session was made.
 * WASM computes float16 on the CPU.
 */
const IMPLIED: Partial<Record<Backend, Record<string, readonly string[]>>> = { webgpu: { q4f16: ['shader-f16'] } };

/** Requirements of `variant` that `backend` does not meet here. */
export function unmet(requires: readonly string[], backend: Backend, device: ReadonlyMap<Backend, Availability>, variant?: string): string[] {
  const here = device.get(backend);
  const features = here?.ok ? here.features : new Set<string>();
  const implied = variant === undefined ? [] : (IMPLIED[backend]?.[variant] ?? []);
  return [...new Set([...requires, ...implied])].filter((r) => !features.has(r));
}

export function chooseVariant(offered: Offered, backends: readonly Backend[], requested: string, device: ReadonlyMap<Backend, Availability>): VariantChoice {
  const names = Object.keys(offered);
  if (requested !== 'auto') {
    if (!names.includes(requested)) {
      throw new OndeviceError('INPUT_INVALID', `Option "variant" is "${requested}", which the manifest does not offer; it offers ${names.map((n) => `"${n}"`).join(', ')}.`, {
        details: { input: 'variant', expected: names, actual: requested },
      });
    }
    return { variant: requested, fallbacks: [] };
  }
  const fallbacks: BackendFallback[] = [];
  for (const backend of backends) {
    const here = device.get(backend);
    if (!here?.ok) continue; // the backend walk reports it
    const order = [...(PREFERENCE[backend] ?? []).filter((v) => names.includes(v)), ...names.filter((v) => !PREFERENCE[backend]?.includes(v))];
    for (const variant of order) {
      const wants = PREFERRED_WITH[backend]?.[variant];
      if (wants && unmet([wants], backend, device).length > 0 && order.some((v) => v !== variant && unmet(offered[v]!.requires, backend, device, v).length === 0)) {
        fallbacks.push({ backend, variant, reason: `${variant} is chosen on ${backend} only where it has ${wants}; this adapter has not` });
        continue;
      }
      const missing = unmet(offered[variant]!.requires, backend, device, variant);
      if (missing.length === 0) {
        for (const later of order.slice(order.indexOf(variant) + 1).filter((v) => SAID_WHEN_PASSED.includes(v))) {
          fallbacks.push({ backend, variant: later, reason: `${later} ranks after ${variant} on ${backend}: ${WHY_LATER[backend] ?? 'the preference of this backend'}; pass variant: '${later}' to load it` });
        }
        return { variant, fallbacks };
      }
      fallbacks.push({ backend, variant, reason: `variant ${variant} needs ${missing.join(', ')}, which ${backend} here does not offer` });
    }
  }
  // Nothing fits any available backend: the first variant without requirements, for the walk to try.
  return { variant: names.find((n) => offered[n]!.requires.length === 0) ?? names[0]!, fallbacks };
}
