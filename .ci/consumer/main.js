// A browser page importing the package by name, built by a default `vite build` (no config, no plugin).
import { grad, key, mean, normal, setBackend, square } from 'rolling-diffusion';
import { linear, adam } from 'rolling-diffusion/nn';
import { cosineSchedule, linearLocalTimes } from 'rolling-diffusion/diffusion';

const layer = linear({ inFeatures: 4, outFeatures: 2 });
const params = layer.init(key(0));
const g = grad((p) => mean(square(layer.apply(p, normal(key(1), [3, 4])))))(params);
const opt = adam({ learningRate: 1e-3 });
const out = document.getElementById('out');
out.textContent = `${g.weight.shape} ${cosineSchedule().alpha(0.5)} ${linearLocalTimes({ window: 4, cleanFrames: 1 })(0.5)} ${typeof opt.init}`;
// WebGPU in a browser is navigator.gpu; the page asks for it only where it exists.
if (navigator.gpu) setBackend('webgpu').then(() => (out.textContent += ' webgpu'));
