/**
 * The equality check of the PyTorch replica (bench/torch/uvit.py, bench/torch/train_step.py): our
 * side writes one safetensors file per preset with the U-ViT's parameters (initialised as
 * `rolling train` does, then perturbed so that no output is zero by construction: the output
 * convolution starts at zero), a noisy video and its per-frame logSNR, our forward output, and, for
 * the training loss of Algorithm 1 on a fixed batch, noise and local times, our loss and gradients.
 * bench/torch/equality.py loads the parameters into the replica by name and compares: forward,
 * logSNR and loss weights from the local times, loss, and every gradient.
 *
 *   npx tsx bench/torch/equality.ts [--preset demo,bair] [--backend wasm] [--keep <dir>]
 *
 * Prints one JSON line per preset and exits non-zero on a mismatch (or without torch, saying how to
 * get it). test/bench/torchReplica.test.ts runs the same check where torch is installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { add, foldIn, key, mul, normal, setBackend, tensor, tidy, treeMap, uniform, valueAndGrad, type Tensor } from '../../index.js';
import { countParameters, saveSafetensors, uvit, uvitPresets } from '../../nn/index.js';
import { cosineSchedule, diffuse, initLocalTimes, linearLocalTimes, logSnrTensor, vFromXEps, windowLoss, windowLossWeights } from '../../diffusion/index.js';
import { buildModel } from '../../experiments/model.js';
import { PRESETS, type Preset } from '../../experiments/presets.js';
import { findTorch, TORCH_DIR, type TorchPython } from './python.js';

export interface EqualityReport {
  preset: string;
  parameters: number;
  torchParameters: number;
  /** ‖ours − torch‖ / ‖ours‖ over the whole forward output. */
  forwardRelErr: number;
  /** The same for the logSNR and loss weights the replica computes from our local times. */
  logSnrRelErr: number;
  weightsEqual: boolean;
  lossRelErr: number;
  /** Over all gradients together, and the worst single parameter's. */
  gradRelErr: number;
  gradRelErrMax: number;
  worstGrad: string;
  /** Gradients zero in exact arithmetic (the attention keys' bias), checked to be negligible on both sides. */
  zeroGrads: string[];
  ok: boolean;
}

/** The frame shape a preset trains on (as bench/trainStep.ts). */
export function frameShapeOf(preset: Preset): [number, number, number] {
  return preset.data === 'bair' ? [64, 64, 3] : [preset.size, preset.size, 1];
}

/** The U-ViT config experiments/model.ts `buildModel` resolves for a preset, as the replica takes it. */
export function modelConfigOf(preset: Preset): Record<string, unknown> {
  return uvit({
    ...uvitPresets[preset.model],
    inChannels: frameShapeOf(preset)[2],
    ...(preset.patchSize ? { patchSize: preset.patchSize } : {}),
    ...(preset.channels ? { channels: [...preset.channels] } : {}),
  }).config as unknown as Record<string, unknown>;
}

/** Our side of the check for one preset, written to `file`; resolves to the parameter count. */
export async function writeEqualityCase(presetName: string, file: string): Promise<number> {
  const preset = PRESETS[presetName];
  if (!preset) throw new Error(`equality: unknown preset ${presetName}`);
  const [height, width, channels] = frameShapeOf(preset);
  const model = buildModel(preset, [height, width, channels]);
  // The `small` model's case is one clip of 8 frames (cleanFrames 2 of them), not the preset's 16:
  // its gradients for 16 frames do not fit the wasm heap today, and the layers see nothing
  // different but the length of the temporal attention.
  const small = preset.model === 'small';
  const batch = small ? 1 : 2;
  const window = small ? Math.min(preset.window, 8) : preset.window;
  const shape = [batch, window, height, width, channels];
  const schedule = cosineSchedule();
  // Both maps of Algorithm 1: clean frames (λ = 15), window frames, and noise frames clipped to t = 1.
  const localTimes = Array.from({ length: batch }, (_, b) =>
    b % 2 === 0 ? linearLocalTimes({ window, cleanFrames: preset.cleanFrames })(0.37) : initLocalTimes({ window, cleanFrames: preset.cleanFrames })(0.61),
  );
  const weights = windowLossWeights(localTimes, { schedule });
  const k = foldIn(key(0), 0xe9a1);
  const tree = tidy(() => {
    const initial = model.init(foldIn(key(0), 0x1417));
    let i = 0;
    const params = treeMap(initial, (p: Tensor) => add(p, mul(normal(foldIn(k, 1000 + i++), p.shape), 0.05)));
    const logSnr = logSnrTensor(localTimes.map((row) => row.map((t) => schedule.logSnr(t))));
    const z = normal(foldIn(k, 1), shape);
    const forward = model.apply(params, z, logSnr);
    const x = uniform(foldIn(k, 2), shape, -1, 1);
    const eps = normal(foldIn(k, 3), shape);
    const lossOf = (p: unknown) => windowLoss(vFromXEps(x, eps, logSnr), model.apply(p, diffuse(x, logSnr, eps), logSnr), weights, window - preset.cleanFrames);
    const [loss, grads] = valueAndGrad(lossOf)(params);
    return {
      params, grads, z, logSnr, forward, x, eps, loss,
      localTimes: tensor(Float32Array.from(localTimes.flat()), [batch, window]),
      weights: tensor(Float32Array.from(weights.flat()), [batch, window]),
    };
  });
  const parameters = countParameters(tree.params as never);
  await saveSafetensors(file, tree, {
    preset: presetName,
    model: JSON.stringify(modelConfigOf(preset)),
    generatedFrames: String(window - preset.cleanFrames),
    parameters: String(parameters),
  });
  return parameters;
}

/** Runs bench/torch/equality.py on a file `writeEqualityCase` wrote. */
export function runTorchSide(torch: TorchPython, file: string): EqualityReport {
  const r = spawnSync(torch.python, [path.join(TORCH_DIR, 'equality.py'), file], { env: torch.env, encoding: 'utf8', timeout: 600_000 });
  const line = r.stdout?.trim().split('\n').pop();
  if (r.error || !line?.startsWith('{')) throw new Error(`equality.py failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}`);
  return JSON.parse(line) as EqualityReport;
}

/** Both sides for each preset, in a temporary folder (kept when `keep` names one). */
export async function checkEquality(presets: readonly string[], torch: TorchPython, keep?: string): Promise<EqualityReport[]> {
  const dir = keep ?? mkdtempSync(path.join(os.tmpdir(), 'uvit-equality-'));
  if (keep) mkdirSync(keep, { recursive: true });
  try {
    const reports: EqualityReport[] = [];
    for (const name of presets) {
      const file = path.join(dir, `${name}.safetensors`);
      const parameters = await writeEqualityCase(name, file);
      const report = runTorchSide(torch, file);
      reports.push({ ...report, ok: report.ok && report.parameters === parameters });
    }
    return reports;
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { preset: { type: 'string', default: 'demo,bair' }, backend: { type: 'string', default: 'wasm' }, keep: { type: 'string' } } });
  const found = findTorch();
  if (!found.ok) {
    console.error(`equality: ${found.reason}`);
    return 2;
  }
  await setBackend(values.backend!);
  const reports = await checkEquality(values.preset!.split(','), found.torch, values.keep);
  for (const r of reports) console.log(JSON.stringify(r));
  return reports.every((r) => r.ok) ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
