#!/usr/bin/env python3
"""cuBLAS reference for vkhalf-bench gemm: torch.matmul GFLOP/s on the same GPU, same shapes.

    python3 bench/torch_matmul.py [--sizes 1024,2048,4096] [--device cuda:0]

Prints fp16 (fp32 accumulation, cuBLAS default) and fp32 with TF32 off, for the square sizes and
the sample models' layer shapes, and a line to pass on:
    vkhalf-bench gemm --reference-gflops <fp16 at 4096> --reference-name torch-fp16
"""
import argparse
import time

import torch

LAYERS = [  # (m, n, k, trans_a, trans_b, name): as in bench/bench_gemm.cpp
    (128, 256, 784, False, True, "mlp fc1 forward   128x256x784"),
    (256, 784, 128, True, False, "mlp fc1 dW        256x784x128"),
    (128, 10, 256, False, True, "mlp fc2 forward   128x10x256"),
    (128, 256, 10, False, False, "mlp fc2 dX        128x256x10"),
    (128, 128, 1600, False, True, "cnn fc1 forward   128x128x1600"),
    (128, 1600, 128, False, False, "cnn fc1 dX        128x1600x128"),
]


def gflops(m, n, k, ta, tb, dtype, device, budget=0.5):
    a = torch.randn((k, m) if ta else (m, k), dtype=dtype, device=device)
    b = torch.randn((n, k) if tb else (k, n), dtype=dtype, device=device)
    op_a, op_b = (a.t() if ta else a), (b.t() if tb else b)
    torch.matmul(op_a, op_b)
    torch.cuda.synchronize(device)
    reps, start = 0, time.perf_counter()
    while True:
        for _ in range(10):
            torch.matmul(op_a, op_b)
        reps += 10
        torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed > budget:
            return 2.0 * m * n * k * reps / elapsed * 1e-9


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="256,512,1024,2048,4096")
    p.add_argument("--device", default="cuda:0")
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(args.device)
    print(f"device: {torch.cuda.get_device_name(dev)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    print(f"{'shape':32} {'fp16':>10} {'fp32':>10}   GFLOP/s (fp32: TF32 off)")
    shapes = [(s, s, s, False, False, f"square {s}") for s in map(int, args.sizes.split(","))] + LAYERS
    results = {}
    for m, n, k, ta, tb, name in shapes:
        h = gflops(m, n, k, ta, tb, torch.float16, dev)
        f = gflops(m, n, k, ta, tb, torch.float32, dev)
        results[name] = (h, f)
        print(f"{name:32} {h:10.1f} {f:10.1f}")
    big = max(int(s) for s in args.sizes.split(","))
    h, f = results[f"square {big}"]
    print(f"result: bench=torch_matmul size={big} fp16_gflops={h:.1f} fp32_gflops={f:.1f}")


if __name__ == "__main__":
    main()
