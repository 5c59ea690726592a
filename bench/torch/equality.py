"""
The PyTorch side of the equality check (bench/torch/equality.ts writes the file):

    /usr/bin/python3 bench/torch/equality.py <case.safetensors> [--forward-tol 1e-5] [--grad-tol 1e-4]

Loads our parameters into the replica, runs the forward on our input, the logSNR and loss weights
from our local times, the training loss of bench/torch/train_step.py on our batch and noise and its
gradients, and prints one JSON line with the relative errors (‖ours − torch‖ / ‖ours‖) and `ok`.
Exits 1 when a tolerance is exceeded.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import rolling_loss, times_to_tensors  # noqa: E402
from uvit import UViT, count_parameters, from_torch_layout, load_ours, read_safetensors, torch_name  # noqa: E402


def rel(ours, theirs):
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    scale = np.linalg.norm(ours)
    diff = np.linalg.norm(ours - theirs)
    return float(diff / scale) if scale > 0 else float(diff)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--forward-tol", type=float, default=1e-5)
    ap.add_argument("--grad-tol", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))

    tensors, meta = read_safetensors(args.file)
    model = UViT(json.loads(meta["model"]))
    load_ours(model, tensors, prefix="params.")
    t = lambda name: torch.from_numpy(np.array(tensors[name], dtype=np.float32))  # noqa: E731

    with torch.no_grad():
        forward = model(t("z"), t("logSnr")).numpy()
    local_times = np.array(tensors["localTimes"], dtype=np.float64)
    log_snr, weights = times_to_tensors(local_times.tolist())

    loss = rolling_loss(model, t("x"), t("eps"), t("logSnr"), t("weights"), int(meta["generatedFrames"]))
    loss.backward()
    grads = {name: from_torch_layout(p.grad).numpy() for name, p in model.named_parameters()}
    errors, norms = {}, {}
    ours_all, theirs_all = [], []
    for name, ours in tensors.items():
        if not name.startswith("grads."):
            continue
        theirs = grads[torch_name(name[len("grads."):])]
        errors[name[len("grads."):]] = rel(ours, theirs)
        norms[name[len("grads."):]] = (np.linalg.norm(ours), np.linalg.norm(theirs))
        ours_all.append(np.ravel(ours))
        theirs_all.append(np.ravel(theirs))
    grad_rel_err = rel(np.concatenate(ours_all), np.concatenate(theirs_all))
    global_norm = np.linalg.norm(np.concatenate(ours_all))
    # Gradients that are zero in exact arithmetic (the attention keys' bias: softmax ignores a constant
    # per query) are rounding noise on both sides; they must stay negligible, not agree.
    negligible = {n for n, (o, th) in norms.items() if o < 1e-6 * global_norm}
    negligible_ok = all(norms[n][1] < 1e-6 * global_norm for n in negligible)
    worst = max((n for n in errors if n not in negligible), key=errors.get)
    report = {
        "preset": meta.get("preset"),
        "parameters": int(meta["parameters"]),
        "torchParameters": count_parameters(model),
        "forwardRelErr": rel(tensors["forward"], forward),
        "logSnrRelErr": rel(tensors["logSnr"], log_snr.numpy()),
        "weightsEqual": bool(np.array_equal(tensors["weights"], weights.numpy())),
        "lossRelErr": rel(tensors["loss"], loss.item()),
        "gradRelErr": grad_rel_err,
        "gradRelErrMax": errors[worst],
        "worstGrad": worst,
        "zeroGrads": sorted(negligible),
    }
    report["ok"] = bool(
        report["parameters"] == report["torchParameters"]
        and len(errors) == len(grads)
        and report["forwardRelErr"] <= args.forward_tol
        and report["logSnrRelErr"] <= args.forward_tol
        and report["weightsEqual"]
        and report["lossRelErr"] <= args.forward_tol
        and report["gradRelErr"] <= args.grad_tol
        and report["gradRelErrMax"] <= 10 * args.grad_tol
        and negligible_ok
    )
    print(json.dumps(report))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
