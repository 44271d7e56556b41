#!/usr/bin/env python3
"""vkhalf-train under injected Vulkan faults (VKHALF_FAULT, the Context's test hook), standard library only.

    fault_injection_e2e.py VKHALF_TRAIN WORKDIR

On a tiny synthetic dataset (tiny_mnist.py): a baseline run of 3 epochs, and a checkpoint after
epoch 1. Then, resuming from that checkpoint towards 3 epochs with --checkpoint at the same path:
1. Each named fault (allocation out of memory, pipeline creation failure, device lost at submit
   and at wait, out of host memory at submit) must end the run with exit status 1 and its message
   on stderr, leave the checkpoint byte for byte as it was and no .tmp file; a --resume afterwards
   must finish and reproduce the baseline's epochs 2 and 3 digit for digit.
2. A device loss at every wait inside the epoch-2 save (found by bisection over wait:N) must leave
   the epoch-1 checkpoint untouched; one a little later, after the save, leaves the complete
   epoch-2 checkpoint. Every outcome's file verifies (CRC-32 in the metadata, read by
   read_safetensors.py, an independent reader).
Prints every case with its outcome and message.
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import read_safetensors  # noqa: E402
import tiny_mnist  # noqa: E402

EPOCH = re.compile(r"epoch\s+(\d+)\s+train loss ([\d.]+) acc ([\d.]+) \| test loss ([\d.]+) acc ([\d.]+)")


def epochs_of(stdout):
    return {int(m.group(1)): m.groups()[1:] for m in map(EPOCH.search, stdout.splitlines()) if m}


def fail(what):
    sys.exit(f"FAIL: {what}")


class Runner:
    def __init__(self, train, work):
        self.train = train
        self.work = work
        self.data = tiny_mnist.write_dataset(os.path.join(work, "data"))
        self.common = ["--data", self.data, "--batch", "32", "--lr", "3e-4", "--seed", "2"]
        self.ck = os.path.join(work, "ck.safetensors")
        self.runs = 0

    def run(self, *args, fault=None):
        env = dict(os.environ)
        env.pop("VKHALF_FAULT", None)
        if fault:
            env["VKHALF_FAULT"] = fault
        self.runs += 1
        return subprocess.run([self.train, *self.common, *args], capture_output=True, text=True, env=env,
                              timeout=300)

    def resume_with(self, fault):
        return self.run("--epochs", "3", "--resume", self.ck, "--checkpoint", self.ck, fault=fault)


def checkpoint_epoch(path):
    """Reads and verifies the file (layout, CRC-32); returns its vkhalf.epoch."""
    try:
        metadata, _ = read_safetensors.read(path, False)
    except read_safetensors.Invalid as e:
        fail(f"{path} does not verify: {e}")
    if read_safetensors.CRC_KEY not in metadata:
        fail(f"{path} has no {read_safetensors.CRC_KEY}")
    return int(metadata["vkhalf.epoch"])


def first_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[0] if lines else "(nothing)"


def main():
    train, work = sys.argv[1:3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    start = time.monotonic()
    r = Runner(train, work)

    base = r.run("--epochs", "3")
    if base.returncode != 0:
        fail(f"baseline run exited {base.returncode}: {base.stderr}")
    want = epochs_of(base.stdout)
    first = r.run("--epochs", "1", "--checkpoint", r.ck)
    if first.returncode != 0:
        fail(f"first run exited {first.returncode}: {first.stderr}")
    epoch1 = open(r.ck, "rb").read()
    assert checkpoint_epoch(r.ck) == 1

    def restore_epoch1():
        with open(r.ck, "wb") as f:
            f.write(epoch1)

    def check_resume_matches(label):
        p = r.run("--epochs", "3", "--resume", r.ck)
        if p.returncode != 0:
            fail(f"{label}: --resume afterwards exited {p.returncode}: {p.stderr}")
        got = epochs_of(p.stdout)
        resumed_from = checkpoint_epoch(r.ck)
        for e in range(resumed_from + 1, 4):
            if got.get(e) != want[e]:
                fail(f"{label}: resumed epoch {e} {got.get(e)} differs from the uninterrupted run's {want[e]}")

    # 1. Named faults.
    cases = [
        ("alloc:1", ["vkAllocateMemory of", "failed: out of device memory"]),
        ("pipeline:4", ["vkCreateComputePipelines(", "failed: VK_ERROR_UNKNOWN"]),
        ("submit:5", ["vkQueueSubmit failed: VK_ERROR_DEVICE_LOST", "recreate the Context"]),
        ("wait:40", ["failed: VK_ERROR_DEVICE_LOST", "recreate the Context"]),
        ("submit:20:VK_ERROR_OUT_OF_HOST_MEMORY", ["vkQueueSubmit failed: VK_ERROR_OUT_OF_HOST_MEMORY",
                                                  "out of host memory"]),
    ]
    print("fault (VKHALF_FAULT)                    exit  checkpoint  message")
    for spec, needles in cases:
        restore_epoch1()
        p = r.resume_with(spec)
        message = first_line(p.stderr)
        if p.returncode != 1:
            fail(f"{spec}: exit status {p.returncode}, expected 1\n{p.stdout}\n{p.stderr}")
        for n in needles + ["stopped without saving"]:
            if n not in p.stderr:
                fail(f"{spec}: stderr lacks {n!r}: {p.stderr}")
        if open(r.ck, "rb").read() != epoch1:
            fail(f"{spec}: the checkpoint changed")
        if os.path.exists(r.ck + ".tmp"):
            fail(f"{spec}: a .tmp file was left behind")
        checkpoint_epoch(r.ck)
        print(f"{spec:<40} {p.returncode:>4}  unchanged   {message}")
        check_resume_matches(spec)
    print(f"after each: --resume finished and reproduced epochs 2-3 of the uninterrupted run")

    # 2. Device loss at every wait of the epoch-2 save. Outcome classes are ordered in N:
    #    0 = failed before epoch 2's line was printed, 1 = printed, checkpoint still epoch 1 (the
    #    save was under way), 2 = checkpoint of epoch 2 (the save had completed), 3 = finished.
    outcomes = {}

    def outcome(n):
        if n not in outcomes:
            restore_epoch1()
            p = r.resume_with(f"wait:{n}")
            if os.path.exists(r.ck + ".tmp"):
                fail(f"wait:{n}: a .tmp file was left behind")
            saved = checkpoint_epoch(r.ck)
            if saved == 1 and open(r.ck, "rb").read() != epoch1:
                fail(f"wait:{n}: an epoch-1 checkpoint that is not the one saved")
            if p.returncode == 0:
                c = 3
            elif p.returncode != 1 or "VK_ERROR_DEVICE_LOST" not in p.stderr:
                fail(f"wait:{n}: exit status {p.returncode}: {p.stderr}")
            else:
                c = 2 if saved == 2 else 1 if 2 in epochs_of(p.stdout) else 0
            outcomes[n] = (c, saved, first_line(p.stderr))
        return outcomes[n][0]

    def first_at_least(cls):
        lo, hi = 1, 1
        while outcome(hi) < cls:
            lo, hi = hi + 1, hi * 2
        while lo < hi:
            mid = (lo + hi) // 2
            if outcome(mid) < cls:
                lo = mid + 1
            else:
                hi = mid
        return lo

    save_begin, save_end = first_at_least(1), first_at_least(2)
    if save_end <= save_begin:
        fail(f"no wait falls between epoch 2's line and its saved checkpoint ({save_begin}, {save_end})")
    for n in range(save_begin, save_end + 1):
        outcome(n)
    during = [n for n, (c, _, _) in outcomes.items() if c == 1]
    if sorted(during) != list(range(save_begin, save_end)):
        fail(f"outcomes are not ordered in N: {sorted(outcomes.items())}")
    print(f"device lost at wait:{save_begin}..{save_end - 1} (the {save_end - save_begin} waits of the epoch-2 save): "
          f"exit 1, checkpoint still epoch 1, byte for byte; e.g. {outcomes[save_begin][2]}")
    print(f"device lost at wait:{save_end}: exit 1, checkpoint is the complete epoch-2 save")
    print(f"{len(outcomes)} wait:N runs in all, every checkpoint verified (CRC-32), no .tmp left")
    restore_epoch1()
    p = r.resume_with(f"wait:{save_begin + (save_end - save_begin) // 2}")
    check_resume_matches("a loss during the save")
    print(f"fault_injection_e2e: all checks passed ({r.runs} runs, {time.monotonic() - start:.1f} s)")


if __name__ == "__main__":
    main()
