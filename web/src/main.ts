/**
 * The explainer's entry point: pick a backend (WebGPU when the browser has it and it agrees with the
 * CPU backend, else CPU), show which, then mount the three panels. Importing the package's root
 * index.ts registers the backends, exactly as a Node user's import does.
 */
import '../../index.js';
import { startBackend } from './backend.js';
import { byId, el } from './dom.js';
import { mountForwardPanel } from './forwardPanel.js';
import { mountLocalTimePanel } from './localTimePanel.js';
import { SCHEDULE } from './experiment.js';
import { mountTrainingPanel } from './trainingPanel.js';

/** Errors are shown on the page as well as in the console, so a reader sees what went wrong. */
function report(where: string, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  console.error(`${where}:`, e);
  let box = document.getElementById('errors');
  if (!box) {
    box = el('div', { id: 'errors', role: 'alert' });
    document.querySelector('header')!.append(box);
  }
  box.append(el('p', {}, `${where}: ${message}`));
}

async function main(): Promise<void> {
  const choice = await startBackend(new URLSearchParams(location.search).get('backend'));
  const badge = byId('backend');
  const names: Record<string, string> = { webgpu: 'WebGPU', cpu: 'CPU (pure TypeScript)', wasm: 'WebAssembly' };
  badge.textContent = names[choice.name] ?? choice.name;
  badge.dataset.backend = choice.name;
  byId('backend-note').textContent = `(${choice.detail})`;

  const forward = mountForwardPanel(SCHEDULE, { window: 8, cleanFrames: 2, t: 0.5, map: 'linear', steps: 8 });
  const localTime = mountLocalTimePanel(SCHEDULE, (settings) => forward.update(settings));
  forward.update(localTime.settings());
  mountTrainingPanel(report, choice.name);
  document.body.dataset.ready = 'true';
}

window.addEventListener('unhandledrejection', (event) => report('unhandled', event.reason));
main().catch((e) => report('starting the page', e));
