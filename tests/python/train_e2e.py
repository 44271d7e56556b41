#!/usr/bin/env python3
"""End-to-end checks of vkhalf-train on Fashion-MNIST (standard library only).

    train_e2e.py VKHALF_TRAIN DATA_DIR WORKDIR

1. Trains the MLP for 2 epochs on the first 12800 training images; the test accuracy must reach
   0.80 (stated bound; a full 10-epoch run reaches ~0.89). The metrics CSV and the SVG plot must be
   well formed. The checkpoint and the result line are left in WORKDIR for the PyTorch check.
2. Resume equivalence: 1 epoch + checkpoint, then --resume for the 2nd epoch, must give the same
   epoch-2 losses and accuracies as the uninterrupted run, digit for digit.
3. Bad input ends with exit status 1 and a message: a missing data directory, a corrupt
   checkpoint, a checkpoint of the other model or of the other loss.
Exit status 77 (skipped) when DATA_DIR does not exist. In a cross build VKHALF_TEST_EMULATOR holds
the command that runs target executables (qemu-aarch64), which then runs vkhalf-train.
"""
import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

EPOCH = re.compile(r"epoch\s+(\d+)\s+train loss ([\d.]+) acc ([\d.]+) \| test loss ([\d.]+) acc ([\d.]+) .*"
                   r"skipped (\d+) \| loss scale (\S+)")


EMULATOR = shlex.split(os.environ.get("VKHALF_TEST_EMULATOR", ""))


def run(train, *args, expect_ok=True):
    p = subprocess.run([*EMULATOR, train, *args], capture_output=True, text=True, timeout=900)
    if expect_ok and p.returncode != 0:
        sys.exit(f"FAIL: vkhalf-train {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def epochs_of(stdout):
    return {int(m.group(1)): m.groups()[1:] for m in map(EPOCH.search, stdout.splitlines()) if m}


def main():
    train, data, work = sys.argv[1:4]
    if not os.path.isdir(data):
        print(f"{data} not found: skipped")
        sys.exit(77)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    common = ["--data", data, "--limit-train", "12800", "--seed", "3"]
    ck, csv_path, svg_path = (os.path.join(work, n) for n in ("mlp.safetensors", "mlp.csv", "mlp.svg"))

    # 1. two epochs, checkpoint, metrics, plot
    a = run(train, *common, "--epochs", "2", "--checkpoint", ck, "--metrics", csv_path, "--plot", svg_path,
            "--log-every", "20")
    print(a.stdout)
    result = [l for l in a.stdout.splitlines() if l.startswith("result: ")]
    assert len(result) == 1, "no result line"
    accuracy = float(re.search(r"test_accuracy=([\d.]+)", result[0]).group(1))
    assert accuracy >= 0.80, f"test accuracy {accuracy} below the stated 0.80"
    assert re.search(r'model=mlp precision=fp16 epochs=2 .* skipped_steps=\d+ final_loss_scale=\S+ device="', result[0])
    with open(os.path.join(work, "result.txt"), "w") as f:
        f.write(result[0] + "\n")
    rows = list(csv.DictReader(open(csv_path)))
    assert [r["epoch"] for r in rows if r["kind"] == "epoch"] == ["1", "2"], "CSV epoch rows"
    assert sum(r["kind"] == "step" for r in rows) >= 4, "CSV step rows"
    assert abs(float([r for r in rows if r["kind"] == "epoch"][-1]["test_accuracy"]) - accuracy) < 1e-4
    svg = ET.parse(svg_path).getroot()
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}polyline")) == 4, "SVG: four curves"
    assert not os.path.exists(ck + ".tmp"), "a temporary checkpoint was left behind"

    # 2. resume equivalence
    ck1 = os.path.join(work, "first.safetensors")
    b1 = run(train, *common, "--epochs", "1", "--checkpoint", ck1, "--log-every", "20")
    b2 = run(train, *common, "--epochs", "2", "--resume", ck1, "--log-every", "20")
    full, first, resumed = epochs_of(a.stdout), epochs_of(b1.stdout), epochs_of(b2.stdout)
    assert first[1] == full[1], f"epoch 1 differs: {first[1]} vs {full[1]}"
    assert 1 not in resumed and resumed[2] == full[2], f"resumed epoch 2 {resumed.get(2)} vs {full[2]}"
    print("resume: epoch 2 identical:", resumed[2])

    # 3. bad input
    p = run(train, "--data", os.path.join(work, "nowhere"), "--epochs", "1", expect_ok=False)
    assert p.returncode == 1 and "nowhere" in p.stderr, p.stderr
    bad = os.path.join(work, "corrupt.safetensors")
    blob = bytearray(open(ck, "rb").read())
    blob[-5] ^= 0xFF
    open(bad, "wb").write(blob)
    p = run(train, *common, "--epochs", "1", "--resume", bad, expect_ok=False)
    assert p.returncode == 1 and "checksum" in p.stderr, p.stderr
    p = run(train, *common, "--model", "cnn", "--epochs", "1", "--resume", ck, expect_ok=False)
    assert p.returncode == 1 and ck in p.stderr, p.stderr
    p = run(train, *common, "--loss", "mse", "--epochs", "3", "--resume", ck, expect_ok=False)
    assert p.returncode == 1 and "--loss xent, not mse" in p.stderr, p.stderr
    print("bad inputs refused:", p.stderr.strip())
    print("train_e2e: all checks passed")


if __name__ == "__main__":
    main()
