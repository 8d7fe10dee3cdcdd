"""The PyTorch side of `cargo bench --bench throughput`: trains the same network as dynunc's
preset with Adam (lr 1e-3) in batches of 128 on Fashion-MNIST, for the given number of images,
and prints one JSON line: images per second of training.

- `cnn`: conv 1->32 3x3 pad 1, ReLU, max-pool 2; conv 32->64, ReLU, max-pool 2; fc 3136->128,
  ReLU; fc 128->10 (dynunc's `cnn` preset).
- `resnet18`: torchvision's ResNet-18 layout (7x7 stride-2 stem, max-pool, basic blocks
  2-2-2-2 at 64-128-256-512, stride on the first block's 3x3 and a 1x1 + BN shortcut), one
  input channel, 10 classes (dynunc's `resnet18` preset), written out so that torchvision is
  not needed.

    python benches/pytorch/train.py DATA_DIR IMAGES [--seed S] [--model cnn|resnet18] [--device cpu|cuda]

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
    layers = [
        nn.Conv2d(channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for i, width in enumerate([64, 128, 256, 512]):
        for b in range(2):
            layers.append(Basic(cin, width, 2 if i > 0 and b == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers)


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
    args.add_argument("--model", choices=["cnn", "resnet18"], default="cnn")
    args.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = args.parse_args()
    folder, images, device = a.folder, a.images, torch.device(a.device)
    torch.manual_seed(a.seed)
    x = read_idx(find(folder, "train-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(find(folder, "train-labels-idx1-ubyte")).astype(np.int64)
    x = (x - x.mean()) / x.std()
    # The data lives on the device, as dynunc's batches are built once per step.
    x = torch.from_numpy(x).unsqueeze(1).to(device)
    y = torch.from_numpy(y).to(device)
    model = (cnn() if a.model == "cnn" else resnet18(1, 10)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(x), device=device)
    batch = 128
    done = 0
    start = time.perf_counter()
    while done < images:
        idx = order[done % len(x) : done % len(x) + batch]
        logits = model(x[idx])
        loss = loss_fn(logits, y[idx])
        # the true-class probability dynunc records, copied to the host per batch
        _ = torch.softmax(logits.detach(), 1).gather(1, y[idx].unsqueeze(1)).cpu().numpy()
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += len(idx)
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
    }))


if __name__ == "__main__":
    main()
