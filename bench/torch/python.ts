/**
 * Where the PyTorch side of the benchmarks runs: Debian's `/usr/bin/python3` with `python3-torch`
 * (`python3` on PATH may be another interpreter without torch; `TORCH_PYTHON` overrides), with
 * OpenBLAS's OpenMP build selected. Debian's default `libblas.so.3` may be the reference BLAS
 * (~5 GFLOP/s on a 1024² matmul, against ~50-100 for OpenBLAS on 2 cores of these machines), which
 * would make the comparison unfair to PyTorch, so the OpenMP build's directory goes first on
 * `LD_LIBRARY_PATH` wherever it exists; bench/torch/train_step.py reports the libblas it mapped and
 * its matmul speed, and bench/trainVsTorch.ts refuses a slow one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TORCH_DIR = path.dirname(fileURLToPath(import.meta.url));

export const HOW_TO_GET_TORCH = [
  'the PyTorch side needs Debian\'s python3 with torch and OpenBLAS\'s OpenMP build:',
  '  apt-get install -y python3-torch libopenblas0-openmp',
  'Debian\'s default libblas.so.3 can be the reference BLAS (~5 GFLOP/s); the benchmarks run python with',
  '  LD_LIBRARY_PATH=/usr/lib/<multiarch>/openblas-openmp (found automatically when installed).',
].join('\n');

export interface TorchPython {
  python: string;
  /** The environment to run it in: OMP_NUM_THREADS and, where installed, OpenBLAS-OpenMP first on LD_LIBRARY_PATH. */
  env: NodeJS.ProcessEnv;
  /** The OpenBLAS OpenMP directory put on LD_LIBRARY_PATH, or null when none is installed. */
  openblas: string | null;
}

/** The directory of OpenBLAS's OpenMP build for this machine's multiarch, if installed. */
export function openblasOpenmpDir(): string | null {
  const arch = process.arch === 'arm64' ? 'aarch64' : process.arch === 'x64' ? 'x86_64' : process.arch;
  for (const dir of [`/usr/lib/${arch}-linux-gnu/openblas-openmp`, '/usr/lib/openblas-openmp']) {
    if (existsSync(path.join(dir, 'libblas.so.3'))) return dir;
  }
  return null;
}

/** The interpreter and environment for the torch side, or why there is none (with how to get it). */
export function findTorch(threads = 2): { ok: true; torch: TorchPython } | { ok: false; reason: string } {
  const python = process.env.TORCH_PYTHON ?? '/usr/bin/python3';
  const openblas = openblasOpenmpDir();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMP_NUM_THREADS: String(threads),
    PYTHONDONTWRITEBYTECODE: '1',
    ...(openblas ? { LD_LIBRARY_PATH: [openblas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } : {}),
  };
  const probe = spawnSync(python, ['-c', 'import torch'], { env, encoding: 'utf8', timeout: 120_000 });
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? probe.error.message : (probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`);
    return { ok: false, reason: `${python} -c "import torch" failed (${why})\n${HOW_TO_GET_TORCH}` };
  }
  return { ok: true, torch: { python, env, openblas } };
}
