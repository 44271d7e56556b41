#!/usr/bin/env python3
"""Checkpoint durability: SIGKILL vkhalf-train at random moments, many times, mostly while it
writes a checkpoint; the last complete checkpoint must survive every kill. Standard library only.

    kill_during_save.py VKHALF_TRAIN WORKDIR [--kills N] [--seconds S] [--seed N]

One training run is carried through N kills (default 100, or until S seconds, default 70): each
launch resumes from the checkpoint the previous one left (--resume, so the trainer's own loader
checks it every time) and saves after every step (--checkpoint-every 1, ~2.4 MB, written to a
temporary file, fsync'ed and renamed). Kills alternate between a uniformly random moment after
launch and a moment just after a temporary checkpoint file appeared (inside the write). After
every kill:
  - the checkpoint file exists (once one was ever saved) and verifies: layout and the CRC-32 in
    its metadata, read by read_safetensors.py (an independent reader);
  - its step never goes backwards;
  - the next launch's --resume loads it (a launch that exits 1 is a loss).
Finally a run without kills resumes and finishes. Prints kills, kills that interrupted a write
(a .tmp file was left), losses (must be 0), and time.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import read_safetensors  # noqa: E402
import tiny_mnist  # noqa: E402


def verify(path):
    """(step, epoch, epoch_step) of a checkpoint that verifies; raises Invalid otherwise."""
    metadata, tensors = read_safetensors.read(path, False)
    if read_safetensors.CRC_KEY not in metadata:
        raise read_safetensors.Invalid(f"no {read_safetensors.CRC_KEY} in the metadata")
    step = int(tensors["trainer.step"][2][0])
    return step, int(metadata["vkhalf.epoch"]), int(metadata.get("vkhalf.epoch_step", "0"))


def stat_of(path):
    try:
        st = os.stat(path)
        return st.st_ino, st.st_mtime_ns, st.st_size
    except FileNotFoundError:
        return None


def wait_for_write(p, tmp, limit_s):
    """Polls until a temporary checkpoint file exists (a write is under way) or the process ends."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end and p.poll() is None:
        if os.path.exists(tmp):
            return True
        time.sleep(0.0005)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train")
    ap.add_argument("work")
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=70)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    rng = random.Random(a.seed)
    data = tiny_mnist.write_dataset(os.path.join(a.work, "data"), train=512, test=64)
    ck = os.path.join(a.work, "ck.safetensors")
    tmp = ck + ".tmp"
    epochs = 1000  # more than the kills leave time for
    common = ["--data", data, "--batch", "32", "--lr", "3e-4", "--seed", "4", "--log-every", "0",
              "--checkpoint", ck, "--checkpoint-every", "1"]

    start = time.monotonic()
    kills = torn = launches = changed = 0
    losses = []
    last = None  # (step, epoch, epoch_step) of the last verified checkpoint
    last_bytes = None
    while kills < a.kills and time.monotonic() - start < a.seconds:
        resume = ["--resume", ck] if last else []
        if kills % 2 == 1 and os.path.exists(tmp):
            os.remove(tmp)  # a leftover of an earlier kill: wait for this launch's own write
        stale = stat_of(tmp)
        p = subprocess.Popen([a.train, *common, "--epochs", str(epochs), *resume],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        launches += 1
        if kills % 2 == 0:
            time.sleep(rng.uniform(0.0, 1.2))  # anywhere: start-up, loading, training, saving
        elif wait_for_write(p, tmp, 5.0):
            time.sleep(rng.uniform(0.0, 0.006))  # inside the write (or just after its rename)
        if p.poll() is not None:
            err = p.stderr.read().decode(errors="replace")
            losses.append(f"launch {launches} exited {p.returncode} before the kill: {err.strip()}")
            break
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stderr.close()
        kills += 1
        if stat_of(tmp) not in (None, stale):
            torn += 1  # killed between creating this launch's temporary file and renaming it
        if not os.path.exists(ck):
            if last:
                losses.append(f"kill {kills}: the checkpoint is gone")
            continue
        try:
            now = verify(ck)
        except (read_safetensors.Invalid, OSError, KeyError, ValueError) as e:
            losses.append(f"kill {kills}: the checkpoint does not verify: {e}")
            break
        if last and now[0] < last[0]:
            losses.append(f"kill {kills}: the checkpoint went back from step {last[0]} to {now[0]}")
        blob = open(ck, "rb").read()
        changed += blob != last_bytes
        last, last_bytes = now, blob

    # A last launch without a kill: resumes from what the kills left and finishes one more epoch.
    final_epochs = (last[1] if last else 0) + 1
    p = subprocess.run([a.train, *common, "--epochs", str(final_epochs), *(["--resume", ck] if last else [])],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0 or "result: " not in p.stdout:
        losses.append(f"the final --resume exited {p.returncode}: {p.stderr.strip()}")
    else:
        step, epoch, _ = verify(ck)
        if epoch != final_epochs or (last and step <= last[0]):
            losses.append(f"the final run saved epoch {epoch} step {step}, expected epoch {final_epochs}")
    elapsed = time.monotonic() - start
    print(f"kills: {kills} in {elapsed:.1f} s ({launches} launches); kills inside a write (.tmp left behind): "
          f"{torn}; checkpoints changed between kills: {changed}")
    if last:
        print(f"training progressed to step {last[0]} (epoch {last[1]} + {last[2]} steps) through the kills; "
              f"the final run resumed and finished epoch {final_epochs}")
    print(f"losses: {len(losses)}")
    for l in losses:
        print(f"  {l}")
    if losses:
        sys.exit(1)
    if kills < 20 or torn == 0:
        sys.exit(f"FAIL: too few kills ({kills}) or none inside a write ({torn}) to mean anything")
    print("kill_during_save: every kill left a complete, verified checkpoint")


if __name__ == "__main__":
    main()
