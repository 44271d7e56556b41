#!/usr/bin/env python3
"""Data-parallel vkhalf-train under MPI, two ranks on one machine (standard library only).

    distributed_check.py VKHALF_TRAIN MPIRUN DATA_DIR WORKDIR

The same global batch (64) on 1 process and on 2 ranks (32 images each), 2 epochs of the MLP on
the first 2048 Fashion-MNIST training images, a loss row per step:
1. Replicas: after every epoch both ranks' checkpoints (--rank-checkpoints) hold the same master
   weights, moments and scaler state, byte for byte; rank 0's checkpoint is the same file.
2. Equivalence: the 2-rank loss curve follows the 1-process one: every step within LOSS_TOL (abs),
   the mean difference within MEAN_LOSS_TOL, final master weights within WEIGHT_TOL (max abs).
   Not bit-exact: each rank rounds its half-batch gradient to fp16 before the fp32 sum.
3. Overflow on one rank: an inf injected into rank 1's gradient at step 5 makes BOTH ranks skip
   that step (one more skipped step than the clean run, the loss scale halved once) and the
   replicas stay identical.
4. Resume with another rank count: 1 epoch on 2 ranks, then epoch 2 resumed on 1 process, ends
   within WEIGHT_TOL of the 2-rank 2-epoch run.
5. Failures end the whole job quickly with a message naming the rank: ranks started with
   different models (MPMD) refuse to train; a rank whose data directory is missing ends both; a
   rank that stops responding (SIGSTOP) makes its peer time out (--dist-timeout) and end the job.
Exit status 77 (skipped) when DATA_DIR does not exist.
"""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read_safetensors import read  # noqa: E402

LOSS_TOL = 0.02       # per-step mean loss, absolute (losses here are 0.3 .. 2.3)
MEAN_LOSS_TOL = 0.005
WEIGHT_TOL = 0.02     # final fp32 master weights, max abs difference (weights are ~0.05 .. 0.3)
FAIL_SECONDS = 60     # a failing job must end within this


def run(cmd, expect_ok=True, timeout=300):
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    p.seconds = time.monotonic() - start
    if expect_ok and p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def step_losses(path):
    return [float(r["train_loss"]) for r in csv.DictReader(open(path)) if r["kind"] == "step"]


def tensors(path):
    return read(path, False)[1]


def assert_identical(a, b, what):
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys(), f"{what}: different tensor names"
    differing = [n for n in ta if ta[n] != tb[n]]
    assert not differing, f"{what}: {len(differing)} tensors differ, e.g. {differing[:3]}"
    return ta


def max_weight_difference(a, b):
    worst = 0.0
    for name, (dtype, _, values) in a.items():
        if dtype == "F32" and not name.startswith(("optimizer.", "scaler.", "trainer.")):
            worst = max(worst, max(abs(x - y) for x, y in zip(values, b[name][2])))
    return worst


def scalar(t, name):
    return t[name][2][0]


def rank_pids(parent):
    """{rank: pid} of the MPI ranks mpirun (pid `parent`) started on this machine."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"OMPI_COMM_WORLD_RANK" in env:
            found[int(env[b"OMPI_COMM_WORLD_RANK"])] = int(entry)
    return found


def stalled_peer_times_out(mpi, train, common, work):
    timeout = 5  # also bounds the setup collectives: generous for two ranks starting together
    cmd = [*mpi, train, "--distributed", *common, "--epochs", "50", "--dist-timeout", str(timeout)]
    start = time.monotonic()
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = {}
    while len(pids) < 2 and time.monotonic() - start < 30:
        time.sleep(0.2)
        pids = rank_pids(job.pid)
    assert len(pids) == 2, f"ranks not found under mpirun: {pids}"
    time.sleep(3)  # training (or setup) under way
    try:
        os.kill(pids[1], signal.SIGSTOP)
    except ProcessLookupError:
        sys.exit(f"FAIL: rank 1 ended before it was stopped\n{job.communicate()[1]}")
    stopped = time.monotonic()
    try:
        out, err = job.communicate(timeout=FAIL_SECONDS)
    except subprocess.TimeoutExpired:
        job.kill()
        os.kill(pids[1], signal.SIGKILL)
        sys.exit("FAIL: the job hangs after rank 1 stopped")
    waited = time.monotonic() - stopped
    line = [l for l in err.splitlines() if "rank 0 of 2: " in l and "timed out on rank 0" in l]
    assert job.returncode != 0 and line, f"exit {job.returncode}\n{err}"
    assert waited >= timeout, f"ended {waited:.1f} s after the stop, before the {timeout} s timeout"
    print(f"rank 1 stopped: the job ended {waited:.1f} s later (timeout {timeout} s), exit {job.returncode}:", line[0])


def main():
    train, mpirun, data, work = sys.argv[1:5]
    if not os.path.isdir(data):
        print(f"{data} not found: skipped")
        sys.exit(77)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    path = lambda name: os.path.join(work, name)  # noqa: E731
    mpi = [mpirun, "--oversubscribe", "--allow-run-as-root", "-np", "2"]
    common = ["--data", data, "--limit-train", "2048", "--batch", "64", "--seed", "5", "--log-every", "1"]

    one = run([train, *common, "--epochs", "2", "--metrics", path("one.csv"), "--checkpoint", path("one.st")])
    two = run([*mpi, train, "--distributed", *common, "--epochs", "2", "--metrics", path("two.csv"),
               "--checkpoint", path("two.st"), "--rank-checkpoints"])
    print(one.stdout.splitlines()[-1], f"({one.seconds:.1f} s)")
    print(two.stdout.splitlines()[-1], f"({two.seconds:.1f} s)")
    assert "ranks=2" in two.stdout and "data parallel: 2 ranks, 32 images" in two.stdout, two.stdout

    # 1. identical replicas
    replica = assert_identical(path("two.st.rank0"), path("two.st.rank1"), "rank 0 vs rank 1")
    assert_identical(path("two.st"), path("two.st.rank0"), "rank 0's checkpoint vs its replica")
    print("replicas: both ranks identical,", len(replica), "tensors")

    # 2. the same loss curve as one process
    l1, l2 = step_losses(path("one.csv")), step_losses(path("two.csv"))
    assert len(l1) == len(l2) == 64, f"{len(l1)} and {len(l2)} step rows, expected 64"
    diffs = [abs(a - b) for a, b in zip(l1, l2)]
    worst, mean = max(diffs), sum(diffs) / len(diffs)
    print(f"loss curves: max |diff| {worst:.5f} (tol {LOSS_TOL}), mean {mean:.6f} (tol {MEAN_LOSS_TOL}); "
          f"first {l1[0]:.4f}/{l2[0]:.4f}, last {l1[-1]:.4f}/{l2[-1]:.4f}")
    assert worst <= LOSS_TOL and mean <= MEAN_LOSS_TOL, "loss curves differ"
    single = tensors(path("one.st"))
    w = max_weight_difference(single, replica)
    print(f"final master weights: max |diff| {w:.5f} (tol {WEIGHT_TOL})")
    assert w <= WEIGHT_TOL, "weights differ"
    clean_skips = scalar(replica, "trainer.skipped")
    clean_scale = scalar(replica, "scaler.scale")

    # 3. an overflow on rank 1 only: both ranks skip
    run([*mpi, train, "--distributed", *common, "--epochs", "2", "--checkpoint", path("inj.st"),
         "--rank-checkpoints", "--inject-overflow-step", "5", "--inject-rank", "1"])
    inj = assert_identical(path("inj.st.rank0"), path("inj.st.rank1"), "with an overflow on rank 1")
    skips = scalar(inj, "trainer.skipped")
    print(f"injected overflow on rank 1: skipped {skips} on both ranks (clean run {clean_skips}); "
          f"loss scale {scalar(inj, 'scaler.scale')} (clean {clean_scale})")
    assert skips == clean_skips + 1, "the injected overflow was not skipped exactly once"
    assert scalar(inj, "trainer.optimizer_step") == scalar(replica, "trainer.optimizer_step") - 1

    # 4. resume with another number of ranks
    run([*mpi, train, "--distributed", *common, "--epochs", "1", "--checkpoint", path("half.st")])
    run([train, *common, "--epochs", "2", "--resume", path("half.st"), "--checkpoint", path("resumed.st")])
    resumed = tensors(path("resumed.st"))
    w = max_weight_difference(resumed, replica)
    print(f"2 ranks for epoch 1, then 1 process for epoch 2: weights within {w:.5f} of the 2-rank run")
    assert w <= WEIGHT_TOL and scalar(resumed, "trainer.step") == scalar(replica, "trainer.step")

    # 5. failures
    mpmd = [mpirun, "--oversubscribe", "--allow-run-as-root"]
    p = run([*mpmd, "-np", "1", train, *common, "--model", "mlp", ":", "-np", "1", train, *common, "--model", "cnn"],
            expect_ok=False)
    assert p.returncode != 0 and "disagree on the vkhalf-train options: rank(s) 1 differ" in p.stderr, p.stderr
    assert p.seconds < FAIL_SECONDS, f"took {p.seconds:.0f} s"
    print(f"different models: exit {p.returncode} after {p.seconds:.1f} s:",
          [l for l in p.stderr.splitlines() if "disagree" in l][0])
    p = run([*mpmd, "-np", "1", train, *common, ":", "-np", "1", train, *common[2:], "--data", path("nowhere")],
            expect_ok=False)
    assert p.returncode != 0 and "rank 1 of 2" in p.stderr and "nowhere" in p.stderr, p.stderr
    assert p.seconds < FAIL_SECONDS, f"took {p.seconds:.0f} s"
    print(f"rank 1 without data: exit {p.returncode} after {p.seconds:.1f} s:",
          [l for l in p.stderr.splitlines() if "rank 1 of 2" in l][0])
    stalled_peer_times_out(mpi, train, common, work)
    print("distributed: all checks passed")


if __name__ == "__main__":
    main()
