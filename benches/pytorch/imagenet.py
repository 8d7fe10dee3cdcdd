"""The PyTorch side of `DYNUNC_BENCH_INPUT=imagenet cargo bench --bench throughput`: trains
torchvision's ResNet-18/50 or timm's ConvNeXt-T / Swin-T (dynunc's `resnet18`, `resnet50`,
`convnext_tiny`, `swin_tiny` presets) with Adam (lr 1e-3) on seeded random 224x224x3 images of
1,000 classes, as dynunc's side does, and prints one JSON line: images per second of training.

As dynunc does on a GPU, the images travel as bytes and are normalised on the device, and the
per-sample fields a dynamics recorder keeps (true-class probability, EL2N, logit margin,
entropy, largest probability, top-2 gap, correctness) are computed on the device; PyTorch copies
them to the host every batch (`.cpu()`, as a plain training loop that records would). One
untimed warm-up of 4 batches first (cuDNN's algorithm search, allocator growth).

    python benches/pytorch/imagenet.py IMAGES [--batch B] [--model NAME] [--device cpu|cuda]

Needs torch, and timm for convnext_tiny / swin_tiny (both on the lent H200 machine).
"""

import argparse
import json
import time

import torch
from torch import nn


def model(name):
    if name in ("resnet18", "resnet50"):
        import torchvision

        return getattr(torchvision.models, name)(num_classes=1000)
    import timm

    timm_name = {"convnext_tiny": "convnext_tiny", "swin_tiny": "swin_tiny_patch4_window7_224"}
    return timm.create_model(timm_name[name], num_classes=1000)


def fields(logits, y):
    """The seven recorded fields of every row, on the device: [n, 7]."""
    log_p = torch.log_softmax(logits.float(), 1)
    p = log_p.exp()
    p_true = p.gather(1, y[:, None])[:, 0]
    onehot = nn.functional.one_hot(y, logits.shape[1]).float()
    el2n = (p - onehot).square().sum(1).sqrt()
    other = logits.masked_fill(onehot.bool(), float("-inf")).amax(1)
    margin = logits.gather(1, y[:, None])[:, 0] - other
    entropy = -(p * log_p).sum(1)
    top2 = p.topk(2, 1).values
    correct = (logits.argmax(1) == y).float()
    return torch.stack([p_true, el2n, margin, entropy, top2[:, 0], top2[:, 0] - top2[:, 1], correct], 1)


def main():
    args = argparse.ArgumentParser()
    args.add_argument("images", type=int)
    args.add_argument("--batch", type=int, default=128)
    args.add_argument("--model", default="resnet18",
                      choices=["resnet18", "resnet50", "convnext_tiny", "swin_tiny"])
    args.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    a = args.parse_args()
    device = torch.device(a.device)
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (a.images, 3, 224, 224), dtype=torch.uint8, generator=g)
    labels = torch.arange(a.images) % 1000
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    net = model(a.model).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step(lo, hi):
        x = pixels[lo:hi].to(device, non_blocking=True).float().div_(255).sub_(mean).div_(std)
        y = labels[lo:hi].to(device, non_blocking=True)
        logits = net(x)
        loss = loss_fn(logits, y)
        _ = fields(logits.detach(), y).cpu()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for b in range(4):
        step((b * a.batch) % a.images, (b * a.batch) % a.images + a.batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for lo in range(0, a.images, a.batch):
        step(lo, min(lo + a.batch, a.images))
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "images": a.images,
        "seconds": seconds,
        "images_per_s": a.images / seconds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
        "model": a.model,
    }))


if __name__ == "__main__":
    main()
