"""
The training step of `rolling train` (experiments/trainer.ts) in PyTorch, on the U-ViT replica of
bench/torch/uvit.py, timed as bench/trainStep.ts times ours. Prints one JSON line:
`{preset, backend, batch, threads, parameters, msPerStep[], medianMs, cpuMsPerStep[], peakRssBytes,
lastLoss, libblas, matmul1024Gflops}`.

    OMP_NUM_THREADS=2 LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
      /usr/bin/python3 bench/torch/train_step.py --preset demo [--batch 8] [--steps 10] [--threads 2]

One step is what ours does, in the same order:
- Algorithm 1 (diffusion/training.ts `trainStep`): per example t ~ U(0, 1) and, with probability
  `linearProbability`, the linear local times of Eq. 22, else the boundary ones of Eq. 23; the cosine
  schedule's logSNR per frame (λ in [-15, 15]); z = α x + σ ε (Eq. 24); v-prediction; the window loss
  of Eq. 26 with the 'v' weighting (weight 1 on frames with 0 < t_k < 1, 0 elsewhere), summed and
  divided by batch · (W − n_cln);
- backward; clipping by the global norm at 1 (ours: factor 1 / max(‖g‖, 1)); Adam (β 0.9, 0.999,
  ε 1e-8) at the warm-up + cosine learning rate of experiments/trainer.ts `optimizerFor`;
- the EMA of the weights with decay min(d, (1 + t)/(10 + t));
- the loss read back (`.item()`), which waits for the whole step.

bench/trainVsTorch.ts runs this alternately with ours; it passes `--config` with the preset and
U-ViT config it resolves from our code.
"""
import argparse
import json
import math
import os
import re
import resource
import sys
import time

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from uvit import TRAIN_PRESETS, UViT, count_parameters, model_config  # noqa: E402

LOG_SNR_MIN, LOG_SNR_MAX = -15.0, 15.0


def cosine_log_snr(t):
    """diffusion/schedule.ts `cosineSchedule()`: λ(t) = −2 log tan(t_min + t (t_max − t_min)), endpoints
    pinned and the interior clamped to [λ_min, λ_max]."""
    if t == 0:
        return LOG_SNR_MAX
    if t == 1:
        return LOG_SNR_MIN
    t_min = math.atan(math.exp(-LOG_SNR_MAX / 2))
    t_max = math.atan(math.exp(-LOG_SNR_MIN / 2))
    return min(LOG_SNR_MAX, max(LOG_SNR_MIN, -2 * math.log(math.tan(t_min + t * (t_max - t_min)))))


def clip01(x):
    return min(1.0, max(0.0, x))


def linear_local_times(window, clean, t):
    """Eq. 22 (diffusion/localTime.ts `linearLocalTimes`)."""
    return [clip01((w - clean + t) / (window - clean)) for w in range(window)]


def init_local_times(window, clean, t):
    """Eq. 23 with the clean-frame shift (diffusion/localTime.ts `initLocalTimes`)."""
    generated = window - clean
    return [0.0 if w < clean else clip01((w - clean) / generated + t) for w in range(window)]


def training_times(rng, batch, window, clean, linear_probability):
    """The host-side draws of Algorithm 1: per example t ~ U(0, 1), then t^lin or t^init."""
    rows = []
    for _ in range(batch):
        t = rng.random()
        linear = rng.random() < linear_probability
        rows.append(linear_local_times(window, clean, t) if linear else init_local_times(window, clean, t))
    return rows


def times_to_tensors(local_times):
    """logSNR [B, W] and the 'v' weighting's loss weights [B, W] (1 where 0 < t_k < 1)."""
    log_snr = torch.tensor([[cosine_log_snr(t) for t in row] for row in local_times], dtype=torch.float32)
    weights = torch.tensor([[1.0 if 0 < t < 1 else 0.0 for t in row] for row in local_times], dtype=torch.float32)
    return log_snr, weights


def rolling_loss(model, x, eps, log_snr, weights, generated_frames):
    """Eqs. 24 and 26 with v-prediction (diffusion/training.ts `lossFromLocalTimes`, diffusion/loss.ts)."""
    l = log_snr[:, :, None, None, None]
    alpha, sigma = torch.sigmoid(l).sqrt(), torch.sigmoid(-l).sqrt()
    z = alpha * x + sigma * eps
    v_hat = model(z, log_snr)
    v = alpha * eps - sigma * x
    per_frame = (v - v_hat).square().mean(dim=(2, 3, 4))
    return (per_frame * weights).sum() * (1 / (x.shape[0] * max(generated_frames, 1)))


def learning_rate(step, preset):
    """experiments/trainer.ts `optimizerFor`: linear warm-up from 0, then cosine decay to a tenth."""
    total = preset["steps"]
    peak = preset["learningRate"]
    warmup = min(preset["warmupSteps"], total)
    decay_steps = max(total, preset["warmupSteps"] + 1)
    end = peak * 0.1
    if step < warmup:
        return min(step, max(warmup, 1)) / max(warmup, 1) * peak
    progress = min(step - warmup, decay_steps - warmup) / (decay_steps - warmup)
    alpha = end / peak if peak else 0
    return ((math.cos(progress * math.pi) + 1) * 0.5 * (1 - alpha) + alpha) * peak


def blas_report():
    """Which libblas the process mapped, and a 1024² matmul's speed (the reference BLAS gives ~5 GFLOP/s)."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                m = re.search(r"(/\S*blas\S*\.so[.\d]*)", line)
                if m:
                    libs.add(os.path.realpath(m.group(1)))
    except OSError:
        pass
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(2):
        a @ b
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    seconds = (time.perf_counter() - t0) / reps
    # torch calls sgemm_ through libblas.so.3 (Debian builds it with BLAS_INFO=generic); what that
    # file resolves to decides the speed, whatever other BLAS is mapped beside it.
    libblas = next((l for l in sorted(libs) if "libblas.so" in l), None)
    return {"libblas": libblas, "blasLibraries": sorted(libs), "matmul1024Gflops": round(2 * 1024 ** 3 / seconds / 1e9, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="demo", choices=sorted(TRAIN_PRESETS))
    ap.add_argument("--batch", type=int)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--config", help="JSON {preset: {...}, model: {...}} as resolved by our code (overrides the tables)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    preset = dict(TRAIN_PRESETS[args.preset])
    model_cfg = model_config(preset)
    if args.config:
        given = json.loads(args.config)
        preset.update(given.get("preset", {}))
        model_cfg = given.get("model", model_cfg)
    if args.batch:
        preset["batch"] = args.batch
    blas = blas_report()

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = UViT(model_cfg)
    params = list(model.parameters())
    ema = [p.detach().clone() for p in params]
    optimizer = torch.optim.Adam(params, lr=0.0, betas=(0.9, 0.999), eps=1e-8)

    batch, window, clean = preset["batch"], preset["window"], preset["cleanFrames"]
    height, width, channels = preset["frameShape"]
    # Synthetic clips in [−1, 1] with the preset's frame shape (the step's cost does not depend on the values).
    clip_length = max(window, 30)
    clips = torch.rand(4, clip_length, height, width, channels) * 2 - 1

    def step(i):
        picks = rng.integers(0, clips.shape[0], batch)
        starts = rng.integers(0, clip_length - window + 1, batch)
        x = torch.stack([clips[c, s : s + window] for c, s in zip(picks, starts)])
        log_snr, weights = times_to_tensors(training_times(rng, batch, window, clean, preset["linearProbability"]))
        eps = torch.randn(x.shape)
        loss = rolling_loss(model, x, eps, log_snr, weights, window - clean)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            norm = torch.sqrt(sum((p.grad.square().sum() for p in params), torch.zeros(())))
            factor = 1.0 / torch.clamp(norm, min=1.0)
            for p in params:
                p.grad.mul_(factor)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(i, preset)
        optimizer.step()
        decay = min(preset["emaDecay"], (1 + i) / (10 + i))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(decay).add_(p, alpha=1 - decay)
        return loss.item()

    ms, cpu_ms = [], []
    last = float("nan")
    for i in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        last = step(i)
        if i >= args.warmup:
            ms.append((time.perf_counter() - t0) * 1000)
            cpu_ms.append((time.process_time() - c0) * 1000)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    ordered = sorted(ms)
    print(json.dumps({
        "preset": args.preset,
        "backend": "torch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": batch,
        "parameters": count_parameters(model),
        "msPerStep": [round(v, 1) for v in ms],
        "medianMs": ordered[len(ordered) // 2] if ordered else None,
        # CPU time of all threads: steadier than wall time on a loaded machine, but it counts spinning.
        "cpuMsPerStep": [round(v, 1) for v in cpu_ms],
        "peakRssBytes": peak_rss,
        "lastLoss": last,
        **blas,
    }))


if __name__ == "__main__":
    main()
