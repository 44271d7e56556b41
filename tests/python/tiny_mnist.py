"""A tiny MNIST-format dataset for process-level tests of vkhalf-train (standard library only).

write_dataset(DIR, train=512, test=256, seed=0) writes {train,t10k}-{images-idx3,labels-idx1}-ubyte:
28x28 u8 images, 10 classes, each a random prototype plus uniform noise, so a run learns something
within a few steps and starts in a fraction of a second (no 60000-image decompression).
"""
import os
import random
import struct

ROWS = COLS = 28


def _write_idx(path, dims, payload):
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, len(dims)))  # magic: u8 data, rank
        f.write(struct.pack(f">{len(dims)}I", *dims))
        f.write(payload)


def write_dataset(directory, train=512, test=256, seed=0):
    os.makedirs(directory, exist_ok=True)
    rng = random.Random(seed)
    prototypes = [bytes(rng.randrange(256) for _ in range(ROWS * COLS)) for _ in range(10)]
    for split, count in (("train", train), ("t10k", test)):
        images = bytearray()
        labels = bytearray()
        for i in range(count):
            label = i % 10
            labels.append(label)
            images.extend(min(255, max(0, p + rng.randrange(-160, 161))) for p in prototypes[label])
        _write_idx(os.path.join(directory, f"{split}-images-idx3-ubyte"), (count, ROWS, COLS), bytes(images))
        _write_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte"), (count,), bytes(labels))
    return directory
