#!/usr/bin/env python3
"""vkhalf-train stops on numerical faults with a clear message and saves nothing; standard library only.

    numerical_faults_e2e.py VKHALF_TRAIN WORKDIR

On a tiny synthetic dataset (tiny_mnist.py), each from a checkpoint saved after epoch 1:
1. A learning rate that diverges (--lr 1e6): exit 1, "training diverged"; the checkpoint is
   unchanged and a --resume with a sane learning rate finishes.
2. A loss scale driven to its minimum (a fresh run, --init-scale 1e12 --min-scale 1e9: the seeded
   gradient overflows fp16 at any scale allowed): exit 1 after --max-skips 15 (10 back-offs reach the floor), naming the minimum,
   the epoch-1 checkpoint at --checkpoint untouched. With
   --max-skips 0 the same run goes on skipping to the end, weights untouched, and says so.
3. Input data that normalises to inf in fp16 (all-black training images: std 1e-6): exit 1 before
   training, naming mean, std and the pixel; in fp32 the same data trains.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_mnist  # noqa: E402


def fail(what):
    sys.exit(f"FAIL: {what}")


def main():
    train, work = sys.argv[1:3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data = tiny_mnist.write_dataset(os.path.join(work, "data"))
    common = ["--data", data, "--batch", "32", "--lr", "3e-4", "--seed", "5"]
    ck = os.path.join(work, "ck.safetensors")

    def run(*args):
        return subprocess.run([train, *common, *args], capture_output=True, text=True, timeout=300)

    p = run("--epochs", "1", "--checkpoint", ck)
    if p.returncode != 0:
        fail(f"first run exited {p.returncode}: {p.stderr}")
    saved = open(ck, "rb").read()

    def expect_stop(label, args, needles, resume=True):
        p = run("--epochs", "3", *(["--resume", ck] if resume else []), "--checkpoint", ck, *args)
        if p.returncode != 1:
            fail(f"{label}: exit status {p.returncode}, expected 1\n{p.stdout}\n{p.stderr}")
        for n in needles:
            if not re.search(n, p.stderr):
                fail(f"{label}: stderr lacks {n!r}: {p.stderr}")
        if open(ck, "rb").read() != saved or os.path.exists(ck + ".tmp"):
            fail(f"{label}: the checkpoint changed or a .tmp was left")
        print(f"{label}: exit 1, checkpoint unchanged\n  {p.stderr.splitlines()[0]}")

    # 1. Divergence.
    expect_stop("--lr 1e6", ["--lr", "1e6"],
                [r"training diverged by step \d+: an optimizer update \(learning rate 1e\+06\) would have made a "
                 r"weight or its optimizer state inf/NaN or beyond fp16's range", "stopped without saving"])
    p = run("--epochs", "2", "--resume", ck)
    if p.returncode != 0:
        fail(f"--resume with a sane learning rate exited {p.returncode}: {p.stderr}")
    print("  --resume afterwards with --lr 3e-4: finished")

    # 2. Loss scale at its minimum.
    scale = ["--init-scale", "1e12", "--min-scale", "1e9"]
    expect_stop("--init-scale 1e12 --min-scale 1e9 --max-skips 15", [*scale, "--max-skips", "15", "--log-every", "1"],
                [r"stopped at step \d+: 15 steps in a row had inf/NaN gradients and were skipped \(limit 15\); "
                 r"the loss scale is at its minimum 1e\+09 and steps still overflow"], resume=False)
    p = run("--epochs", "1", *scale, "--max-skips", "0")
    m = re.search(r"skipped_steps=(\d+) final_loss_scale=(\S+)", p.stdout)
    if p.returncode != 0 or not m or int(m.group(1)) != 16 or float(m.group(2)) != 1e9:
        fail(f"--max-skips 0: expected a finished run with 16 skipped steps at scale 1e9: {p.stdout} {p.stderr}")
    print(f"--max-skips 0: the run goes on, every step skipped: {m.group(0)}")

    # 3. Inputs that normalise to inf.
    black = os.path.join(work, "black")
    shutil.copytree(data, black)
    images = os.path.join(black, "train-images-idx3-ubyte")
    blob = bytearray(open(images, "rb").read())
    blob[16:] = bytes(len(blob) - 16)
    open(images, "wb").write(blob)
    p = subprocess.run([train, "--data", black, "--epochs", "1"], capture_output=True, text=True, timeout=300)
    want = r"input normalisation \(pixel/255 - mean\) / std with mean=0 std=1e-06 turns pixel \d+ into \S+, inf in fp16"
    if p.returncode != 1 or not re.search(want, p.stderr):
        fail(f"all-black images: exit {p.returncode}, stderr {p.stderr}")
    print(f"all-black training images (fp16): exit 1\n  {p.stderr.splitlines()[0]}")
    p = subprocess.run([train, "--data", black, "--epochs", "1", "--precision", "fp32"], capture_output=True,
                       text=True, timeout=300)
    if p.returncode != 0:
        fail(f"all-black images in fp32: exit {p.returncode}: {p.stderr}")
    print("all-black training images (fp32): finite inputs, trains")
    print("numerical_faults_e2e: all checks passed")


if __name__ == "__main__":
    main()
