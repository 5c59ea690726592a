/**
 * Panel 3: train two tiny U-ViTs in the page (rolling, Algorithm 1; standard diffusion), then roll
 * both out frame by frame from the same context and compare them with FSD (Eq. 27) per frame.
 * Work runs one training step or one frame at a time, yielding to the browser in between.
 */
import type { Denoiser } from '../../diffusion/index.js';
import { byId, button, el, formatNumber, yieldToBrowser } from './dom.js';
import { drawFrame, drawLineChart } from './draw.js';
import {
  EXPERIMENT,
  createTrainer,
  evaluationClips,
  fsdAgainst,
  makeClips,
  referenceFrames,
  rollingRollout,
  standardBlockRollout,
  type Method,
  type Trainer,
} from './experiment.js';

const COLOURS: Record<Method | 'truth', string> = { rolling: '#1f6fd1', standard: '#e07b00', truth: '#2e9e58' };
const ROLLOUT_BATCH = 4;

export function mountTrainingPanel(report: (where: string, e: unknown) => void, backendName: string): void {
  const cfg = EXPERIMENT;
  const clips = makeClips(cfg, cfg.trainClips, cfg.clipFrames, 0);
  const reference = referenceFrames(cfg);
  const trainers: Record<Method, Trainer> = {
    rolling: createTrainer('rolling', cfg, clips, 1),
    standard: createTrainer('standard', cfg, clips, 2),
  };
  const evalLosses: Record<Method, { step: number; loss: number }[]> = { rolling: [], standard: [] };
  let training = false;
  let rollingOut = false;
  let stepTimes: number[] = [];

  byId('training-intro').append(
    el(
      'p',
      {},
      `Data: ${cfg.trainClips} clips of ${cfg.clipFrames} frames of moving shapes (${cfg.shapes === 1 ? 'one shape' : `${cfg.shapes} shapes`} per clip), ${cfg.size}×${cfg.size}, one channel, in [−1, 1]. `,
      `Window W = ${cfg.window} with n_cln = ${cfg.cleanFrames} clean frames; ${cfg.batch} windows per step; Adam, learning rate ${cfg.learningRate}. `,
      `Model: nn's tiny U-ViT preset (${trainers.rolling.parameterCount.toLocaleString('en')} parameters), v-prediction, cosine schedule. `,
    ),
    el(
      'p',
      {},
      el('strong', {}, 'Two models are trained side by side from the same data: '),
      el('span', { style: `color:${COLOURS.rolling}` }, 'rolling'),
      ' with Algorithm 1 (linear local times, Eq. 22, with probability 0.8, else init, Eq. 23; the loss of Eq. 26), and the ',
      el('span', { style: `color:${COLOURS.standard}` }, 'standard-diffusion baseline'),
      ' with every generated frame of the window at the same t. The held-out loss is the same loss on a fixed batch with fixed noise, so it only moves when the model does.',
    ),
    el(
      'p',
      { class: 'note' },
      'What to expect: after a few hundred steps the samples are noisy blobs that move on from the context. Longer runs (we tried 1,500 steps) bring them closer to real frames by FSD, but the shapes stay blurry: this model, trained in a tab, is here to show the algorithms run, not to reach the paper\'s quality.',
    ),
  );

  const targetInput = el('input', { id: 'train-target', type: 'number', min: 1, max: 5000, step: 10, value: 500 });
  const standardBox = el('input', { id: 'train-standard', type: 'checkbox', checked: true });
  const trainButton = button('train-button', 'Start training', () => {
    if (training) training = false;
    else void trainLoop().catch((e) => report('training', e));
  });
  byId('training-controls').append(
    trainButton,
    el('label', { class: 'inline' }, 'train until step ', targetInput),
    el('label', { class: 'inline' }, standardBox, ' also train the standard baseline'),
  );

  const stepOut = el('span', { id: 'train-step', 'data-step': 0 }, '0');
  const lossOut = el('span', { id: 'train-loss' }, '—');
  const rateOut = el('span', { id: 'steps-per-second', 'data-value': 0 }, '—');
  const evalOut = el('span', { id: 'eval-loss' }, '—');
  byId('training-status').append(
    el('span', {}, 'step ', stepOut),
    el('span', {}, 'loss ', lossOut),
    el('span', {}, 'held-out loss ', evalOut),
    el('span', { title: 'a step updates both models when the baseline is trained too' }, 'steps/s ', rateOut),
  );
  const chart = byId<HTMLCanvasElement>('loss-chart');

  const framesSelect = el('select', { id: 'rollout-frames-select' }, ...[8, 16, 24].map((n) => el('option', { value: n }, `${n} frames`)));
  const stepsSelect = el(
    'select',
    { id: 'rollout-steps-select' },
    ...[2, 4, 8, 16].map((n) => el('option', { value: n, selected: n === 4 }, `${n} model evaluations per frame`)),
  );
  const samplerSelect = el(
    'select',
    { id: 'rollout-sampler-select' },
    el('option', { value: 'ddpm' }, 'ancestral (DDPM) steps'),
    el('option', { value: 'ddim' }, 'DDIM steps (η = 0)'),
  );
  const rolloutButton = button('rollout-button', 'Roll out', () => void rolloutBoth().catch((e) => report('rollout', e)));
  byId('rollout-controls').append(rolloutButton, framesSelect, stepsSelect, samplerSelect);

  const counters = {
    rolling: el('span', { id: 'rolling-count', 'data-count': 0 }, '0'),
    standard: el('span', { id: 'standard-count', 'data-count': 0 }, '0'),
  };
  const rolloutNote = el('span', { id: 'rollout-note' });
  byId('rollout-status').append(
    el('span', {}, 'rolling frames ', counters.rolling),
    el('span', {}, 'standard frames ', counters.standard),
    rolloutNote,
  );

  const rows = {
    truth: el('div', { class: 'strip', id: 'rollout-truth' }),
    rolling: el('div', { class: 'strip', id: 'rollout-rolling' }),
    standard: el('div', { class: 'strip', id: 'rollout-standard' }),
  };
  const sampleSelect = el('select', { id: 'rollout-sample' }, ...Array.from({ length: ROLLOUT_BATCH }, (_, i) => el('option', { value: i }, `sample ${i + 1}`)));
  byId('rollout-strips').append(
    el('label', { class: 'inline' }, 'show ', sampleSelect, ` of ${ROLLOUT_BATCH} (FSD uses all ${ROLLOUT_BATCH})`),
    el('div', { class: 'strip-label' }, 'ground truth (first n_cln frames: the context both models get)'),
    rows.truth,
    el('div', { class: 'strip-label', style: `color:${COLOURS.rolling}` }, 'rolling diffusion: Algorithm 3 to fill the window, then Algorithm 2 (one frame per window shift)'),
    rows.rolling,
    el('div', { class: 'strip-label', style: `color:${COLOURS.standard}`, id: 'standard-label' }, 'standard diffusion, block-autoregressive'),
    rows.standard,
  );
  const fsdBody = el('tbody');
  const fsdChart = el('canvas', { id: 'fsd-chart', width: 640, height: 200 });
  byId('fsd-table-wrap').append(
    el(
      'p',
      { class: 'caption' },
      `FSD (Eq. 27, spectral features of the 2-D DFT) per generated frame: the ${ROLLOUT_BATCH} samples at that frame against ${cfg.referenceFrames} real frames. `,
      `The ground-truth column puts the ${ROLLOUT_BATCH} real frames in the same place: the floor that ${ROLLOUT_BATCH} samples can reach. Lower is better.`,
    ),
    fsdChart,
    el('table', { id: 'fsd-table' }, el('thead', {}, el('tr', {}, ...['frame', 'rolling', 'standard', 'ground truth'].map((h) => el('th', {}, h)))), fsdBody),
  );

  // Rollout results, kept for redrawing another sample.
  let shown: { truth: Float32Array; length: number; rolling: Float32Array[]; standard: Float32Array[] } | null = null;
  let fsdCache: Record<Method | 'truth', number[]> = { rolling: [], standard: [], truth: [] };
  sampleSelect.addEventListener('change', () => drawRollout());

  function setBusy(): void {
    trainButton.textContent = training ? 'Stop training' : 'Start training';
    trainButton.disabled = rollingOut;
    rolloutButton.disabled = training || rollingOut;
    byId('training-panel').dataset.state = training ? 'training' : rollingOut ? 'rolling-out' : 'idle';
  }

  function renderTraining(): void {
    const r = trainers.rolling.losses;
    const s = trainers.standard.losses;
    stepOut.textContent = s.length === r.length ? String(r.length) : `${r.length} (standard ${s.length})`;
    stepOut.dataset.step = String(r.length);
    lossOut.textContent = `rolling ${formatNumber(r.at(-1) ?? NaN)}, standard ${formatNumber(s.at(-1) ?? NaN)}`;
    const ev = (m: Method): string => {
      const list = evalLosses[m];
      if (list.length === 0) return '—';
      return `${formatNumber(list[0]!.loss)} → ${formatNumber(list.at(-1)!.loss)} (step ${list.at(-1)!.step})`;
    };
    evalOut.textContent = `rolling ${ev('rolling')}; standard ${ev('standard')}`;
    for (const m of ['rolling', 'standard'] as const) {
      evalOut.dataset[`${m}Initial`] = String(evalLosses[m][0]?.loss ?? '');
      evalOut.dataset[`${m}Latest`] = String(evalLosses[m].at(-1)?.loss ?? '');
    }
    chart.dataset.rollingLosses = JSON.stringify(r);
    chart.dataset.standardLosses = JSON.stringify(s);
    if (stepTimes.length >= 2) {
      const rate = (stepTimes.length - 1) / ((stepTimes.at(-1)! - stepTimes[0]!) / 1000);
      rateOut.textContent = `${rate.toFixed(2)} (${backendName})`;
      rateOut.dataset.value = String(rate);
    }
    drawLineChart(
      chart,
      [
        { label: 'rolling: training loss', colour: COLOURS.rolling, values: r },
        { label: 'standard: training loss', colour: COLOURS.standard, values: s },
      ],
      { xLabel: 'training step', yLabel: 'loss (Eq. 26)' },
    );
  }

  async function evaluate(m: Method): Promise<void> {
    evalLosses[m].push({ step: trainers[m].losses.length, loss: await trainers[m].evaluate() });
  }

  async function trainLoop(): Promise<void> {
    training = true;
    stepTimes = [];
    setBusy();
    try {
      for (const m of ['rolling', 'standard'] as const) if (evalLosses[m].length === 0) await evaluate(m);
      renderTraining();
      await yieldToBrowser();
      const target = Math.max(1, Number(targetInput.value) || 500);
      while (training && trainers.rolling.losses.length < target) {
        await trainers.rolling.step();
        if (standardBox.checked) await trainers.standard.step();
        const step = trainers.rolling.losses.length;
        if (step % 10 === 0) {
          await evaluate('rolling');
          if (standardBox.checked) await evaluate('standard');
        }
        stepTimes.push(performance.now());
        if (stepTimes.length > 20) stepTimes.shift();
        renderTraining();
        await yieldToBrowser();
      }
    } finally {
      training = false;
      setBusy();
    }
  }

  async function rolloutBoth(): Promise<void> {
    rollingOut = true;
    setBusy();
    const frames = Number(framesSelect.value);
    const stepsPerFrame = Number(stepsSelect.value);
    const evaluation = evaluationClips(cfg, ROLLOUT_BATCH, frames);
    const context = evaluation.context();
    const standardTrained = trainers.standard.losses.length > 0;
    // Untrained baseline: the rolling model sampled with standard local times instead.
    const standardDenoiser: Denoiser = (standardTrained ? trainers.standard : trainers.rolling).denoiser();
    byId('standard-label').textContent = standardTrained
      ? `standard diffusion, block-autoregressive: its own model (${trainers.standard.losses.length} training steps), ${cfg.window - cfg.cleanFrames} frames per block`
      : `standard diffusion, block-autoregressive: the rolling model sampled with standard local times (the baseline was not trained), ${cfg.window - cfg.cleanFrames} frames per block`;
    rolloutNote.textContent =
      `${stepsPerFrame} model evaluations per generated frame for both; rolling model at step ${trainers.rolling.losses.length}` +
      (cfg.emaDecay > 0 ? `; both sample with the moving average of their parameters (decay ${cfg.emaDecay})` : '');
    shown = { truth: evaluation.clips, length: cfg.cleanFrames + frames, rolling: [], standard: [] };
    fsdBody.replaceChildren();
    fsdCache = { rolling: [], standard: [], truth: [] };
    for (const m of ['rolling', 'standard'] as const) {
      counters[m].textContent = `0 / ${frames}`;
      counters[m].dataset.count = '0';
    }
    drawRollout();
    const options = { frames, stepsPerFrame, seed: 11, sampler: samplerSelect.value as 'ddpm' | 'ddim' };
    const generators = {
      rolling: rollingRollout(cfg, trainers.rolling.denoiser(), context, options),
      standard: standardBlockRollout(cfg, standardDenoiser, context, options),
    };
    try {
      const done = { rolling: false, standard: false };
      while (!done.rolling || !done.standard) {
        for (const m of ['rolling', 'standard'] as const) {
          if (done[m]) continue;
          const next = await generators[m].next();
          if (next.done) done[m] = true;
          else {
            shown[m].push(next.value);
            counters[m].textContent = `${shown[m].length} / ${frames}`;
            counters[m].dataset.count = String(shown[m].length);
            drawRollout();
            renderFsd();
          }
          await yieldToBrowser();
        }
      }
    } finally {
      await generators.rolling.return();
      await generators.standard.return();
      context.dispose();
      rollingOut = false;
      setBusy();
    }
  }

  function drawRollout(): void {
    if (!shown) return;
    const sample = Number(sampleSelect.value);
    const frameSize = cfg.size * cfg.size;
    const figure = (values: Float32Array, index: number, caption: string, cls: string): HTMLElement => {
      const canvas = el('canvas', { class: 'frame' });
      drawFrame(canvas, values, index, cfg.size, cfg.size, 1);
      return el('figure', { class: `frame-figure ${cls}` }, canvas, el('figcaption', {}, caption));
    };
    const clip = shown.truth.subarray(sample * shown.length * frameSize, (sample + 1) * shown.length * frameSize);
    const contextFigures = (): HTMLElement[] =>
      Array.from({ length: cfg.cleanFrames }, (_, f) => figure(clip, f, `context ${f}`, 'context'));
    rows.truth.replaceChildren(
      ...contextFigures(),
      ...Array.from({ length: shown.length - cfg.cleanFrames }, (_, f) => figure(clip, cfg.cleanFrames + f, `frame ${f + 1}`, 'truth')),
    );
    for (const m of ['rolling', 'standard'] as const) {
      rows[m].replaceChildren(...contextFigures(), ...shown[m].map((values, f) => figure(values, sample, `frame ${f + 1}`, m)));
    }
  }

  function renderFsd(): void {
    if (!shown) return;
    const frameSize = cfg.size * cfg.size;
    const count = Math.max(shown.rolling.length, shown.standard.length);
    const truthAt = (f: number): Float32Array => {
      const out = new Float32Array(ROLLOUT_BATCH * frameSize);
      for (let b = 0; b < ROLLOUT_BATCH; b++) {
        const at = (b * shown!.length + cfg.cleanFrames + f) * frameSize;
        out.set(shown!.truth.subarray(at, at + frameSize), b * frameSize);
      }
      return out;
    };
    const series = fsdCache;
    const body: HTMLElement[] = [];
    for (let f = 0; f < count; f++) {
      const r = shown.rolling[f];
      const s = shown.standard[f];
      if (r && series.rolling[f] === undefined) series.rolling[f] = fsdAgainst(cfg, reference, r, ROLLOUT_BATCH);
      if (s && series.standard[f] === undefined) series.standard[f] = fsdAgainst(cfg, reference, s, ROLLOUT_BATCH);
      if (series.truth[f] === undefined) series.truth[f] = fsdAgainst(cfg, reference, truthAt(f), ROLLOUT_BATCH);
      const cell = (v: number | undefined, cls: string): HTMLElement =>
        el('td', { class: cls, 'data-value': v === undefined ? '' : v }, v === undefined ? '…' : v.toFixed(0));
      body.push(
        el(
          'tr',
          { 'data-frame': f + 1 },
          el('td', {}, String(f + 1)),
          cell(series.rolling[f], 'fsd-rolling'),
          cell(series.standard[f], 'fsd-standard'),
          cell(series.truth[f], 'fsd-truth'),
        ),
      );
    }
    fsdBody.replaceChildren(...body);
    drawLineChart(
      fsdChart,
      [
        { label: 'rolling', colour: COLOURS.rolling, values: series.rolling },
        { label: 'standard', colour: COLOURS.standard, values: series.standard },
        { label: 'ground truth', colour: COLOURS.truth, values: series.truth },
      ],
      { xLabel: 'generated frame − 1', yLabel: 'FSD', smoothing: false },
    );
  }

  setBusy();
  renderTraining();
}
