/** Panel 1: the paper's Figure 2 with sliders, and the per-frame numbers as a table. */
import type { Schedule } from '../../diffusion/index.js';
import { byId, el, formatNumber, slider } from './dom.js';
import { CLEAN_COLOUR, NOISE_COLOUR, css, drawLocalTimeMap, windowColour } from './draw.js';
import { localTimeMap, type LocalTimeMapName } from '../../diffusion/index.js';
import { MAPS, globalLocalTimes, localTimeRows, previousTime, type LocalTimeSettings } from './localTimeTable.js';

function rowColour(category: 'clean' | 'noise' | 'window', localTime: number): readonly [number, number, number] {
  return category === 'clean' ? CLEAN_COLOUR : category === 'noise' ? NOISE_COLOUR : windowColour(localTime);
}

export const INITIAL_SETTINGS: LocalTimeSettings = { window: 8, cleanFrames: 2, t: 0.5, map: 'linear', steps: 8 };

export function mountLocalTimePanel(schedule: Schedule, onChange: (s: LocalTimeSettings) => void): { settings(): LocalTimeSettings } {
  let settings = INITIAL_SETTINGS;
  const update = (patch: Partial<LocalTimeSettings>): void => {
    settings = { ...settings, ...patch };
    render();
    onChange(settings);
  };

  const windowSlider = slider({
    id: 'slider-window',
    label: 'window W',
    min: 2,
    max: 32,
    step: 1,
    value: settings.window,
    onInput: (window) => {
      const cleanFrames = Math.min(settings.cleanFrames, window - 1);
      cleanSlider.set(cleanFrames, 0, window - 1);
      update({ window, cleanFrames });
    },
  });
  const cleanSlider = slider({
    id: 'slider-clean',
    label: 'clean frames n_cln',
    min: 0,
    max: settings.window - 1,
    step: 1,
    value: settings.cleanFrames,
    onInput: (cleanFrames) => update({ cleanFrames }),
  });
  const timeSlider = slider({
    id: 'slider-t',
    label: 'global time t',
    min: 0,
    max: 1,
    step: 0.005,
    value: settings.t,
    format: (v) => v.toFixed(3),
    onInput: (t) => update({ t }),
  });
  const stepsSlider = slider({
    id: 'slider-steps',
    label: 'steps T (s = t − 1/T)',
    min: 1,
    max: 64,
    step: 1,
    value: settings.steps,
    onInput: (steps) => update({ steps }),
  });
  const mapSelect = el(
    'select',
    { id: 'map-select' },
    ...MAPS.map((m) => el('option', { value: m.name, selected: m.name === settings.map }, `${m.title}: ${m.equation}`)),
  );
  mapSelect.addEventListener('change', () => update({ map: mapSelect.value as LocalTimeMapName }));
  byId('local-time-controls').append(
    windowSlider.root,
    cleanSlider.root,
    timeSlider.root,
    stepsSlider.root,
    el('label', { class: 'select' }, el('span', { class: 'slider-label' }, 'table and panel 2 use'), mapSelect),
  );

  const canvases = new Map<LocalTimeMapName, HTMLCanvasElement>();
  const figures = MAPS.map((m) => {
    const canvas = el('canvas', { id: `map-${m.name}`, width: 210, height: 240, class: 'map-canvas' });
    canvases.set(m.name, canvas);
    const figure = el('figure', { class: 'map', 'data-map': m.name }, canvas, el('figcaption', {}, `${m.title}: ${m.equation}`));
    figure.addEventListener('click', () => {
      mapSelect.value = m.name;
      update({ map: m.name });
    });
    return figure;
  });
  const globalCanvas = el('canvas', { id: 'map-global', width: 300, height: 240, class: 'map-canvas' });
  const globalFigure = el(
    'figure',
    { class: 'map global', 'data-map': 'global' },
    globalCanvas,
    el('figcaption', {}, 'global view (Fig. 2 left, Sec. 3.1): Algorithm 3 (init), then one stretch per shift of Algorithm 2 (linear)'),
  );
  byId('local-time-maps').append(...figures, globalFigure);

  const swatch = (colour: string, text: string): HTMLElement =>
    el('span', { class: 'swatch-item' }, el('span', { class: 'swatch', style: `background:${colour}` }), text);
  const gradient = `linear-gradient(to right, ${[0.98, 0.75, 0.5, 0.25, 0.02].map((t) => css(windowColour(t))).join(', ')})`;
  byId('local-time-legend').append(
    swatch(css(CLEAN_COLOUR), 'clean: t_w = 0 (Eq. 8)'),
    swatch(gradient, 'window: 0 < t_w < 1, noisier to the right (Eq. 10)'),
    swatch(css(NOISE_COLOUR), 'noise: t_w = 1 (Eq. 9)'),
    el('span', { class: 'swatch-item' }, el('span', { class: 'swatch line' }), 'current t'),
  );

  const caption = el('p', { id: 'local-time-caption', class: 'caption' });
  const tbody = el('tbody');
  const table = el(
    'table',
    { id: 'local-time-table' },
    el(
      'thead',
      {},
      el('tr', {}, ...['frame w', 't_w (local time)', 's_w (next step)', 'logSNR λ(t_w)', 'α', 'σ', 'category'].map((h) => el('th', {}, h))),
    ),
    tbody,
  );
  byId('local-time-table-wrap').append(caption, table);

  function render(): void {
    for (const m of MAPS) {
      const canvas = canvases.get(m.name)!;
      drawLocalTimeMap(canvas, localTimeMap(m.name, settings), settings.window, settings.t);
      canvas.parentElement!.classList.toggle('selected', m.name === settings.map);
    }
    const global = globalLocalTimes(settings.window, settings.cleanFrames, settings.window);
    drawLocalTimeMap(globalCanvas, global.map, global.frames, null, { frameLabel: 'video frame k' });
    const rows = localTimeRows(settings, schedule);
    const map = MAPS.find((m) => m.name === settings.map)!;
    caption.textContent =
      `${map.title} (${map.equation}): W = ${settings.window}, n_cln = ${settings.cleanFrames}, ` +
      `t = ${settings.t}, next step s = ${formatNumber(previousTime(settings.t, settings.steps))}; ` +
      `logSNR from the cosine schedule (λ ∈ [${schedule.logSnrMin}, ${schedule.logSnrMax}]).`;
    table.dataset.window = String(settings.window);
    table.dataset.cleanFrames = String(settings.cleanFrames);
    table.dataset.t = String(settings.t);
    table.dataset.map = settings.map;
    tbody.replaceChildren(
      ...rows.map((r) =>
        el(
          'tr',
          { 'data-frame': r.frame, class: `category-${r.category}` },
          el('td', {}, String(r.frame)),
          el('td', { class: 'local-time', 'data-value': r.localTime }, formatNumber(r.localTime)),
          el('td', { class: 'next-local-time', 'data-value': r.nextLocalTime }, formatNumber(r.nextLocalTime)),
          el('td', { class: 'log-snr', 'data-value': r.logSnr }, formatNumber(r.logSnr, 3)),
          el('td', { class: 'alpha', 'data-value': r.alpha }, formatNumber(r.alpha)),
          el('td', { class: 'sigma', 'data-value': r.sigma }, formatNumber(r.sigma)),
          el(
            'td',
            { class: 'category' },
            el('span', { class: 'swatch', style: `background:${css(rowColour(r.category, r.localTime))}` }),
            r.category,
          ),
        ),
      ),
    );
  }

  render();
  timeSlider.input.setAttribute('aria-describedby', 'local-time-caption');
  windowSlider.input.setAttribute('aria-describedby', 'local-time-caption');
  return { settings: () => settings };
}
