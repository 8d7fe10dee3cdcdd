"""A real PyTorch training loop recording its dynamics with dynunc_record, then scored by dynunc.

    python3 python/example_pytorch.py --data /usr/share/datasets/fashion-mnist --out run.dyn
    dynunc score --dynamics run.dyn --method dyn_unc --window 3 --out dyn_unc.csv
    dynunc select --scores dyn_unc.csv --prune 0.3 --out kept.txt

Fashion-MNIST (`apt-get install dataset-fashion-mnist`, or any folder of the four IDX files,
gzipped or not), an MLP with one hidden layer, Adam; the recorder sees the logits of each
training batch (the forward pass the optimizer steps on, as dynunc's `dynamics.view: train`).
Needs torch and numpy (not run in CI, where torch is absent).
"""

import argparse
import gzip
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dynunc_record import Recorder  # noqa: E402


def read_idx(folder, stem):
    """The IDX file `stem` (e.g. train-images-idx3-ubyte) in `folder`, gzipped or not."""
    for name, opener in ((stem + ".gz", gzip.open), (stem, open)):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            with opener(path, "rb") as f:
                data = f.read()
            dims = data[3]
            shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise SystemExit(f"{folder}: no {stem}[.gz]; give --data the folder of the IDX files")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default="run.dyn")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--subset", type=int, default=0, help="first N training images (0: all)")
    args = ap.parse_args()

    x = read_idx(args.data, "train-images-idx3-ubyte").astype(np.float32) / 255.0
    y = read_idx(args.data, "train-labels-idx1-ubyte").astype(np.int64)
    if args.subset:
        x, y = x[: args.subset], y[: args.subset]
    x = torch.from_numpy(x.reshape(len(x), -1))
    labels = torch.from_numpy(y)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rec = Recorder(args.out, labels=y, classes=10)  # resumes an existing store
    for epoch in range(rec.epochs, args.epochs):
        order = torch.randperm(len(labels))
        for start in range(0, len(order), 128):
            idx = order[start : start + 128]
            logits = model(x[idx])
            loss = nn.functional.cross_entropy(logits, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.update(idx.numpy(), logits.detach().float().cpu().numpy())
        rec.end_epoch()
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.4f} -> {args.out}")
    rec.close()


if __name__ == "__main__":
    main()
