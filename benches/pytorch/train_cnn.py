"""The PyTorch side of `cargo bench --bench throughput`: trains the same small CNN as dynunc's
`cnn` preset (conv 1->32 3x3 pad 1, ReLU, max-pool 2; conv 32->64, ReLU, max-pool 2; fc
3136->128, ReLU; fc 128->10) with Adam (lr 1e-3) in batches of 128 on Fashion-MNIST, for the
given number of images, and prints one JSON line: images per second of training.

    python benches/pytorch/train_cnn.py DATA_DIR IMAGES [SEED]

DATA_DIR holds train-images-idx3-ubyte(.gz) and train-labels-idx1-ubyte(.gz).
Set up once:  python3 -m venv .venv-bench && .venv-bench/bin/pip install torch numpy
"""

import gzip
import json
import os
import sys
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


def main():
    folder, images = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    torch.manual_seed(seed)
    x = read_idx(find(folder, "train-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(find(folder, "train-labels-idx1-ubyte")).astype(np.int64)
    x = (x - x.mean()) / x.std()
    x = torch.from_numpy(x).unsqueeze(1)
    y = torch.from_numpy(y)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(x))
    batch = 128
    done = 0
    start = time.perf_counter()
    while done < images:
        idx = order[done % len(x) : done % len(x) + batch]
        logits = model(x[idx])
        loss = loss_fn(logits, y[idx])
        # the true-class probability dynunc records, copied to the host per batch
        _ = torch.softmax(logits.detach(), 1).gather(1, y[idx].unsqueeze(1)).numpy()
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += len(idx)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "images": done,
        "seconds": seconds,
        "images_per_s": done / seconds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
