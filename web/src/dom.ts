/** Small DOM helpers: the page builds its controls from code so that each panel is one file. */

type Attributes = Record<string, string | number | boolean | undefined>;

/** `el('td', { class: 'x' }, 'text', child)`: an element with attributes and children. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children);
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`web: the page has no element #${id}`);
  return node as T;
}

/** A labelled range slider whose value is shown next to it; `onInput` runs on every move. */
export function slider(options: {
  id: string;
  label: string;
  min: number;
  max: number;
  step: number;
  value: number;
  format?: (v: number) => string;
  onInput: (v: number) => void;
}): { root: HTMLElement; input: HTMLInputElement; set(v: number, min?: number, max?: number): void } {
  const format = options.format ?? String;
  const input = el('input', { id: options.id, type: 'range', min: options.min, max: options.max, step: options.step, value: options.value });
  const shown = el('output', { for: options.id, id: `${options.id}-value` }, format(options.value));
  const root = el('label', { class: 'slider' }, el('span', { class: 'slider-label' }, options.label), input, shown);
  input.addEventListener('input', () => {
    const v = Number(input.value);
    shown.textContent = format(v);
    options.onInput(v);
  });
  return {
    root,
    input,
    set(v, min, max) {
      if (min !== undefined) input.min = String(min);
      if (max !== undefined) input.max = String(max);
      input.value = String(v);
      shown.textContent = format(Number(input.value));
    },
  };
}

export function button(id: string, text: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', { id, type: 'button' }, text);
  b.addEventListener('click', onClick);
  return b;
}

/**
 * Let the browser handle input and paint before the next chunk of work: a macrotask, so pending
 * events and a due frame run first (a resolved promise would not yield at all).
 */
export function yieldToBrowser(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

export function formatNumber(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  return v.toFixed(digits);
}
