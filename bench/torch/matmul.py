"""PyTorch's single-thread matmul on the shapes of bench/matmulSweep.ts, GFLOP/s, CPU time, best of 7.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 bench/torch/matmul.py

The peer figure for bench/RESULTS.md's matmul row: what the same CPU reaches with AVX2 (256-bit)
kernels, against the wasm kernel's f32x4 (128-bit) ones.
"""
import time

import torch

torch.set_num_threads(1)
print([line.strip() for line in torch.__config__.show().split("\n") if "CPU capability" in line])
for (m, k, n) in [(1024, 1024, 1024), (16384, 576, 64), (4096, 1152, 128), (16384, 144, 16), (16384, 16, 144), (4096, 288, 32), (4096, 16, 16), (1024, 64, 64)]:
    a = torch.randn(m, k)
    b = torch.randn(k, n)
    for _ in range(3):
        a @ b
    best = 1e9
    reps = max(1, int(2e8 / (2 * m * n * k)))
    for _ in range(7):
        t = time.process_time()
        for _ in range(reps):
            a @ b
        best = min(best, (time.process_time() - t) / reps)
    print(f"{m}x{k}x{n} | {2 * m * n * k / best / 1e9:.1f} GFLOP/s")
