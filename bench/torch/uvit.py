"""
A PyTorch replica of our U-ViT (nn/uvit.ts and the layers it uses in nn/layers/), for the side-by-side
training benchmark (bench/trainVsTorch.ts) and its equality check (bench/torch/equality.ts).

It is written as a PyTorch user would write it (NCHW convolutions, nn.Linear / nn.Conv2d /
nn.GroupNorm / nn.LayerNorm, torch's own softmax and GELU), but computes exactly our function:

- the same module tree and names as our parameter tree (`down.0.blocks.1.conv1.weight`, ...), so our
  safetensors checkpoints load by name (`load_ours`): HWIO conv kernels become OIHW, our [in, out]
  dense kernels become torch's [out, in], our norms' `scale` is torch's `weight`;
- ε = 1e-6 in every norm (Flax's default, ours), exact (erf) GELU, queries scaled by 1/√headDim after
  their projection, fixed sinusoidal positions and Fourier features computed as ours are;
- no dropout: our training step applies the U-ViT without a dropout key (experiments/model.ts), so
  the `small` preset's 0.1 is inactive on both sides.

Video tensors are [batch, frames, height, width, channels] at the interface, as ours.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# nn/uvit.ts `uvitPresets`, and the parts of experiments/presets.ts that shape the model and the step.
# bench/trainVsTorch.ts passes the configs it resolves from our code (--config), so these tables only
# serve a standalone run; the parameter counts in each side's JSON line show when they drift.
UVIT_PRESETS = {
    "tiny": dict(patchSize=4, channels=[16], blocksPerLevel=1, transformerDim=64, transformerBlocks=1, heads=2,
                 mlpRatio=2, fourierDim=32, condDim=64, groups=8),
    "small": dict(patchSize=2, channels=[64, 128], blocksPerLevel=2, transformerDim=256, transformerBlocks=4,
                  heads=4, mlpRatio=4, fourierDim=64, condDim=256, groups=16),
}

TRAIN_PRESETS = {
    "demo": dict(model="tiny", patchSize=1, channels=[16, 32], frameShape=[16, 16, 1], window=8, cleanFrames=2,
                 batch=8, steps=1500, learningRate=2e-3, warmupSteps=40, emaDecay=0.99, linearProbability=0.8),
    "bair": dict(model="small", frameShape=[64, 64, 3], window=16, cleanFrames=2, batch=4, steps=20000,
                 learningRate=1e-4, warmupSteps=1000, emaDecay=0.9999, linearProbability=0.8),
}


def model_config(preset):
    """The resolved U-ViT config of experiments/model.ts `buildModel(preset, frameShape)`."""
    c = dict(UVIT_PRESETS[preset["model"]])
    c["inChannels"] = preset["frameShape"][2]
    for k in ("patchSize", "channels"):
        if k in preset:
            c[k] = preset[k]
    return c


class FourierFeatures(nn.Module):
    """nn/layers/fourierFeatures.ts: [..., ] -> [..., dim], sin then cos of logSNR times fixed frequencies."""

    def __init__(self, dim, lo=1 / 32, hi=4.0):
        super().__init__()
        half = dim // 2
        freqs = np.array([lo if half == 1 else lo * (hi / lo) ** (i / (half - 1)) for i in range(half)], dtype=np.float32)
        self.register_buffer("freqs", torch.from_numpy(freqs), persistent=False)

    def forward(self, x):
        angles = x.unsqueeze(-1) * self.freqs
        return torch.cat([torch.sin(angles), torch.cos(angles)], -1)


class ResBlock(nn.Module):
    """nn/layers/resBlock.ts on NCHW images; `cond` [N, condDim] is already through SiLU."""

    def __init__(self, in_channels, out_channels, cond_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=1e-6)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.cond = nn.Linear(cond_dim, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=1e-6)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x, cond):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.cond(cond)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    """nn/layers/attention.ts: separate query/key/value/out projections over x [N, length, dim]."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        n, length, dim = x.shape
        per_head = (n, length, self.heads, self.head_dim)
        q = (self.query(x) * (1 / math.sqrt(self.head_dim))).view(per_head).transpose(1, 2)
        k = self.key(x).view(per_head).permute(0, 2, 3, 1)
        v = self.value(x).view(per_head).transpose(1, 2)
        mixed = torch.softmax(q @ k, dim=-1) @ v
        return self.out(mixed.transpose(1, 2).reshape(n, length, dim))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.hidden = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.out(F.gelu(self.hidden(x)))


class VideoTransformerBlock(nn.Module):
    """nn/layers/videoTransformerBlock.ts: conditioning added, then axial (space, time) attention and an MLP."""

    def __init__(self, dim, heads, mlp_ratio, cond_dim):
        super().__init__()
        self.cond = nn.Linear(cond_dim, dim)
        self.spatialNorm = nn.LayerNorm(dim, eps=1e-6)
        self.spatial = Attention(dim, heads)
        self.temporalNorm = nn.LayerNorm(dim, eps=1e-6)
        self.temporal = Attention(dim, heads)
        self.mlpNorm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, round(dim * mlp_ratio))

    def forward(self, x, cond):
        b, t, hh, ww, c = x.shape
        h = x + self.cond(cond)[:, :, None, None, :]
        h = h + self.spatial(self.spatialNorm(h).reshape(b * t, hh * ww, c)).reshape(x.shape)
        per_pixel = self.temporalNorm(h).permute(0, 2, 3, 1, 4).reshape(b * hh * ww, t, c)
        h = h + self.temporal(per_pixel).reshape(b, hh, ww, t, c).permute(0, 3, 1, 2, 4)
        return h + self.mlp(self.mlpNorm(h))


_positions = {}


def positions(frames, height, width, dim):
    """nn/uvit.ts `positions`: (row, column) in half the width plus the frame index over the full width,
    accumulated in float32 in the same order as ours."""
    k = (frames, height, width, dim)
    if k not in _positions:
        data = np.zeros((frames, height, width, dim), dtype=np.float32)
        quarter, half = dim // 4, dim // 2

        def sincos(pos, count):
            angle = pos / 10000.0 ** (np.arange(count) / count)
            return np.concatenate([np.sin(angle), np.cos(angle)])

        for y in range(height):
            data[:, y, :, : 2 * quarter] += sincos(y, quarter).astype(np.float32)
        for x in range(width):
            data[:, :, x, 2 * quarter : 4 * quarter] += sincos(x, quarter).astype(np.float32)
        for f in range(frames):
            # float32 + float64 rounded once to float32, as `Float32Array[i] += Math.sin(..)`.
            data[f, :, :, : 2 * half] = (data[f, :, :, : 2 * half].astype(np.float64) + sincos(f, half)).astype(np.float32)
        _positions[k] = torch.from_numpy(data)[None]
    return _positions[k]


def patchify(x, p):
    """[N, H, W, C] -> [N, H/p, W/p, p*p*C], as nn/uvit.ts `patchify`."""
    if p == 1:
        return x
    n, h, w, c = x.shape
    return x.reshape(n, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h // p, w // p, p * p * c)


def unpatchify(x, p, channels):
    if p == 1:
        return x
    n, hp, wp, _ = x.shape
    return x.reshape(n, hp, wp, p, p, channels).permute(0, 1, 3, 2, 4, 5).reshape(n, hp * p, wp * p, channels)


class UViT(nn.Module):
    """nn/uvit.ts `uvit(config)`: v-prediction for video z [B, T, H, W, C] at per-frame logSNR [B, T]."""

    def __init__(self, config):
        super().__init__()
        c = dict(config)
        self.in_channels = c["inChannels"]
        self.out_channels = c.get("outChannels") or c["inChannels"]
        self.patch = c.get("patchSize", 1)
        channels = list(c["channels"])
        levels = len(channels)
        blocks = c["blocksPerLevel"]
        blocks = [blocks] * levels if isinstance(blocks, int) else list(blocks)
        dim = c["transformerDim"]
        fourier_dim = c.get("fourierDim", 64)
        cond_dim = c.get("condDim") or max(64, 4 * channels[0])
        groups = c.get("groups", 8)
        mlp_ratio = c.get("mlpRatio", 4)
        if c.get("causal"):
            raise ValueError("uvit.py: the causal temporal mask is not replicated (no preset uses it)")
        widths = channels + [dim]
        self.cond_dim = cond_dim
        self.features = FourierFeatures(fourier_dim)
        self.embed = nn.ModuleDict({"hidden": nn.Linear(fourier_dim, cond_dim), "out": nn.Linear(cond_dim, cond_dim)})
        self.stem = nn.Conv2d(self.in_channels * self.patch ** 2, widths[0], 3, padding=1)
        self.down = nn.ModuleList(
            nn.ModuleDict({
                "blocks": nn.ModuleList(ResBlock(w, w, cond_dim, groups) for _ in range(blocks[l])),
                "downsample": nn.Conv2d(w, widths[l + 1], 1),
            })
            for l, w in enumerate(channels)
        )
        self.transformer = nn.ModuleList(
            VideoTransformerBlock(dim, c["heads"], mlp_ratio, cond_dim) for _ in range(c["transformerBlocks"])
        )
        self.up = nn.ModuleList(
            nn.ModuleDict({
                "upsample": nn.Conv2d(widths[l + 1], w, 1),
                "blocks": nn.ModuleList(ResBlock(2 * w, w, cond_dim, groups) for _ in range(blocks[l])),
            })
            for l, w in enumerate(channels)
        )
        self.outNorm = nn.GroupNorm(groups, widths[0], eps=1e-6)
        self.outConv = nn.Conv2d(widths[0], self.out_channels * self.patch ** 2, 3, padding=1)
        # Zero-initialised as ours: the model predicts 0 at initialisation.
        nn.init.zeros_(self.outConv.weight)
        nn.init.zeros_(self.outConv.bias)

    def forward(self, z, log_snr):
        b, t, height, width, channels = z.shape
        n = b * t
        p = self.patch
        emb = F.silu(self.embed["out"](F.silu(self.embed["hidden"](self.features(log_snr)))))
        cond = emb.reshape(n, self.cond_dim)
        h = self.stem(patchify(z.reshape(n, height, width, channels), p).permute(0, 3, 1, 2))
        skips = []
        for level in self.down:
            for block in level["blocks"]:
                h = block(h, cond)
                skips.append(h)
            h = level["downsample"](F.avg_pool2d(h, 2))
        _, dim, lh, lw = h.shape
        v = h.permute(0, 2, 3, 1).reshape(b, t, lh, lw, dim) + positions(t, lh, lw, dim)
        for block in self.transformer:
            v = block(v, emb)
        h = v.reshape(n, lh, lw, dim).permute(0, 3, 1, 2)
        for level in reversed(self.up):
            h = F.interpolate(level["upsample"](h), scale_factor=2, mode="nearest")
            for block in level["blocks"]:
                h = block(torch.cat([h, skips.pop()], 1), cond)
        h = self.outConv(F.silu(self.outNorm(h)))
        out = unpatchify(h.permute(0, 2, 3, 1), p, self.out_channels)
        return out.reshape(b, t, height, width, self.out_channels)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- our checkpoints

_DTYPES = {"F32": "<f4", "I32": "<i4", "U32": "<u4", "BOOL": "bool"}


def read_safetensors(path):
    """The safetensors format by hand (8-byte LE header size, JSON header, raw LE data), so that no
    `safetensors` package is needed (Debian has none). Returns ({name: np.ndarray}, metadata)."""
    import json

    with open(path, "rb") as f:
        blob = f.read()
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + size].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    data = memoryview(blob)[8 + size :]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = arr
    return out, metadata


def torch_name(ours):
    """Our parameter path -> the replica's (norm `scale` is torch's `weight`)."""
    return ours[: -len(".scale")] + ".weight" if ours.endswith(".scale") else ours


def to_torch_layout(array):
    """Our HWIO conv kernel -> OIHW; our [in, out] dense kernel -> [out, in]; others unchanged."""
    t = torch.from_numpy(np.array(array, dtype=np.float32))
    if t.ndim == 4:
        return t.permute(3, 2, 0, 1).contiguous()
    if t.ndim == 2:
        return t.t().contiguous()
    return t


def from_torch_layout(t):
    """The inverse of `to_torch_layout`, for comparing a torch gradient with ours."""
    if t.ndim == 4:
        return t.permute(2, 3, 1, 0)
    if t.ndim == 2:
        return t.t()
    return t


def load_ours(model, tensors, prefix=""):
    """Copies our parameters (a {path: array} dict, paths under `prefix`) into the replica, by name;
    every parameter of the replica must be given, with its shape."""
    own = dict(model.named_parameters())
    seen = set()
    with torch.no_grad():
        for name, array in tensors.items():
            if not name.startswith(prefix):
                continue
            tn = torch_name(name[len(prefix) :])
            if tn not in own:
                raise KeyError(f"uvit.py: our parameter {name} has no counterpart in the replica")
            value = to_torch_layout(array)
            if tuple(value.shape) != tuple(own[tn].shape):
                raise ValueError(f"uvit.py: {name} has shape {tuple(value.shape)} in torch layout, the replica's {tn} has {tuple(own[tn].shape)}")
            own[tn].copy_(value)
            seen.add(tn)
    missing = sorted(set(own) - seen)
    if missing:
        raise KeyError(f"uvit.py: the checkpoint lacks {missing[:5]}{' ...' if len(missing) > 5 else ''}")
