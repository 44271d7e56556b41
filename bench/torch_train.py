#!/usr/bin/env python3
"""PyTorch reference for vkhalf-train's throughput: the same models, optimizer, batch and data
policy, trained with torch.autocast + GradScaler (fp16) with the whole dataset already on the
device, so both sides are measured the same way.

    python3 bench/torch_train.py --model mlp --batch 128 --epochs 10 --device cuda
    build/bin/vkhalf-train     --model mlp --batch 128 --epochs 10

Prints images/s per epoch, the steady-state figure (epochs after the first), the final test
accuracy, and a result line:
    result: bench=torch-train device="..." model=mlp precision=fp16 batch=128 images_per_s=X test_accuracy=Y
On a CPU (no CUDA), --precision fp32 or bf16 (PyTorch's CPU autocast has no fp16).
"""
import argparse
import gzip
import os
import struct
import time

import torch
from torch import nn


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic >> 8 != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    rank = magic & 0xFF
    dims = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
    return torch.frombuffer(bytearray(data[4 + 4 * rank:]), dtype=torch.uint8).reshape(dims)


def load_split(directory, split):
    def find(name):
        for candidate in (name + ".gz", name):
            path = os.path.join(directory, candidate)
            if os.path.exists(path):
                return path
        raise SystemExit(f"{directory}: no {name}[.gz]")
    images = read_idx(find(f"{split}-images-idx3-ubyte"))
    labels = read_idx(find(f"{split}-labels-idx1-ubyte"))
    return images.reshape(images.shape[0], -1), labels.long()


def make_model(name):  # as samples/vkhalf_train.cpp builds them, named the same (bench/torch_compare.py)
    from torch_compare import make_model as same_model
    return same_model(name)


def augment(x, rows, cols, shift, flip, background):
    """Random shifts (zero pixels fill the border) and left-right flips, per image, on the device:
    the same distribution vkhalf-train's --shift/--flip draw (not the same draws)."""
    b = x.shape[0]
    img = x.view(b, rows, cols)
    if shift:
        padded = torch.nn.functional.pad(img, (shift, shift, shift, shift), value=background)
        oy = torch.randint(0, 2 * shift + 1, (b, 1, 1), device=x.device)
        ox = torch.randint(0, 2 * shift + 1, (b, 1, 1), device=x.device)
        r = torch.arange(rows, device=x.device).view(1, rows, 1) + oy
        c = torch.arange(cols, device=x.device).view(1, 1, cols) + ox
        img = padded[torch.arange(b, device=x.device).view(b, 1, 1), r, c]
    if flip:
        mirror = torch.rand(b, 1, 1, device=x.device) < 0.5
        img = torch.where(mirror, img.flip(-1), img)
    return img.reshape(b, rows * cols)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["mlp", "cnn", "resnet"], default="mlp")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant",
                   help="cosine: decays to 0 at the last step, per step, as vkhalf-train --schedule cosine")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--shift", type=int, default=0,
                   help="augmentation: move each training image by up to N pixels each way, zero filled")
    p.add_argument("--flip", choices=["on", "off"], default="off",
                   help="augmentation: mirror each training image left-right with probability 1/2")
    p.add_argument("--decay-vectors", choices=["on", "off"], default="on",
                   help="off: no weight decay on 1-D parameters, as vkhalf-train --decay-vectors off")
    p.add_argument("--precision", choices=["fp16", "bf16", "fp32"], default="fp16")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--limit-train", type=int, default=0, help="use only the first N training images")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    device = torch.device(a.device)
    if a.precision == "fp16" and device.type != "cuda":
        raise SystemExit("fp16 autocast needs CUDA here; use --precision fp32 or bf16 on a CPU")
    torch.manual_seed(a.seed)

    train_x, train_y = load_split(a.data, "train")
    side = int(round(train_x.shape[1] ** 0.5))  # square images (28 x 28)
    test_x, test_y = load_split(a.data, "t10k")
    if a.limit_train:
        train_x, train_y = train_x[:a.limit_train], train_y[:a.limit_train]
    pixels = train_x.double() / 255.0
    mean, std = pixels.mean().item(), pixels.std(unbiased=False).item()  # vkhalf-train's normalisation
    # The whole dataset on the device once, normalised in fp32, as vkhalf keeps it resident.
    train_x = ((train_x.float() / 255.0 - mean) / std).to(device)
    test_x = ((test_x.float() / 255.0 - mean) / std).to(device)
    train_y, test_y = train_y.to(device), test_y.to(device)

    model = make_model(a.model).to(device)
    if a.decay_vectors == "on":
        groups = [{"params": list(model.parameters())}]
    else:  # vkhalf's parameter groups: 1-D tensors (biases, normalisation weights) do not decay
        groups = [{"params": [q for q in model.parameters() if q.dim() > 1]},
                  {"params": [q for q in model.parameters() if q.dim() <= 1], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.lr, weight_decay=a.weight_decay)
    autocast_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": None}[a.precision]
    scaler = torch.cuda.amp.GradScaler(enabled=a.precision == "fp16")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    steps = train_x.shape[0] // a.batch  # full batches only, as vkhalf-train
    schedule = None
    if a.schedule == "cosine":  # stepped once per update, reaching 0 after the last one
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps * a.epochs)
    print(f"torch {torch.__version__} on {name}: {a.model}, {a.precision}, batch {a.batch}, {steps} steps/epoch")

    rates = []
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(train_x.shape[0], device=device)
        synchronize(device)
        start = time.perf_counter()
        for s in range(steps):
            idx = order[s * a.batch:(s + 1) * a.batch]
            x = train_x[idx]
            if a.shift or a.flip == "on":
                x = augment(x, side, side, a.shift, a.flip == "on", -mean / std)
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                loss = loss_fn(model(x), train_y[idx])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if schedule is not None:
                schedule.step()
        synchronize(device)
        seconds = time.perf_counter() - start
        rates.append(steps * a.batch / seconds)
        print(f"epoch {epoch + 1}: {rates[-1]:.0f} images/s ({seconds:.2f} s), last loss {loss.item():.4f}")

    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        for s in range(0, test_x.shape[0], 1000):
            correct += (model(test_x[s:s + 1000]).argmax(1) == test_y[s:s + 1000]).sum().item()
    accuracy = correct / test_x.shape[0]
    steady = sum(rates[1:]) / len(rates[1:]) if len(rates) > 1 else rates[0]
    print(f"steady state (epochs 2..): {steady:.0f} images/s; test accuracy {accuracy:.4f}")
    print(f'result: bench=torch-train device="{name}" model={a.model} precision={a.precision} batch={a.batch} '
          f"images_per_s={steady:.0f} test_accuracy={accuracy:.4f}")


if __name__ == "__main__":
    main()
