/**
 * @file Suite "signing": what checking a signed manifest costs. The page makes a key pair, signs the
 * digits release's manifest (ES256 over its canonical JSON, as `publish --sign` does), publishes it
 * on the model server's live host, and then measures, side by side: the check alone, and a warm load
 * (model cached, update 'never': the cached manifest is checked again) with and without `publicKey`.
 */
import { loadModel, modelCache } from '../src/index.js';
import { base64url, keyId, signedBytes, verifyManifest, type PublicJwk } from '../src/manifest/signature.js';
import { stats } from './stats.js';

export interface SigningReport {
  verifyMs: number;
  warmUnsignedMs: number;
  warmSignedMs: number;
  reps: number;
}

export async function signingSuite(modelServer: string, reps: number, log: (s: string) => void): Promise<SigningReport> {
  const manifest = (await (await fetch(`${modelServer}/digits/release/manifest.json`)).json()) as Record<string, unknown>;
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const { x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  const publicKey: PublicJwk = { kty: 'EC', crv: 'P-256', x: x!, y: y! };
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, signedBytes(manifest)));
  const signed = { ...manifest, signatures: [{ keyid: await keyId(publicKey), sig: base64url(sig) }] };

  const verify: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await verifyManifest(signed, [publicKey], 'bench');
    verify.push(performance.now() - t0);
  }
  log(`signing: check ${stats(verify).median.toFixed(3)} ms`);

  // The same files behind two manifest URLs: one signed (checked with publicKey), one as published.
  await fetch(`${modelServer}/__live/bench-signed/manifest.json`, { method: 'PUT', body: JSON.stringify(signed) });
  await fetch(`${modelServer}/__live/bench-plain/manifest.json`, { method: 'PUT', body: JSON.stringify(manifest) });
  const signedUrl = `${modelServer}/live/bench-signed/manifest.json`;
  const plainUrl = `${modelServer}/live/bench-plain/manifest.json`;
  await modelCache.clear();
  await (await loadModel(signedUrl, { backend: 'wasm', publicKey })).dispose();
  await (await loadModel(plainUrl, { backend: 'wasm' })).dispose();
  const warm = { plain: [] as number[], signed: [] as number[] };
  for (let i = 0; i < reps; i++) {
    for (const kind of ['plain', 'signed'] as const) {
      const t0 = performance.now();
      const model = await loadModel(kind === 'signed' ? signedUrl : plainUrl, { backend: 'wasm', update: 'never', ...(kind === 'signed' && { publicKey }) });
      warm[kind].push(performance.now() - t0);
      await model.dispose();
    }
    log(`signing: warm load ${i + 1}/${reps}`);
  }
  return { verifyMs: stats(verify).median, warmUnsignedMs: stats(warm.plain).median, warmSignedMs: stats(warm.signed).median, reps };
}
