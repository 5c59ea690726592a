// Each subpath entry on its own, in a fresh process that imports nothing else of the package: a
// default backend is registered whichever entry a program imports first. Usage: node entries-alone.mjs ENTRY
const entry = process.argv[2];
const m = await import(entry);
let out;
if (entry.endsWith('/nn')) {
  // Tensors from nn alone: a two-tensor safetensors file written by hand, then a linear layer on them.
  let header = JSON.stringify({ weight: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] }, x: { dtype: 'F32', shape: [1, 2], data_offsets: [24, 32] } });
  header = header.padEnd(Math.ceil(header.length / 8) * 8, ' ');
  const bytes = new Uint8Array(8 + header.length + 32);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(new TextEncoder().encode(header), 8);
  new Float32Array(bytes.buffer, 8 + header.length, 8).set([1, 2, 3, 4, 5, 6, 1, 1]);
  const { tree } = m.deserializeSafetensors(bytes);
  const y = m.linear({ inFeatures: 2, outFeatures: 3, bias: false }).apply({ weight: tree.weight }, tree.x);
  out = [...(await y.toArray())];
  if (out.join() !== '5,7,9') throw new Error(`nn alone: expected [5, 7, 9], got ${out}`);
} else if (entry.endsWith('/diffusion')) {
  const { alpha, sigma } = m.alphaSigma(m.logSnrTensor([[0, 0]]), 2);
  out = [...(await alpha.toArray()), ...(await sigma.toArray())].map((v) => +v.toFixed(4));
} else if (entry.endsWith('/laws')) {
  // The conformance kit on the package's own local-time maps: every law holds.
  const results = await m.checkLaws(m.localTimeLaws(m.ourLocalTimeImpl), { numRuns: 5, seed: 1 });
  const failed = results.filter((r) => !r.ok).map((r) => r.name);
  if (results.length === 0 || failed.length > 0) throw new Error(`laws alone: ${results.length} laws, failed: ${failed.join('; ')}`);
  out = `${results.length} local-time laws hold`;
} else if (entry.endsWith('/experiments')) {
  const clip = m.clipTensor(m.movingShapesDataset({ clips: 1, frames: 2, size: 8 }), 0, 2);
  out = [clip.shape, (await clip.toArray()).length];
} else {
  out = m.memoryStats();
}
console.log(`${entry} alone: ${JSON.stringify(out)}`);
