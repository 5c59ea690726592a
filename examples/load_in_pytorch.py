"""Load a rolling-diffusion checkpoint into PyTorch with `safetensors`.

    npx tsx examples/rolling-toy.ts                          # writes out/rolling-toy.safetensors
    pip install torch safetensors
    python examples/load_in_pytorch.py out/rolling-toy.safetensors

Checkpoints are standard safetensors files: the parameter pytree's key paths joined with '.'
(`embed.hidden.weight`, `down.0.blocks.0.conv1.weight`, ...), float32, with the training
metadata as strings. Kernels use the JAX/Flax layouts: a linear layer's weight is [in, out]
(PyTorch's nn.Linear stores [out, in]) and a convolution's is HWIO (PyTorch: OIHW).
Not run in CI (it needs PyTorch); that our files are byte for byte those of the reference
implementation is tested in test/nn/safetensors.test.ts (test/fixtures/nn/reference.safetensors).
"""
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

path = sys.argv[1] if len(sys.argv) > 1 else "out/rolling-toy.safetensors"

tensors = load_file(path)
with safe_open(path, framework="pt") as f:
    metadata = f.metadata()
print(f"{len(tensors)} tensors, {sum(t.numel() for t in tensors.values()):,} parameters")
print("metadata:", metadata)
for name in sorted(tensors)[:8]:
    print(f"  {name}: {tuple(tensors[name].shape)} {tensors[name].dtype}")

# The logSNR embedding's first layer as a torch.nn.Linear: transpose the [in, out] kernel.
w, b = tensors["embed.hidden.weight"], tensors["embed.hidden.bias"]
layer = torch.nn.Linear(w.shape[0], w.shape[1])
with torch.no_grad():
    layer.weight.copy_(w.T)
    layer.bias.copy_(b)
x = torch.randn(3, w.shape[0])
assert torch.allclose(layer(x), x @ w + b, atol=1e-5)
print("embed.hidden as torch.nn.Linear:", layer)

# A convolution kernel from HWIO to PyTorch's OIHW.
conv = tensors["stem.weight"].permute(3, 2, 0, 1).contiguous()
print("stem conv kernel in OIHW:", tuple(conv.shape))
