#!/usr/bin/env python3
"""The sample models trained with cooperative-matrix GEMMs reach the portable kernels' accuracy.

Usage: coopmat_accuracy.py VKHALF_TRAIN DATA_DIR OUT_DIR [--cnn-limit N]

Trains the Fashion-MNIST MLP (one epoch, all 60,000 images) and the CNN (one epoch on the first
--cnn-limit images) twice each in the same run, same seed and batches: once with the device's
default GEMM kernel and once with VKHALF_GEMM_KERNEL=coopmat (every f16 GEMM, and the convolutions
lowered onto it, on VK_KHR_cooperative_matrix). The two test accuracies must agree within 0.5
points, the result lines must name the kernel that ran, and no run may print a validation message. Exit 77 (skipped) where the device has
no cooperative matrices; the Mesa 26.1 stage of CI (scripts/run-mesa26.sh) has them.
Standard library only.
"""
import argparse
import os
import re
import subprocess
import sys
import time


def train(binary, data, out, model, kernel, extra):
    env = dict(os.environ)
    if kernel:
        env["VKHALF_GEMM_KERNEL"] = kernel
    cmd = [binary, "--model", model, "--epochs", "1", "--data", data, "--seed", "3",
           "--checkpoint", os.path.join(out, f"{model}-{kernel or 'default'}.safetensors")] + extra
    start = time.time()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.time() - start
    if run.returncode != 0:
        sys.stdout.write(run.stdout + run.stderr)
        if "no usable VK_KHR_cooperative_matrix" in run.stderr or "cooperative-matrix shaders" in run.stderr:
            print("no cooperative matrices on this device: skipped")
            sys.exit(77)
        sys.exit(f"FAIL: {' '.join(cmd)} exited {run.returncode}")
    messages = [l for l in run.stderr.splitlines() if l.startswith("vkhalf: validation:")]
    if messages:
        sys.stdout.write("\n".join(messages[:5]) + "\n")
        sys.exit(f"FAIL: {len(messages)} validation message(s) from {' '.join(cmd)}")
    line = next((l for l in run.stdout.splitlines() if l.startswith("result:")), None)
    if line is None:
        sys.exit(f"FAIL: no result line from {' '.join(cmd)}")
    fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    return float(fields["test_accuracy"]), fields["gemm_f16"], float(fields["images_per_s"]), took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--cnn-limit", type=int, default=4096)
    a = ap.parse_args()
    if not os.path.isdir(a.data):
        print(f"no dataset at {a.data}: skipped")
        return 77
    os.makedirs(a.out, exist_ok=True)
    failures = 0
    for model, extra in (("mlp", []), ("cnn", ["--limit-train", str(a.cnn_limit)])):
        base_acc, base_kernel, base_ips, base_s = train(a.binary, a.data, a.out, model, None, extra)
        cm_acc, cm_kernel, cm_ips, cm_s = train(a.binary, a.data, a.out, model, "coopmat", extra)
        diff = 100 * abs(cm_acc - base_acc)
        ok = cm_kernel == "coopmat" and diff <= 0.5
        failures += not ok
        print(f"{model}: default ({base_kernel}) test_accuracy={base_acc:.4f} images_per_s={base_ips:.0f} "
              f"({base_s:.0f} s); coopmat ({cm_kernel}) test_accuracy={cm_acc:.4f} images_per_s={cm_ips:.0f} "
              f"({cm_s:.0f} s); difference {diff:.2f} points (limit 0.5): {'ok' if ok else 'FAIL'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
