/** Panel 2: a clip of moving shapes noised frame by frame at the local times of panel 1 (Eq. 7). */
import { dispose, key, normal, tensor, tidy, toArray } from '../../index.js';
import { diffuse, localTimeMap, logSnrTensor, type Schedule } from '../../diffusion/index.js';
import { movingShapes } from '../../experiments/data/shapes.js';
import { byId, el, formatNumber, slider } from './dom.js';
import { drawFrame } from './draw.js';
import type { LocalTimeSettings } from './localTimeTable.js';

const SIZE = 32;
const CHANNELS = 3;

export function mountForwardPanel(schedule: Schedule, initial: LocalTimeSettings): { update(s: LocalTimeSettings): void } {
  let settings = initial;
  let clipSeed = 3;
  let noiseSeed = 0;
  let generation = 0;

  const clipSlider = slider({ id: 'slider-clip', label: 'clip seed', min: 0, max: 99, step: 1, value: clipSeed, onInput: (v) => ((clipSeed = v), void render()) });
  const noiseSlider = slider({ id: 'slider-noise', label: 'noise seed ε', min: 0, max: 99, step: 1, value: noiseSeed, onInput: (v) => ((noiseSeed = v), void render()) });
  byId('forward-controls').append(clipSlider.root, noiseSlider.root);

  const cleanRow = el('div', { class: 'strip', id: 'forward-clean' });
  const noisyRow = el('div', { class: 'strip', id: 'forward-noisy' });
  byId('forward-strips').append(
    el('div', { class: 'strip-label' }, 'clean clip x (moving shapes)'),
    cleanRow,
    el('div', { class: 'strip-label' }, 'noised z = α x + σ ε, each frame at its local time t_w'),
    noisyRow,
  );

  async function render(): Promise<void> {
    const mine = ++generation;
    const { window, cleanFrames } = settings;
    const localTimes = localTimeMap(settings.map, { window, cleanFrames })(settings.t);
    const clip = movingShapes({ frames: window, size: SIZE, count: 3, seed: clipSeed, channels: CHANNELS }).map((v) => 2 * v - 1);
    const noisy = tidy(() => {
      const x = tensor(clip, [1, window, SIZE, SIZE, CHANNELS]);
      const logSnr = logSnrTensor([localTimes.map((t) => schedule.logSnr(t))]);
      return diffuse(x, logSnr, normal(key(noiseSeed), x.shape)); // Eq. 7
    });
    let z: Float32Array;
    try {
      z = (await toArray(noisy)) as Float32Array;
    } finally {
      dispose(noisy);
    }
    if (mine !== generation) return;
    const frame = (video: Float32Array, w: number, caption: string, cls: string): HTMLElement => {
      const canvas = el('canvas', { class: 'frame' });
      drawFrame(canvas, video, w, SIZE, SIZE, CHANNELS);
      return el('figure', { class: `frame-figure ${cls}`, 'data-frame': w }, canvas, el('figcaption', {}, caption));
    };
    const clipArray = Float32Array.from(clip);
    cleanRow.replaceChildren(...localTimes.map((_, w) => frame(clipArray, w, `w = ${w}${w < cleanFrames ? ' (clean)' : ''}`, 'clean')));
    noisyRow.replaceChildren(
      ...localTimes.map((tw, w) => frame(z, w, `t_w = ${formatNumber(tw, 3)}\nλ = ${formatNumber(schedule.logSnr(tw), 1)}`, `category-${tw === 0 ? 'clean' : tw === 1 ? 'noise' : 'window'}`)),
    );
    byId('forward-panel').dataset.rendered = String(mine);
  }

  void render();
  return {
    update(s) {
      settings = s;
      void render();
    },
  };
}
