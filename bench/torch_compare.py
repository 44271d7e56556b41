#!/usr/bin/env python3
"""vkhalf against PyTorch, step by step: the same model, initial weights, batches and optimizer.

    python3 bench/torch_compare.py --vkhalf-train build/bin/vkhalf-train --model resnet --steps 50

1. vkhalf-train trains `--steps` steps in fp32 (no loss scaling) on the first steps * batch
   training images in file order (--shuffle off), logging every step's loss, and saves its
   initial weights (--save-init) and its final checkpoint.
2. PyTorch builds the same torch.nn.Sequential (state_dict names identical), loads vkhalf's initial
   weights with load_state_dict(strict=True), normalises the images as vkhalf did (the mean and
   std in the checkpoint's metadata) and trains the same batches with torch.optim.AdamW in fp32,
   with the same loss: nn.CrossEntropyLoss, or with --loss mse nn.MSELoss against the labels as
   one-hot vectors (vkhalf-train --loss mse).
3. It prints the relative difference of the two losses at every step and its maximum, loads
   vkhalf's final checkpoint into the torch model (strict=True) and evaluates the test split.

Pass criteria (exit status 1 otherwise): every step's loss within --tolerance (relative, default
1e-3) of torch's, and torch's test accuracy with vkhalf's final weights within --accuracy-tolerance
(default 0.2 points) of the accuracy vkhalf reported. Exit status 77 when torch is missing.
The last line is machine-readable:
    result: bench=torch-compare model=M steps=N batch=B max_rel_loss_diff=X vkhalf_accuracy=A torch_accuracy=T
"""
import argparse
import csv
import gzip
import json
import os
import struct
import subprocess
import sys

try:
    import torch
    from torch import nn
except ImportError:
    print("torch not installed: skipped")
    sys.exit(77)


class BasicBlock(nn.Module):  # torchvision's, with its parameter names
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.downsample(x) if self.downsample is not None else x))


class GlobalAvgPool2d(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def make_model(name):  # as samples/vkhalf_train.cpp builds them, with the same indices
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    if name == "cnn":
        return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                         nn.ReLU(), BasicBlock(16, 16), BasicBlock(16, 16), BasicBlock(16, 32, 2), BasicBlock(32, 32),
                         BasicBlock(32, 64, 2), BasicBlock(64, 64), GlobalAvgPool2d(), nn.Linear(64, 10))


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        raw = bytearray(blob[8 + n + begin:8 + n + end])
        tensors[name] = torch.frombuffer(raw, dtype=dtypes[t["dtype"]]).reshape(t["shape"]).clone() if raw else \
            torch.zeros(t["shape"], dtype=dtypes[t["dtype"]])
    return tensors, meta


def state_dict_of(tensors):  # a checkpoint less the optimizer, scaler and trainer entries
    return {k: v for k, v in tensors.items() if k.split(".")[0] not in ("optimizer", "scaler", "trainer")}


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    rank = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
    return torch.frombuffer(bytearray(data[4 + 4 * rank:]), dtype=torch.uint8).reshape(dims)


def load_split(directory, split):
    def find(name):
        for candidate in (name + ".gz", name):
            if os.path.exists(os.path.join(directory, candidate)):
                return os.path.join(directory, candidate)
        raise SystemExit(f"{directory}: no {name}[.gz]")
    images = read_idx(find(f"{split}-images-idx3-ubyte"))
    return images.reshape(images.shape[0], -1), read_idx(find(f"{split}-labels-idx1-ubyte")).long()


def normalise(pixels, mean, std):  # as vkhalf's gather: (p / 255 - mean) * (1 / std), in fp32
    return (pixels.float() / 255.0 - mean) * (1.0 / std)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vkhalf-train", required=True)
    ap.add_argument("--model", choices=["mlp", "cnn", "resnet"], default="resnet")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw",
                    help="adamw (weight decay 0.01) or sgd (momentum 0.9, no weight decay), as vkhalf-train")
    ap.add_argument("--loss", choices=["xent", "mse"], default="xent")
    ap.add_argument("--data", default=os.environ.get("VKHALF_DATA", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--workdir", default="torch-compare")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--accuracy-tolerance", type=float, default=0.002)
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    os.makedirs(args.workdir, exist_ok=True)
    init = os.path.join(args.workdir, "init.safetensors")
    final = os.path.join(args.workdir, "final.safetensors")
    metrics = os.path.join(args.workdir, "vkhalf.csv")
    cmd = [args.vkhalf_train, "--model", args.model, "--data", args.data, "--precision", "fp32", "--loss-scale",
           "none", "--optimizer", args.optimizer, "--lr", str(args.lr), "--batch", str(args.batch), "--epochs", "1",
           "--limit-train", str(args.steps * args.batch), "--shuffle", "off", "--log-every", "1", "--loss", args.loss,
           # the recipe torch follows below, whatever the model's defaults
           "--schedule", "constant", "--decay-vectors", "on", "--shift", "0", "--flip", "off",
           "--metrics", metrics, "--save-init", init, "--checkpoint", final]
    print("$", " ".join(cmd), flush=True)
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stdout, run.stderr)
        raise SystemExit("vkhalf-train failed")
    result = [line for line in run.stdout.splitlines() if line.startswith("result:")][-1]
    vk_accuracy = float(result.split("test_accuracy=")[1].split()[0])
    with open(metrics) as f:
        vk_losses = [float(r["train_loss"]) for r in csv.DictReader(f) if r["kind"] == "step"]

    def loss_fn(out, labels):  # what vkhalf-train --loss trains with
        if args.loss == "mse":
            return nn.functional.mse_loss(out, nn.functional.one_hot(labels, out.shape[1]).to(out.dtype))
        return nn.functional.cross_entropy(out, labels)

    tensors, meta = read_safetensors(init)
    mean, std = float(meta["vkhalf.mean"]), float(meta["vkhalf.std"])
    pixels, labels = load_split(args.data, "train")

    def torch_run(dtype):
        model = make_model(args.model)
        model.load_state_dict(state_dict_of(tensors), strict=True)
        model.to(dtype)
        if args.optimizer == "adamw":
            opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
        model.train()
        losses = []
        for s in range(args.steps):
            lo, hi = s * args.batch, (s + 1) * args.batch
            loss = loss_fn(model(normalise(pixels[lo:hi], mean, std).to(dtype)), labels[lo:hi])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    torch_losses = torch_run(torch.float32)
    # How far two correct implementations drift apart on this run: torch fp32 against torch fp64.
    fp64_losses = torch_run(torch.float64)
    spread = max(abs(a - b) / abs(b) for a, b in zip(torch_losses, fp64_losses))

    # The first step's gradient of every parameter, exactly: after one SGD step the momentum
    # buffer ("optimizer.<name>.exp_avg") holds the gradient itself. Against torch in fp64, beside
    # torch in fp32 against fp64.
    # (--limit-train: that run normalises with the mean and std of its one batch, read back here.)
    one, one_init = os.path.join(args.workdir, "one_step.safetensors"), os.path.join(args.workdir, "one_init.safetensors")
    cmd1 = [args.vkhalf_train, "--model", args.model, "--data", args.data, "--precision", "fp32", "--loss-scale",
            "none", "--optimizer", "sgd", "--lr", "1e-3", "--batch", str(args.batch), "--epochs", "1",
            "--limit-train", str(args.batch), "--shuffle", "off", "--save-init", one_init, "--checkpoint", one,
            "--schedule", "constant", "--decay-vectors", "on", "--shift", "0", "--loss", args.loss]
    if subprocess.run(cmd1, capture_output=True, text=True).returncode != 0:
        raise SystemExit("vkhalf-train (one step) failed")
    vk_step, _ = read_safetensors(one)
    one_weights, one_meta = read_safetensors(one_init)

    def first_gradients(dtype):
        model = make_model(args.model)
        model.load_state_dict(state_dict_of(one_weights), strict=True)
        model.to(dtype).train()
        x = normalise(pixels[:args.batch], float(one_meta["vkhalf.mean"]), float(one_meta["vkhalf.std"])).to(dtype)
        loss_fn(model(x), labels[:args.batch]).backward()
        return {name: p.grad.double() for name, p in model.named_parameters()}

    g64, g32 = first_gradients(torch.float64), first_gradients(torch.float32)
    worst_grad, worst_ref, worst_name = 0.0, 0.0, ""
    for name, want in g64.items():
        norm = want.norm().item() or 1.0
        err = (vk_step["optimizer." + name + ".exp_avg"].double() - want).norm().item() / norm
        ref = (g32[name] - want).norm().item() / norm
        if err > worst_grad:
            worst_grad, worst_name = err, name
        worst_ref = max(worst_ref, ref)
    print(f"first-step gradients against torch fp64: largest relative error (L2, per tensor) {worst_grad:.2e} "
          f"({worst_name}); torch fp32 against fp64: {worst_ref:.2e}")

    if len(vk_losses) != args.steps:
        raise SystemExit(f"vkhalf logged {len(vk_losses)} steps, expected {args.steps}")
    worst, worst_step = 0.0, 0
    print("step  vkhalf_loss  torch_loss  rel_diff")
    for s, (v, t) in enumerate(zip(vk_losses, torch_losses), 1):
        rel = abs(v - t) / abs(t)
        if rel > worst:
            worst, worst_step = rel, s
        if s <= 5 or s % 10 == 0 or s == args.steps:
            print(f"{s:4d}  {v:11.6f}  {t:10.6f}  {rel:.2e}")
    # The same distance for vkhalf: where the run is chaotic, both fp32 runs drift from fp64 alike.
    vk_spread = max(abs(v - t) / abs(t) for v, t in zip(vk_losses, fp64_losses))
    print(f"largest relative difference {worst:.2e} at step {worst_step} (tolerance {args.tolerance:g}); "
          f"torch fp32 against torch fp64: {spread:.2e}; vkhalf against torch fp64: {vk_spread:.2e}")

    trained, _ = read_safetensors(final)
    check = make_model(args.model)
    check.load_state_dict(state_dict_of(trained), strict=True)
    check.eval()
    test_pixels, test_labels = load_split(args.data, "t10k")
    correct = 0
    with torch.no_grad():
        for lo in range(0, len(test_labels), 1000):
            x = normalise(test_pixels[lo:lo + 1000], mean, std)
            correct += (check(x).argmax(1) == test_labels[lo:lo + 1000]).sum().item()
    torch_accuracy = correct / len(test_labels)
    print(f"final checkpoint in torch (strict=True): test accuracy {torch_accuracy:.4f}, vkhalf reported "
          f"{vk_accuracy:.4f}")
    ok = worst <= args.tolerance and abs(torch_accuracy - vk_accuracy) <= args.accuracy_tolerance
    print(f"result: bench=torch-compare model={args.model} steps={args.steps} batch={args.batch} "
          f"optimizer={args.optimizer} loss={args.loss} first_step_grad_rel_err={worst_grad:.3e} max_rel_loss_diff={worst:.3e} "
          f"torch_fp32_vs_fp64={spread:.3e} vkhalf_vs_fp64={vk_spread:.3e} vkhalf_accuracy={vk_accuracy:.4f} torch_accuracy={torch_accuracy:.4f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
