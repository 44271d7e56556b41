#!/usr/bin/env python3
"""The C API through ctypes (Python's standard library only): a GEMM and a few training steps of a
small MLP, each against a plain-Python reference in double precision, and the argument checks.

usage: capi_ctypes.py <path to libvkhalf.so>
"""
import ctypes as C
import math
import random
import sys


class GemmOptions(C.Structure):
    _fields_ = [("trans_a", C.c_int32), ("trans_b", C.c_int32), ("alpha", C.c_float), ("beta", C.c_float),
                ("bias", C.c_void_p), ("bias_mode", C.c_int), ("relu", C.c_int32)]


class TrainerOptions(C.Structure):
    _fields_ = [("precision", C.c_int), ("batch", C.c_int64), ("optimizer", C.c_int), ("lr", C.c_float),
                ("beta1", C.c_float), ("beta2", C.c_float), ("eps", C.c_float), ("weight_decay", C.c_float),
                ("momentum", C.c_float), ("loss_scale", C.c_int), ("init_scale", C.c_float),
                ("growth_interval", C.c_uint32), ("min_scale", C.c_float),
                ("max_consecutive_skips", C.c_uint32), ("mean", C.c_float), ("std", C.c_float),
                ("label_smoothing", C.c_float), ("seed", C.c_uint64)]


class Metrics(C.Structure):
    _fields_ = [("loss_sum", C.c_double), ("mean_loss", C.c_double), ("accuracy", C.c_double),
                ("correct", C.c_uint64), ("seen", C.c_uint64), ("loss_scale", C.c_float), ("skipped", C.c_uint32),
                ("consecutive_skips", C.c_uint32), ("step", C.c_uint32), ("optimizer_step", C.c_uint32)]


VKH_OK, VKH_ERROR_INVALID_ARGUMENT, VKH_ERROR_SHAPE = 0, 1, 2
VKH_F32 = 0
VKH_RELU = 0
VKH_PRECISION_FP32, VKH_OPTIMIZER_SGD, VKH_LOSS_SCALE_NONE = 1, 0, 2

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print(f"FAILED: {what} (last error: {lib.vkh_last_error().decode()})", file=sys.stderr)


def ok(status, what):
    check(status == VKH_OK, f"{what} returned {status}")


def refused(status, expected, what):
    message = lib.vkh_last_error().decode()
    check(status == expected and message, f"{what}: status {status}, expected {expected}, message '{message}'")


def floats(values):
    return (C.c_float * len(values))(*values)


def tensor(ctx, shape, values=None):
    t = C.c_void_p()
    ok(lib.vkh_tensor_create(ctx, (C.c_int64 * len(shape))(*shape), len(shape), VKH_F32, C.byref(t)), "tensor_create")
    if values is not None:
        ok(lib.vkh_tensor_upload_f32(t, floats(values), len(values)), "upload")
    return t


def download(t, n):
    out = (C.c_float * n)()
    ok(lib.vkh_tensor_download_f32(t, out, n), "download")
    return list(out)


def close(got, want, tol, what):
    scale = max(1e-3, max(abs(w) for w in want))
    worst = max(abs(g - w) for g, w in zip(got, want)) / scale
    check(len(got) == len(want) and worst < tol, f"{what}: max relative error {worst:.3g} >= {tol}")
    return worst


def test_gemm(ctx, rng):
    m, n, k = 13, 11, 17
    a = [rng.uniform(-1, 1) for _ in range(m * k)]
    b = [rng.uniform(-1, 1) for _ in range(k * n)]
    c0 = [rng.uniform(-1, 1) for _ in range(m * n)]
    ta, tb, tc = tensor(ctx, [m, k], a), tensor(ctx, [k, n], b), tensor(ctx, [m, n], c0)
    o = GemmOptions()
    lib.vkh_gemm_options_init(C.byref(o))
    o.alpha, o.beta = 0.5, 2.0
    ok(lib.vkh_gemm(ctx, ta, tb, tc, C.byref(o)), "gemm")
    # the inputs as the device holds them (fp32), then everything in double
    a32, b32, c32 = (download(t, len(v)) for t, v in ((ta, a), (tb, b), (tensor(ctx, [m, n], c0), c0)))
    want = [0.5 * sum(a32[i * k + p] * b32[p * n + j] for p in range(k)) + 2.0 * c32[i * n + j]
            for i in range(m) for j in range(n)]
    err = close(download(tc, m * n), want, 1e-5, "gemm against Python")
    print(f"gemm {m}x{n}x{k} alpha 0.5 beta 2: max relative error {err:.2e}")
    refused(lib.vkh_gemm(ctx, tb, tb, tc, None), VKH_ERROR_SHAPE, "gemm with mismatched shapes")
    refused(lib.vkh_gemm(None, ta, tb, tc, None), VKH_ERROR_INVALID_ARGUMENT, "gemm without a context")
    refused(lib.vkh_gemm(ctx, ta, ctx, tc, None), VKH_ERROR_INVALID_ARGUMENT, "gemm with a context for a tensor")
    for t in (ta, tb, tc):
        lib.vkh_tensor_free(t)


def reference_step(params, xs, labels, lr):
    """One SGD step of Linear -> ReLU -> Linear with mean softmax cross-entropy; returns the loss."""
    w1, b1, w2, b2 = params["0.weight"], params["0.bias"], params["2.weight"], params["2.bias"]
    hidden, features, classes = len(b1), len(xs[0]), len(b2)
    grads = {name: [0.0] * len(v) for name, v in params.items()}
    loss = 0.0
    for x, y in zip(xs, labels):
        h = [max(0.0, b1[j] + sum(w1[j * features + i] * x[i] for i in range(features))) for j in range(hidden)]
        z = [b2[c] + sum(w2[c * hidden + j] * h[j] for j in range(hidden)) for c in range(classes)]
        top = max(z)
        e = [math.exp(v - top) for v in z]
        p = [v / sum(e) for v in e]
        loss -= math.log(p[y]) / len(xs)
        dz = [(p[c] - (1.0 if c == y else 0.0)) / len(xs) for c in range(classes)]
        dh = [sum(dz[c] * w2[c * hidden + j] for c in range(classes)) if h[j] > 0 else 0.0 for j in range(hidden)]
        for c in range(classes):
            grads["2.bias"][c] += dz[c]
            for j in range(hidden):
                grads["2.weight"][c * hidden + j] += dz[c] * h[j]
        for j in range(hidden):
            grads["0.bias"][j] += dh[j]
            for i in range(features):
                grads["0.weight"][j * features + i] += dh[j] * x[i]
    for name in params:
        params[name] = [v - lr * g for v, g in zip(params[name], grads[name])]
    return loss


def test_training(ctx, rng):
    count, features, hidden, classes, lr, steps = 16, 6, 5, 3, 0.5, 4
    pixels = [rng.randrange(256) for _ in range(count * features)]
    labels = [i % classes for i in range(count)]
    data = C.c_void_p()
    ok(lib.vkh_dataset_create(ctx, (C.c_uint8 * len(pixels))(*pixels), (C.c_uint8 * count)(*labels), count,
                              features, classes, C.byref(data)), "dataset_create")
    model = C.c_void_p()
    ok(lib.vkh_model_create(C.byref(model)), "model_create")
    ok(lib.vkh_model_add_linear(model, features, hidden), "add_linear")
    ok(lib.vkh_model_add_activation(model, VKH_RELU), "add_relu")
    ok(lib.vkh_model_add_linear(model, hidden, classes), "add_linear")
    o = TrainerOptions()
    lib.vkh_trainer_options_init(C.byref(o))
    # fp32 and plain SGD over the whole dataset in one batch: the example order cannot matter, so a
    # few lines of Python reproduce every step
    o.precision, o.optimizer, o.loss_scale = VKH_PRECISION_FP32, VKH_OPTIMIZER_SGD, VKH_LOSS_SCALE_NONE
    o.batch, o.lr, o.weight_decay, o.momentum, o.mean, o.std = count, lr, 0.0, 0.0, 0.5, 0.25
    trainer = C.c_void_p()
    ok(lib.vkh_trainer_create(ctx, model, data, C.byref(o), C.byref(trainer)), "trainer_create")

    shapes = {"0.weight": hidden * features, "0.bias": hidden, "2.weight": classes * hidden, "2.bias": classes}
    params = {name: [rng.uniform(-0.8, 0.8) for _ in range(n)] for name, n in shapes.items()}
    for name, values in params.items():
        ok(lib.vkh_trainer_set_parameter(trainer, name.encode(), floats(values), len(values)), f"set {name}")
        params[name] = [float(v) for v in floats(values)]  # what fp32 holds
    xs = [[(pixels[e * features + i] / 255.0 - 0.5) / 0.25 for i in range(features)] for e in range(count)]
    metrics = Metrics()
    worst_loss = worst_weight = 0.0
    for step in range(steps):
        want_loss = reference_step(params, xs, labels, lr)
        ok(lib.vkh_trainer_step(trainer), "step")
        ok(lib.vkh_trainer_metrics(trainer, 1, C.byref(metrics)), "metrics")
        check(metrics.seen == count and metrics.step == step + 1, f"metrics after step {step + 1}")
        worst_loss = max(worst_loss, abs(metrics.mean_loss - want_loss) / max(1.0, want_loss))
        print(f"step {step + 1}: loss {metrics.mean_loss:.6f} (Python {want_loss:.6f})")
    check(worst_loss < 1e-4, f"losses differ from Python's by {worst_loss:.3g}")
    for name, want in params.items():
        got = floats([0.0] * len(want))
        ok(lib.vkh_trainer_get_parameter(trainer, name.encode(), got, len(want)), f"get {name}")
        worst_weight = max(worst_weight, close(list(got), want, 1e-4, f"{name} after {steps} steps"))
    print(f"{steps} SGD steps: loss within {worst_loss:.2e}, weights within {worst_weight:.2e} of Python's")

    refused(lib.vkh_trainer_get_parameter(trainer, b"0.weight", floats([0.0]), 1), VKH_ERROR_SHAPE,
            "get_parameter with the wrong count")
    refused(lib.vkh_trainer_get_parameter(trainer, None, floats([0.0]), 1), VKH_ERROR_INVALID_ARGUMENT,
            "get_parameter without a name")
    refused(lib.vkh_trainer_step(model), VKH_ERROR_INVALID_ARGUMENT, "trainer_step with a model handle")
    lib.vkh_trainer_free(trainer)
    lib.vkh_model_free(model)
    lib.vkh_dataset_free(data)


def main():
    global lib
    lib = C.CDLL(sys.argv[1])
    lib.vkh_last_error.restype = C.c_char_p
    lib.vkh_version_string.restype = C.c_char_p
    print("vkhalf", lib.vkh_version_string().decode())
    ctx = C.c_void_p()
    ok(lib.vkh_context_create(None, C.byref(ctx)), "context_create")
    if not ctx:
        return 1
    rng = random.Random(2026)
    test_gemm(ctx, rng)
    test_training(ctx, rng)
    messages = C.c_size_t(1)
    ok(lib.vkh_context_validation_message_count(ctx, C.byref(messages)), "validation_message_count")
    check(messages.value == 0, f"{messages.value} validation messages")
    lib.vkh_context_free(ctx)
    print("failures:", failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
