/// <reference types="node" />
/** @file The `ondevice` command: argument parsing, help, and one-line errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './cli-error.js';
import { writeAtomically } from './manifest-file.js';
import { publish, revoke } from './publish.js';
import { quantizeFile, quantizeFolder, type OnnxTarget } from './quantize-files.js';
import { checkBlockSize } from './quantize-q4.js';
import { isModelJson, readVariant } from './tfjs-model.js';
import { quantizeTfjs, TFJS_TARGETS, type TfjsQuantizeTarget } from './tfjs-quantize.js';
import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { formatReport, readTestSet, verifyRelease } from './verify.js';
import { expiresAt, keygen, readSigningKey, resign, rollout, type Freshness, type SigningKey } from './sign.js';
import { SERVE_HELP, serveCommand } from './serve-command.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const HELP: Record<string, string> = {
  '': `ondevice: quantize, verify and publish models for the ondevice loader

usage: ondevice <command> [options]

commands:
  quantize <in.onnx | in.json | folder> --to ...     a smaller variant of a model (ONNX or TF.js)
  verify <release-dir | manifest.json> --data <test-set.json>
                                                    run every variant, compare with fp32
  publish <model> <release-dir> --version X.Y.Z     a versioned, content-hashed release
  revoke <release-dir> <version>                    never run that version again
  keygen --out <dir>                                a key pair for signed releases
  sign <release-dir> --sign <key> [--expires <when>] sign a release's manifests again (renew, rotate)
  rollout <release-dir> <version> <percent>         move only a share of devices to a version
  serve <manifest> [--port 8080]                    serve the model over HTTP (Open Inference Protocol)

ondevice <command> --help tells more.`,
  quantize: `usage: ondevice quantize <in.onnx> --to int8|fp16|q4|q4f16 -o <out.onnx>
       ondevice quantize <folder> --to int8|fp16|q4|q4f16
       ondevice quantize <model.json> --to fp16|uint8|uint16 -o <out.json>

A folder as exporters write it (onnx/<graph>.onnx, as transformers.js and Optimum lay it out, or a
flat folder of <graph>.onnx): every fp32 graph is quantized beside itself, as <graph>_quantized.onnx
(int8), <graph>_fp16.onnx, <graph>_q4.onnx or <graph>_q4f16.onnx, which ondevice publish then
takes as that variant.
Weights in external data (<graph>.onnx_data) are read from beside the model and written inside
the result.

ONNX (weights in initializers, Constant nodes and If/Loop/Scan subgraphs alike):
  --to int8   weight-only symmetric int8 for MatMul, Gemm and Conv weights, each followed by
              DequantizeLinear: per output channel (opset 13+), per tensor (opset 10-12)
  --to fp16   every float32 weight stored as float16, each followed by a Cast to float32
  --to q4     every MatMul weight [K, N] with K ≥ the block size becomes onnxruntime's
              com.microsoft MatMulNBits: 4-bit codes in blocks along K, a float32 scale (and,
              asymmetric, a zero point) a block; Gemm and Conv weights stay as they are
  --to q4f16  as q4 with float16 scales: MatMulNBits computes in float16 (its activation cast to
              float16 before it, its result back to float32 after it), and every other float
              weight as --to fp16 stores it; for WebGPU adapters with shader-f16
    --block-size 16|32|64|128   values a scale covers (default 32; q4 and q4f16)
    --symmetric | --asymmetric  one scale a block, or a scale and a zero point (default)
  --external-data   the result's weights in <out>_data beside it (ONNX external data)
TF.js (a model.json of any name, with its shards beside it):
  --to fp16|uint8|uint16   float32 weights in TF.js's own quantization format (TF.js dequantizes
              them when it loads); the weights go to <out>.bin beside <out>.json
  -o, --out   where to write the result
Inputs and outputs stay float32; the model computes in float32 as before (but q4f16's MatMuls).`,
  verify: `usage: ondevice verify <release-dir | manifest.json> --data <test-set.json> [thresholds]

Runs every variant (ONNX with onnxruntime-node, TF.js with TF.js's CPU backend) and prints size,
max abs diff, top-1 agreement with fp32 and, when the test set has labels, accuracy. Exits 1 if a
variant is below a threshold. For a release of several graphs the test set feeds the default
graph (--data may then be left out), and every graph of every variant is also run on fixed
inputs (free dimensions 1) and compared with fp32 by size and max abs diff.

  --data <file>             JSON { "input", "dims": [N, ...], "file": "x.bin", "labels"?: [...] },
                            file = float32 little-endian, relative to the JSON
  --min-agreement <0..1>    top-1 agreement with fp32 (default 0.99)
  --max-accuracy-drop <pt>  accuracy points below fp32, for every variant (default 0.5, and 1 for
                            the 4-bit ones: q4, q4f16, int4, uint4, bnb4)`,
  publish: `usage: ondevice publish <model> <release-dir> --version X.Y.Z [--name <name>] [--variant <variant>] [--external-data]

<model> is one ONNX file of any name (one variant: --variant, default fp32), or a folder with one
ONNX file per variant, named after it: fp32.onnx, int8.onnx, fp16.onnx (a lone file of another
name is fp32), and optionally metadata.json (e.g. { "labels": [...] }).
For a TF.js model it holds model.json and its weight shards (one fp32 variant), or one folder
per variant (fp32/model.json, ...); each is loaded and run once with TF.js before publishing,
its shards get content-hashed names and model.json is rewritten to name them.
An ONNX model whose weights are in external data files (model.onnx + model.onnx_data, as
exporters write large models) is published with them: each data file gets a content-hashed
name and the model is rewritten to name it; the variant lists the model first.
A model of several graphs, as exporters lay it out, is one release: the transformers.js / Optimum
folder (config.json, tokenizer.json, ... at the top; onnx/<graph>.onnx, <graph>_quantized.onnx
(int8), _fp16, _int8, _uint8, _q4, _q4f16, _bnb4 with their .onnx_data), or a flat folder of
<graph>.onnx files beside other files. Each ONNX file is a graph named by its stem less the
variant suffix; every other file is an asset that versions with the weights. Dotfiles, README.md
and a variant that lacks a graph are left out, and the output says so.

Writes content-hashed files, manifest.json (last, atomically), manifest.<version>.json, and the
caching headers (_headers, nginx.conf). Files of earlier versions stay; a published version is
never overwritten.

  --version X.Y.Z   the new version, above the published one
  --name <name>     the model's name (default: the folder's name, or the file's without .onnx)
  --variant <name>  the variant a single model file is published as (default fp32)
  --sign <file>     sign the manifests with this private key (ondevice keygen)
  --expires <when>  devices stop taking this manifest as an update after 30d, 12h, or an
                    ISO 8601 date-time: a frozen host cannot hide a revocation for ever
  --external-data   move each ONNX variant's weights (tensors of 1 kB or more) into a .data
                    file: the browser then needs one copy of the weights fewer while the
                    session is built`,
  revoke: `usage: ondevice revoke <release-dir> <version> [--sign <private.jwk>] [--expires <when>]

Adds <version> (the published one or an earlier one) to the manifest's "revoked": devices that see
it never start that version again. Publish a fixed version first, so that devices have something
to move to. A signed manifest must be signed again: pass --sign. If its expires has passed, pass
--expires too (a revocation signed already expired would be ignored by every device; it is refused).`,
  sign: `usage: ondevice sign <release-dir> --sign <private.jwk> [--expires <when>]

Signs every manifest of the release again (manifest.json and each manifest.<version>.json) and
changes nothing else, so devices download no file: to renew the --expires window before it ends,
or to move to a new key (see "Rotating a key" in docs/publishing.md). Refuses to write a manifest
that is already expired.`,
  keygen: `usage: ondevice keygen --out <dir>

Writes <dir>/private.jwk (mode 0600: keep it out of the repository, e.g. in your CI's secrets) and
<dir>/public.jwk (ECDSA P-256). Give the public key to loadModel's publicKey option, and the
private one to publish, revoke and rollout with --sign. Never overwrites a private key.`,
  rollout: `usage: ondevice rollout <release-dir> <version> <percent> [--sign <private.jwk>] [--expires <when>]

Sets rollout: { percent, previous } on <version> (the published one) in manifest.json and its
per-version manifest. A device moves to it only if its bucket (from a random id made on the device,
which never leaves it) is under <percent>; a new device outside it loads <previous>, the highest
earlier version published here and not revoked. Raise <percent> as confidence grows; 100 ends the
rollout.`,
  serve: SERVE_HELP,
};

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [command = '', ...rest] = argv;
  try {
    if (command === '' || command === '--help' || command === '-h' || command === 'help') {
      io.out(HELP['']!);
      return command === '' ? 2 : 0;
    }
    if (!(command in HELP)) throw new CliError(`unknown command "${command}"; run ondevice --help`, 2);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(HELP[command]!);
      return 0;
    }
    await COMMANDS[command]!(rest, io);
    return 0;
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`ondevice ${command}: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      io.err(`ondevice ${command}: ${error.message}; run ondevice ${command} --help`);
      return 2;
    }
    throw error;
  }
}

function parse(args: readonly string[], options: NonNullable<ParseArgsConfig['options']>, positionals: number, command: string) {
  const parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  if (parsed.positionals.length !== positionals) throw new CliError(`expected ${positionals} argument${positionals === 1 ? '' : 's'}, got ${parsed.positionals.length}; run ondevice ${command} --help`, 2);
  return parsed;
}

function number(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new CliError(`${flag} must be a number, got "${String(value)}"`, 2);
  return n;
}

const ONNX_TARGETS: readonly string[] = ['int8', 'fp16', 'q4', 'q4f16'] satisfies OnnxTarget[];
const isOnnxTarget = (to: unknown): to is OnnxTarget => typeof to === 'string' && ONNX_TARGETS.includes(to);

const COMMANDS: Record<string, (args: readonly string[], io: Io) => Promise<void>> = {
  async quantize(args, io) {
    const { positionals, values } = parse(args, { to: { type: 'string' }, out: { type: 'string', short: 'o' }, 'block-size': { type: 'string' }, symmetric: { type: 'boolean' }, asymmetric: { type: 'boolean' }, 'external-data': { type: 'boolean' } }, 1, 'quantize');
    const to = values['to'];
    if (values['symmetric'] && values['asymmetric']) throw new CliError('--symmetric and --asymmetric: pick one', 2);
    const fourBit = to === 'q4' || to === 'q4f16';
    if ((values['block-size'] !== undefined || values['symmetric'] || values['asymmetric']) && !fourBit) throw new CliError('--block-size, --symmetric and --asymmetric are for --to q4 and q4f16', 2);
    const q4 = { blockSize: number(values['block-size'], '--block-size') ?? 32, symmetric: values['symmetric'] === true };
    if (fourBit) checkBlockSize(q4.blockSize);
    if ((await stat(positionals[0]!).catch(() => undefined))?.isDirectory()) {
      // An exporter's folder: every graph, each written beside it under transformers.js's sibling name.
      if (!isOnnxTarget(to)) throw new CliError('--to must be int8, fp16, q4 or q4f16', 2);
      if (values['out'] !== undefined) throw new CliError('-o is for one model file; a folder gets each graph quantized beside it (<graph>_quantized.onnx, <graph>_fp16.onnx, <graph>_q4.onnx, <graph>_q4f16.onnx)', 2);
      for (const line of await quantizeFolder(positionals[0]!, to, { q4, externalData: values['external-data'] === true })) io.out(line);
      return;
    }
    if (typeof values['out'] !== 'string') throw new CliError('-o <out.onnx | out.json> is required', 2);
    if (await isModelJson(positionals[0]!)) {
      // A TF.js model.json (any name): its weights in TF.js's own quantization format.
      if (values['external-data']) throw new CliError('--external-data is for ONNX models; a TF.js model keeps its weights in shards already', 2);
      if (!TFJS_TARGETS.includes(to as TfjsQuantizeTarget)) throw new CliError(`--to for a TF.js model must be ${TFJS_TARGETS.join(', ')}`, 2);
      const out = values['out'];
      if (!out.endsWith('.json')) throw new CliError('-o for a TF.js model is the new model.json (its weights go beside it, in <name>.bin)', 2);
      const model = await readVariant(dirname(positionals[0]!), basename(positionals[0]!));
      const result = quantizeTfjs(model, to as TfjsQuantizeTarget, `${basename(out, '.json')}.bin`);
      await mkdir(dirname(out), { recursive: true });
      // The shard first, model.json last: a model.json never names a shard that is not there.
      await writeAtomically(join(dirname(out), result.shard.path), result.shard.bytes);
      await writeAtomically(out, new TextEncoder().encode(JSON.stringify(result.json)));
      io.out(`${out}: ${to}, ${result.tensors.length} weights converted, ${result.shard.bytes.length} bytes of weights`);
      return;
    }
    if (!isOnnxTarget(to)) throw new CliError('--to must be int8, fp16, q4 or q4f16 for an ONNX model (fp16, uint8 or uint16 for a TF.js model.json)', 2);
    io.out(await quantizeFile(positionals[0]!, values['out'], to, { q4, externalData: values['external-data'] === true }));
  },
  async verify(args, io) {
    const { positionals, values } = parse(args, { data: { type: 'string' }, 'min-agreement': { type: 'string' }, 'max-accuracy-drop': { type: 'string' } }, 1, 'verify');
    const report = await verifyRelease(positionals[0]!, typeof values['data'] === 'string' ? await readTestSet(values['data']) : undefined, {
      minAgreement: number(values['min-agreement'], '--min-agreement') ?? 0.99,
      maxAccuracyDrop: number(values['max-accuracy-drop'], '--max-accuracy-drop'),
    });
    io.out(formatReport(report));
    if (report.failures.length > 0) throw new CliError(`${report.failures.length} variant check(s) failed`);
  },
  async publish(args, io) {
    const { positionals, values } = parse(args, { version: { type: 'string' }, name: { type: 'string' }, variant: { type: 'string' }, sign: { type: 'string' }, expires: { type: 'string' }, 'external-data': { type: 'boolean' } }, 2, 'publish');
    if (typeof values['version'] !== 'string') throw new CliError('--version X.Y.Z is required', 2);
    const { manifest, written, skipped } = await publish(positionals[0]!, positionals[1]!, {
      version: values['version'],
      name: values['name'] as string | undefined,
      variant: values['variant'] as string | undefined,
      expires: typeof values['expires'] === 'string' ? expiresAt(values['expires']) : undefined,
      signer: await signerOf(values['sign']),
      externalData: values['external-data'] === true,
      warn: (text) => io.err(text),
    });
    const graphs = manifest['graphs'] ? `; graphs ${Object.keys(manifest['graphs'] as object).join(', ')}` : '';
    const assets = Array.isArray(manifest['assets']) ? `; assets ${(manifest['assets'] as { name: string }[]).map((a) => a.name).join(', ')}` : '';
    io.out(`published ${manifest.name} ${manifest.version} (${Object.keys(manifest.variants).join(', ')}${graphs}${assets}) to ${positionals[1]}: ${written.join(', ')}`);
    for (const line of skipped) io.err(`left out: ${line}`);
  },
  async revoke(args, io) {
    const { positionals, values } = parse(args, { sign: { type: 'string' }, expires: { type: 'string' } }, 2, 'revoke');
    const manifest = await revoke(positionals[0]!, positionals[1]!, await signerOf(values['sign']), freshnessOf(values['expires'], io));
    io.out(`revoked ${positionals[1]} of ${manifest.name}; revoked now: ${(manifest.revoked ?? []).join(', ')}`);
  },
  async keygen(args, io) {
    const { values } = parse(args, { out: { type: 'string' } }, 0, 'keygen');
    if (typeof values['out'] !== 'string') throw new CliError('--out <dir> is required', 2);
    const { keyid, privatePath, publicPath } = await keygen(values['out']);
    io.out(`key ${keyid}: ${privatePath} (private, mode 0600: never commit or ship it), ${publicPath} (public: give it to loadModel's publicKey)`);
  },
  async rollout(args, io) {
    const { positionals, values } = parse(args, { sign: { type: 'string' }, expires: { type: 'string' } }, 3, 'rollout');
    const manifest = await rollout(positionals[0]!, positionals[1]!, positionals[2]!, await signerOf(values['sign']), freshnessOf(values['expires'], io));
    const state = manifest['rollout'] as { percent: number; previous: string } | undefined;
    io.out(state ? `${manifest.name} ${manifest.version}: rolled out to ${state.percent}% of devices; the others run ${state.previous}` : `${manifest.name} ${manifest.version}: rolled out to every device`);
  },
  async sign(args, io) {
    const { positionals, values } = parse(args, { sign: { type: 'string' }, expires: { type: 'string' } }, 1, 'sign');
    const signer = await signerOf(values['sign']);
    if (!signer) throw new CliError('--sign <private.jwk> is required', 2);
    const { manifest, files } = await resign(positionals[0]!, signer, freshnessOf(values['expires'], io));
    io.out(`signed ${manifest.name} ${manifest.version} by key ${signer.keyid}${typeof manifest['expires'] === 'string' ? `, expires ${manifest['expires']}` : ''}: ${files.join(', ')}`);
  },
  serve: (args, io) => serveCommand(args, io),
};

function freshnessOf(expires: unknown, io: Io): Freshness {
  return { expires: typeof expires === 'string' ? expiresAt(expires) : undefined, warn: (text) => io.err(text) };
}

function signerOf(path: unknown): Promise<SigningKey | undefined> {
  return typeof path === 'string' ? readSigningKey(path) : Promise.resolve(undefined);
}
