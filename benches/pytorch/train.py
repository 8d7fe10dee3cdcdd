"""The PyTorch side of `cargo bench --bench throughput`: trains the same network as dynunc's
preset with Adam (lr 1e-3) in batches of 128 on Fashion-MNIST, for the given number of images,
and prints one JSON line: images per second of training.

- `cnn`: conv 1->32 3x3 pad 1, ReLU, max-pool 2; conv 32->64, ReLU, max-pool 2; fc 3136->128,
  ReLU; fc 128->10 (dynunc's `cnn` preset).
- `resnet18`: torchvision's ResNet-18 layout (7x7 stride-2 stem, max-pool, basic blocks
  2-2-2-2 at 64-128-256-512, stride on the first block's 3x3 and a 1x1 + BN shortcut), one
  input channel, 10 classes (dynunc's `resnet18` preset), written out so that torchvision is
  not needed.
- `resnet_mini`: 3x3 stride-1 stem + BN + ReLU (no max-pool), one basic block per stage at
  16-32-64 (dynunc's `resnet_mini`).
- `convnext_mini`: 2x2 patch stem + layer norm, stages of 2 ConvNeXt blocks (depthwise 7x7,
  layer norm, 4x feed-forward with GELU, layer scale 1e-6) at 32-64, layer norm + 2x2
  stride-2 convolution between them, mean pool, layer norm, linear (dynunc's
  `convnext_mini`; weights N(0, 0.02), biases 0, as ConvNeXt's).
- `swin_mini`: 2x2 patch embedding + layer norm, stages of 2 Swin blocks (window attention
  with relative-position bias, window 7, the second block shifted by 3 on the 14x14 grid and
  not on the 7x7 one where the window covers the grid; 4x feed-forward) at 32-64 with 2-4
  heads, patch merging between them, layer norm, mean pool, linear (dynunc's `swin_mini`).

The timed images follow an untimed warm-up of `--warmup` batches (default 16) on the same model
and optimizer: PyTorch's first steps prime oneDNN's kernels and its allocator (on this project's
2-core machine a swin_mini step took 2.5x its steady time at first and settled after about 15
steps), and a training run lives in the steady state. The benchmark gives dynunc the same
warm-up (`benches/throughput.rs`).

    python benches/pytorch/train.py DATA_DIR IMAGES [--seed S] [--model MODEL] [--device cpu|cuda]
        [--warmup BATCHES]

DATA_DIR holds train-images-idx3-ubyte(.gz) and train-labels-idx1-ubyte(.gz).
Set up once:  python3 -m venv .venv-bench && .venv-bench/bin/pip install torch numpy
"""

import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(folder, name):
    for candidate in (name, name + ".gz"):
        p = os.path.join(folder, candidate)
        if os.path.exists(p):
            return p
    raise SystemExit(f"{folder}: missing {name}(.gz)")


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        s = x if self.short is None else self.short(x)
        return torch.relu(self.body(x) + s)


def resnet18(channels, classes):
    stem = [
        nn.Conv2d(channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    layers, cin = basic_stages(stem, [64, 128, 256, 512], [2, 2, 2, 2])
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def basic_stages(stem, widths, depths):
    layers, cin = list(stem), widths[0]
    for i, (width, depth) in enumerate(zip(widths, depths)):
        for b in range(depth):
            layers.append(Basic(cin, width, 2 if i > 0 and b == 0 else 1))
            cin = width
    return layers, cin


def resnet_mini(channels, classes):
    stem = [nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    layers, cin = basic_stages(stem, [16, 32, 64], [1, 1, 1])
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def init_transformer(model):
    """ConvNeXt's and Swin's initialisation: N(0, 0.02) weights, zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class ChannelNorm(nn.Module):
    """Layer norm over the channels of a [B, C, H, W] map."""

    def __init__(self, channels, eps):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.ffn = FeedForward(dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x):
        y = self.gamma * self.ffn(self.norm(self.dw(x).permute(0, 2, 3, 1)))
        return x + y.permute(0, 3, 1, 2)


class PoolHead(nn.Module):
    """Mean over the spatial positions, layer norm, linear (ConvNeXt's head)."""

    def __init__(self, dim, classes):
        super().__init__()
        self.norm, self.fc = nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, classes)

    def forward(self, x):
        return self.fc(self.norm(x.mean((2, 3))))


def convnext_mini(channels, classes, widths=(32, 64), depths=(2, 2)):
    layers = [nn.Conv2d(channels, widths[0], 2, 2), ChannelNorm(widths[0], 1e-6)]
    prev = widths[0]
    for i, (width, depth) in enumerate(zip(widths, depths)):
        if i > 0:
            layers += [ChannelNorm(prev, 1e-6), nn.Conv2d(prev, width, 2, 2)]
        layers += [ConvNeXtBlock(width) for _ in range(depth)]
        prev = width
    layers.append(PoolHead(prev, classes))
    return init_transformer(nn.Sequential(*layers))


def relative_index(window):
    coords = torch.stack(torch.meshgrid(
        torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return (rel[..., 0] * (2 * window - 1) + rel[..., 1]).flatten()


def shift_mask(side, window, shift):
    """[windows, n, n]: 0 within a region of the cyclically shifted grid, -100 across."""
    region = torch.zeros(side, side)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for h in cuts:
        for w in cuts:
            region[h, w] = label
            label += 1
    r = side // window
    windows = region.view(r, window, r, window).permute(0, 2, 1, 3).reshape(-1, window * window)
    diff = windows[:, None, :] - windows[:, :, None]
    return torch.where(diff != 0, torch.tensor(-100.0), torch.tensor(0.0))


class SwinBlock(nn.Module):
    def __init__(self, dim, heads, side, window, shift):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.02)
        self.register_buffer("index", relative_index(window), persistent=False)
        mask = shift_mask(side, window, shift) if shift else None
        self.register_buffer("mask", mask, persistent=False)
        self.ffn = FeedForward(dim)
        self.heads, self.side, self.window, self.shift = heads, side, window, shift

    def attention(self, x):
        b, n, c = x.shape
        h = self.heads
        q, k, v = self.qkv(x).reshape(b, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
        attn = (q * (c // h) ** -0.5) @ k.transpose(-2, -1)
        attn = attn + self.table[self.index].reshape(n, n, h).permute(2, 0, 1).unsqueeze(0)
        if self.mask is not None:
            w = self.mask.shape[0]
            attn = (attn.view(b // w, w, h, n, n) + self.mask[None, :, None]).view(b, h, n, n)
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)

    def forward(self, x):
        b, _, c = x.shape
        s, ws, r = self.side, self.window, self.side // self.window
        y = self.norm1(x).view(b, s, s, c)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), (1, 2))
        y = y.view(b, r, ws, r, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        y = self.attention(y)
        y = y.view(b, r, r, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, s, s, c)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), (1, 2))
        x = x + y.reshape(b, s * s, c)
        return x + self.ffn(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim, out, side):
        super().__init__()
        self.norm, self.reduction, self.side = nn.LayerNorm(4 * dim), nn.Linear(4 * dim, out, bias=False), side

    def forward(self, x):
        b, _, c = x.shape
        x = x.view(b, self.side, self.side, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class Swin(nn.Module):
    def __init__(self, channels, classes, side=28, patch=2, window=7,
                 widths=(32, 64), depths=(2, 2), heads=(2, 4)):
        super().__init__()
        self.embed = nn.Conv2d(channels, widths[0], patch, patch)
        self.embed_norm = nn.LayerNorm(widths[0])
        grid, layers, prev = side // patch, [], None
        for i, (width, depth) in enumerate(zip(widths, depths)):
            if prev is not None:
                layers.append(PatchMerging(prev, width, grid))
                grid //= 2
            win, shift = (grid, 0) if grid <= window else (window, window // 2)
            layers += [SwinBlock(width, heads[i], grid, win, shift if b % 2 else 0)
                       for b in range(depth)]
            prev = width
        self.layers = nn.Sequential(*layers)
        self.norm, self.head = nn.LayerNorm(prev), nn.Linear(prev, classes)
        init_transformer(self)

    def forward(self, x):
        x = self.embed_norm(self.embed(x).flatten(2).transpose(1, 2))
        return self.head(self.norm(self.layers(x)).mean(1))


MODELS = {
    "cnn": lambda: cnn(),
    "resnet18": lambda: resnet18(1, 10),
    "resnet_mini": lambda: resnet_mini(1, 10),
    "convnext_mini": lambda: convnext_mini(1, 10),
    "swin_mini": lambda: Swin(1, 10),
}


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def main():
    args = argparse.ArgumentParser()
    args.add_argument("folder")
    args.add_argument("images", type=int)
    args.add_argument("--seed", type=int, default=0)
    args.add_argument("--model", choices=sorted(MODELS), default="cnn")
    args.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args.add_argument("--warmup", type=int, default=16, help="untimed batches first")
    a = args.parse_args()
    folder, images, device = a.folder, a.images, torch.device(a.device)
    torch.manual_seed(a.seed)
    x = read_idx(find(folder, "train-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(find(folder, "train-labels-idx1-ubyte")).astype(np.int64)
    x = (x - x.mean()) / x.std()
    # The data lives on the device, as dynunc's batches are built once per step.
    x = torch.from_numpy(x).unsqueeze(1).to(device)
    y = torch.from_numpy(y).to(device)
    model = MODELS[a.model]().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(x), device=device)
    batch = 128

    def step(at):
        idx = order[at % len(x) : at % len(x) + batch]
        logits = model(x[idx])
        loss = loss_fn(logits, y[idx])
        # the true-class probability dynunc records, copied to the host per batch
        _ = torch.softmax(logits.detach(), 1).gather(1, y[idx].unsqueeze(1)).cpu().numpy()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return len(idx)

    at = 0
    for _ in range(a.warmup):
        at += step(at)
    if device.type == "cuda":
        torch.cuda.synchronize()
    done = 0
    start = time.perf_counter()
    while done < images:
        done += step(at + done)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "images": done,
        "seconds": seconds,
        "images_per_s": done / seconds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
        "model": a.model,
        "warmup_batches": a.warmup,
        "params": sum(p.numel() for p in model.parameters()),
    }))


if __name__ == "__main__":
    main()
