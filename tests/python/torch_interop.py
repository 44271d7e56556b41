#!/usr/bin/env python3
"""Loads a vkhalf checkpoint into the equivalent torch.nn model and checks PyTorch agrees.

    torch_interop.py CHECKPOINT DATA_DIR (--vkhalf-accuracy A | --vkhalf-result FILE) [--tolerance 0.002]

The model (mlp or cnn) comes from the checkpoint's metadata. Parameters load with
load_state_dict(strict=True) once the optimizer/scaler/trainer entries are set aside; PyTorch then
evaluates the test split with the checkpoint's normalisation, in fp32, and its accuracy must be
within the tolerance (absolute, default 0.2 points) of the accuracy vkhalf reported.
Exit status 0 on agreement, 1 on disagreement, 77 when torch is not installed (ctest: skipped).
"""
import argparse
import gzip
import json
import os
import struct
import sys

try:
    import torch
    from torch import nn
except ImportError:
    print("torch not installed: skipped")
    sys.exit(77)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": torch.float32, "F16": torch.float16, "I64": torch.int64, "U32": None}
    tensors = {}
    base = 8 + n
    for name, t in header.items():
        begin, end = t["data_offsets"]
        raw = bytearray(blob[base + begin:base + end])
        if dtypes.get(t["dtype"]) is None:
            continue
        tensors[name] = torch.frombuffer(raw, dtype=dtypes[t["dtype"]]).reshape(t["shape"]).clone()
    return tensors, meta


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    (magic,) = struct.unpack(">I", data[:4])
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return torch.frombuffer(bytearray(data[4 + 4 * rank:]), dtype=torch.uint8).reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        if os.path.exists(os.path.join(data_dir, name)):
            return os.path.join(data_dir, name)
    raise FileNotFoundError(os.path.join(data_dir, stem))


def model_for(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128),
                         nn.ReLU(), nn.Linear(128, 10))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("data_dir")
    p.add_argument("--vkhalf-accuracy", type=float)
    p.add_argument("--vkhalf-result", help="a file holding vkhalf-train's result line")
    p.add_argument("--tolerance", type=float, default=0.002)
    args = p.parse_args()
    if args.vkhalf_result:
        line = open(args.vkhalf_result).read()
        args.vkhalf_accuracy = float(line.split("test_accuracy=")[1].split()[0])
    if args.vkhalf_accuracy is None:
        p.error("give --vkhalf-accuracy or --vkhalf-result")

    tensors, meta = read_safetensors(args.checkpoint)
    state = {k: v for k, v in tensors.items() if not k.startswith(("optimizer.", "scaler.", "trainer."))}
    model = model_for(meta.get("vkhalf.model", "mlp"))
    model.load_state_dict(state, strict=True)  # raises on any missing, unexpected or misshaped entry
    model.eval()

    images = read_idx(find(args.data_dir, "t10k-images-idx3-ubyte")).reshape(-1, 784).float() / 255.0
    labels = read_idx(find(args.data_dir, "t10k-labels-idx1-ubyte")).long()
    mean, std = float(meta.get("vkhalf.mean", "0")), float(meta.get("vkhalf.std", "1"))
    with torch.no_grad():
        logits = model((images - mean) / std)
        accuracy = (logits.argmax(1) == labels).float().mean().item()
    print(f"torch {torch.__version__}: test accuracy {accuracy:.4f}; vkhalf reported {args.vkhalf_accuracy:.4f}; "
          f"difference {abs(accuracy - args.vkhalf_accuracy):.4f} (tolerance {args.tolerance})")
    sys.exit(0 if abs(accuracy - args.vkhalf_accuracy) <= args.tolerance else 1)


if __name__ == "__main__":
    main()
