#!/usr/bin/env python3
"""Fine-tunes a PyTorch-initialised model with vkhalf-train --init-from --freeze.

    finetune_from_torch.py VKHALF_TRAIN DATA_DIR WORKDIR

1. torch builds the CNN of `vkhalf-train --model cnn` (torch.nn.Sequential, so its state_dict
   names are vkhalf's), initialises it from a fixed seed, and saves model.state_dict() as
   safetensors (safetensors.torch.save_file when the package is installed, else a writer of the
   same format: 8-byte header length, JSON header, raw little-endian data).
2. vkhalf-train --init-from that file --freeze 1. trains one short epoch and saves a checkpoint.
3. The checkpoint's frozen conv1 weight and bias equal torch's bit for bit; every other weight
   moved; the checkpoint loads back into the torch model with load_state_dict(strict=True).
4. Files that do not fit are refused with exit status 1 and a message naming the tensor: a missing
   tensor, a misshapen one, an extra one.
Exit status 0 on success, 1 on failure, 77 when torch is not installed (ctest: skipped).
"""
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

from torch_interop import read_safetensors  # noqa: E402  (this directory)


def cnn():
    # vkhalf-train --model cnn: Unflatten, conv 1->32, ReLU, pool, conv 32->64, ReLU, pool,
    # Flatten, linear 1600->128, ReLU, linear 128->10 (indices as in vkhalf's Sequential).
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128),
                         nn.ReLU(), nn.Linear(128, 10))


def save_state_dict(tensors, path):
    try:
        from safetensors.torch import save_file
        save_file(tensors, path)
        return "safetensors.torch.save_file"
    except ImportError:
        pass
    names = sorted(tensors)
    header, offset, blobs = {}, 0, []
    for name in names:
        t = tensors[name].detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        dtype = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64", torch.int64: "I64"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return "the test's own writer (no safetensors package)"


def run(train, data, args):
    cmd = [train, "--model", "cnn", "--data", data, "--limit-train", "512", "--epochs", "1", "--batch", "64"] + args
    return subprocess.run(cmd, capture_output=True, text=True)


def main():
    train, data, work = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(1234)
    model = cnn()
    init = os.path.join(work, "torch_init.safetensors")
    writer = save_state_dict(model.state_dict(), init)
    print(f"torch state_dict written by {writer}: {len(model.state_dict())} tensors")
    checkpoint = os.path.join(work, "tuned.safetensors")
    r = run(train, data, ["--init-from", init, "--freeze", "1.", "--checkpoint", checkpoint])
    print(r.stdout[-400:], r.stderr[-400:])
    if r.returncode != 0:
        print("FAIL: vkhalf-train --init-from exited with", r.returncode)
        return 1
    tuned, _ = read_safetensors(checkpoint)
    failures = 0
    for name, want in model.state_dict().items():
        got = tuned[name]
        same = torch.equal(got, want)
        frozen = name.startswith("1.")
        if frozen != same:
            print(f"FAIL: {name} {'changed although frozen' if frozen else 'did not train'}")
            failures += 1
    params = {k: v for k, v in tuned.items() if not k.split(".")[0] in ("optimizer", "scaler", "trainer")}
    again = cnn()
    again.load_state_dict(params, strict=True)
    print("checkpoint loads into torch with strict=True")

    # Files that do not fit name the tensor and change nothing.
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    bad_cases = []
    missing = dict(sd)
    del missing["4.bias"]
    bad_cases.append(("missing", missing, "4.bias"))
    misshapen = dict(sd)
    misshapen["8.weight"] = torch.zeros(128, 1599)
    bad_cases.append(("misshapen", misshapen, "8.weight"))
    extra = dict(sd)
    extra["11.weight"] = torch.zeros(3)
    bad_cases.append(("extra", extra, "11.weight"))
    for label, tensors, name in bad_cases:
        path = os.path.join(work, f"bad_{label}.safetensors")
        save_state_dict(tensors, path)
        r = run(train, data, ["--init-from", path])
        if r.returncode != 1 or name not in r.stderr:
            print(f"FAIL: a {label} tensor: exit {r.returncode}, stderr {r.stderr.strip()!r}")
            failures += 1
        else:
            print(f"{label} tensor refused: {r.stderr.strip().splitlines()[-1]}")
    r = run(train, data, ["--init-from", init, "--freeze", "77."])
    if r.returncode != 1 or "77." not in r.stderr:
        print(f"FAIL: a --freeze prefix naming nothing: exit {r.returncode}, stderr {r.stderr.strip()!r}")
        failures += 1
    print("OK" if failures == 0 else f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
