#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/: small valid files
and one broken file for each way a file can be wrong. Deterministic (gzip mtime 0), so rerunning
it changes nothing unless this script changed. Files found by fuzzing (crashes turned regression
tests) live beside the seeds as regression-*; this script leaves them alone.

    scripts/make-fuzz-corpus.py            # rewrite the seeds
"""
import gzip
import json
import pathlib
import struct
import zlib

CORPUS = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fuzz" / "corpus"


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def idx(dims, data=None, type_code=0x08) -> bytes:
    n = 1
    for d in dims:
        n *= d
    if data is None:
        data = bytes((i * 37) % 256 for i in range(n))
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def idx_seeds():
    labels = idx([6], bytes([7, 2, 1, 0, 4, 9]))
    images = idx([2, 3, 4])
    plain_gz = gz(images)
    yield "valid-labels-rank1", labels
    yield "valid-images-rank3", images
    yield "valid-rank5", idx([1, 2, 1, 3, 2])
    yield "valid-labels-rank1.gz", gz(labels)
    yield "valid-images-rank3.gz", plain_gz
    yield "empty", b""
    yield "truncated-magic", images[:3]
    yield "truncated-dims", images[:9]
    yield "truncated-data", images[:-5]
    yield "trailing-bytes", images + b"\x00\x01\x02"
    yield "bad-magic", b"\x01\x00\x08\x01" + images[4:]
    yield "rank-zero", b"\x00\x00\x08\x00"
    yield "wrong-type-float32", idx([2], b"\x00" * 8, type_code=0x0D)
    yield "unknown-type", idx([2], b"\x00" * 2, type_code=0x42)
    yield "zero-dimension", idx([3, 0, 2], b"")
    yield "huge-dims-over-limit", bytes([0, 0, 8, 3]) + struct.pack(">III", 65536, 65536, 2) + b"\x00" * 16
    yield "huge-dim-tiny-file", bytes([0, 0, 8, 1]) + struct.pack(">I", 0x7FFFFFFF) + b"\x00" * 16
    yield "max-rank-truncated", bytes([0, 0, 8, 255]) + struct.pack(">I", 1) * 10
    yield "gzip-truncated", plain_gz[: len(plain_gz) // 2]
    yield "gzip-header-only", plain_gz[:10]
    corrupt = bytearray(plain_gz)
    corrupt[12] ^= 0xFF
    yield "gzip-corrupt-deflate", bytes(corrupt)
    bad_crc = bytearray(plain_gz)
    bad_crc[-8] ^= 0x01
    yield "gzip-bad-crc", bytes(bad_crc)
    yield "gzip-of-truncated-idx", gz(images[:-1])
    yield "gzip-of-trailing-bytes", gz(images + b"\x00")
    yield "gzip-then-garbage", plain_gz + b"garbage"
    yield "gzip-two-members", gz(images[:10]) + gz(images[10:])
    yield "gzip-magic-only", b"\x1f\x8b"


def safetensors(tensors, metadata=None, checksum=True, pad=True, raw_header=None, tail=b""):
    """tensors: list of (name, dtype, shape, data bytes) laid out in order."""
    header = {}
    meta = dict(metadata or {})
    data = b"".join(t[3] for t in tensors)
    if checksum:
        meta["vkhalf.crc32"] = "%08x" % zlib.crc32(data)
    if meta:
        header["__metadata__"] = meta
    offset = 0
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data + tail


def raw(header: bytes, data=b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def safetensors_seeds():
    w = struct.pack("<6f", 0, 1, 2, 3, 4, 5)
    b = struct.pack("<3e", 0.5, -1, 2)
    lab = struct.pack("<4I", 7, 0, 4294967295, 9)
    step = struct.pack("<q", -3)
    mixed = [("step", "I64", [], step), ("0.weight", "F32", [2, 3], w), ("labels", "U32", [4], lab),
             ("0.bias", "F16", [3], b)]
    yield "valid-mixed-checksum", safetensors(mixed, {"format": "pt"})
    yield "valid-no-metadata", safetensors(mixed, checksum=False)
    yield "valid-every-dtype", safetensors(
        [("a", "F64", [1], b"\x00" * 8), ("b", "U64", [1], b"\x01" * 8), ("c", "BF16", [2], b"\x80\x3f" * 2),
         ("d", "I16", [1], b"\xff\xff"), ("e", "U16", [1], b"\x01\x00"), ("f", "I32", [1], b"\x00" * 4),
         ("g", "I8", [2], b"\x80\x7f"), ("h", "U8", [1], b"\xff"), ("i", "BOOL", [2], b"\x00\x01")], {})
    yield "valid-empty-and-scalar", safetensors([("empty", "F32", [0, 3], b""), ("scalar", "F16", [], b"\x00\x3c")])
    yield "valid-no-tensors", safetensors([], {"format": "pt"})
    yield "valid-escaped-names", safetensors([("q\"\\\u00e9\u4e2d\U0001f600", "U8", [1], b"\x05")])
    yield "valid-whitespace-header", raw(b'{ "x" : { "dtype" : "U8" , "shape" : [ 2 ] , "data_offsets" : [ 0 , 2 ] } }\n\t ',
                                         b"\x01\x02")
    yield "valid-unicode-escapes", raw(b'{"\\u00e9\\ud83d\\ude00":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x09")
    good = safetensors(mixed, {"format": "pt"})
    yield "empty", b""
    yield "too-short", good[:5]
    yield "header-length-past-file", struct.pack("<Q", 1000) + b"{}"
    yield "header-length-over-limit", struct.pack("<Q", 100_000_001) + b"{}      "
    yield "header-length-max-u64", b"\xff" * 8 + b"{}"
    yield "header-not-object", raw(b"[1,2,3]")
    yield "header-not-brace", raw(b" {}")
    yield "header-invalid-json", raw(b'{"a":}')
    yield "header-truncated-json", raw(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]')
    yield "header-nested-deep", raw(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}")
    yield "header-bad-utf8", raw(b'{"\xff\xfe":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x00")
    yield "header-lone-surrogate", raw(b'{"\\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x00")
    yield "header-control-char", raw(b'{"a\x01":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x00")
    yield "header-trailing-text", raw(b'{} x')
    yield "duplicate-tensor", raw(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                                  b'"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"\x00\x00")
    yield "duplicate-field", raw(b'{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x00")
    yield "unknown-dtype", raw(b'{"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}', b"\x00")
    yield "dtype-not-string", raw(b'{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}', b"\x00" * 4)
    yield "unknown-field", raw(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}', b"\x00")
    yield "missing-offsets", raw(b'{"a":{"dtype":"U8","shape":[1]}}', b"\x00")
    yield "negative-shape", raw(b'{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', b"\x00")
    yield "float-shape", raw(b'{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}', b"\x00")
    yield "exponent-shape", raw(b'{"a":{"dtype":"U8","shape":[1e0],"data_offsets":[0,1]}}', b"\x00")
    yield "integer-overflow", raw(b'{"a":{"dtype":"U8","shape":[99999999999999999999],"data_offsets":[0,1]}}', b"\x00")
    yield "shape-product-overflow", raw(b'{"a":{"dtype":"F64","shape":[4294967296,4294967296,4],'
                                        b'"data_offsets":[0,8]}}', b"\x00" * 8)
    yield "shape-size-mismatch", raw(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', b"\x00" * 4)
    yield "offsets-three-entries", raw(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}', b"\x00")
    yield "offsets-end-before-begin", raw(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[2,1]}}', b"\x00\x00")
    yield "offsets-overlap", raw(b'{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
                                 b'"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', b"\x00" * 3)
    yield "offsets-hole", raw(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                              b'"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}', b"\x00" * 3)
    yield "offsets-past-file", raw(b'{"a":{"dtype":"U8","shape":[1000000],"data_offsets":[0,1000000]}}', b"\x00")
    yield "trailing-data", safetensors(mixed, tail=b"\x00\x00")
    yield "truncated-data", good[:-3]
    yield "checksum-mismatch", safetensors(mixed, {"vkhalf.crc32": "00000000"}, checksum=False)
    yield "checksum-not-hex", safetensors(mixed, {"vkhalf.crc32": "xyz"}, checksum=False)
    yield "metadata-not-object", raw(b'{"__metadata__":[1]}')
    yield "metadata-not-string", raw(b'{"__metadata__":{"format":1}}')


# C API programs for tests/fuzz/fuzz_capi.cpp: each byte picks an entry point or an argument (see
# Program there). dim(b): b % 16 -> 0: 0, 1: -1, 2: 2^40, else b - 2. value(b): b < 200 -> b / 50 - 2.
TENSOR, UPLOAD, DOWNLOAD, GEMM, CONV, ACTIVATION, GRAPH, MODEL, DATASET, TRAINER, TRAIN, PARAMS, DEVICE, FREE = range(14)


def dim(n):
    return {0: 0, -1: 1, 1 << 40: 2}.get(n, n + 2)


def tensor(slot, shape, dtype):  # dtype 0 f32, 1 f16, 2 u32
    return bytes([TENSOR, len(shape), *[dim(d) for d in shape], dtype, slot, 1])


def capi_seeds():
    gemm_tensors = tensor(0, [4, 3], 1) + tensor(1, [3, 5], 1) + tensor(2, [4, 5], 0)
    uploads = bytes([UPLOAD, 0, 0, 0, *range(60, 72), UPLOAD, 1, 0, 0, *range(80, 95)])
    yield "gemm", gemm_tensors + uploads + bytes([GEMM, 0, 100, 0, 1, 2, DOWNLOAD, 2, 0, 8, 1])
    yield "gemm-bias-relu-graph", gemm_tensors + tensor(3, [5], 1) + bytes(
        [GRAPH, 1, GEMM, 0x80 | 0x20 | 0x04, 3, 100, 0, 1, 2, GRAPH, 1, DOWNLOAD, 2, 0, 8, 1])
    yield "gemm-wrong-shapes", gemm_tensors + bytes([GEMM, 0x02, 100, 1, 1, 2, GEMM, 0x40, 0, 4, 2])
    yield "conv", tensor(0, [1, 2, 5, 5], 0) + tensor(1, [3, 2, 3, 3], 0) + tensor(2, [1, 3, 3, 3], 0) + bytes(
        [CONV, dim(1), dim(1), 1, 0, 1, 2, 0, 0, CONV, dim(1), dim(1), 1, 0, 1, 2, 3])
    yield "activations", tensor(0, [7], 1) + tensor(1, [7], 1) + tensor(2, [7], 1) + bytes(
        [UPLOAD, 0, 0, 0, *range(90, 97), ACTIVATION, 1, 0, 1, 2, 0, ACTIVATION, 2, 2, 0, 1, 2, ACTIVATION, 3, 1, 1, 0, 2])
    model = bytes([MODEL, dim(4), dim(3), 0, MODEL, 0, 0, 1, 0, MODEL, dim(3), dim(2), 0])
    dataset = bytes([DATASET, dim(8), dim(4), 2, 100, 0, 1, 0, 1, 0, 1, 0, 1])
    trainer = bytes([TRAINER, dim(4), 0, 2, 0, 101])
    yield "train", model + dataset + trainer + bytes([TRAIN, 0, TRAIN, 0, TRAIN, 1, 1, 1, TRAIN, 2, PARAMS, 1, 0, 12, *range(100, 112), 0, 16])
    yield "train-fp32-sgd", model + dataset + bytes([TRAINER, dim(8), 1, 0, 2, 110, TRAIN, 0, TRAIN, 3, 1, TRAIN, 0, TRAIN, 1, 0, 1])
    yield "free-and-reuse", model + dataset + trainer + bytes([FREE, 4, FREE, 5, TRAIN, 0, FREE, 6, TRAIN, 0, DEVICE, 0, 1, 1, 1, 1])
    yield "odd-arguments", bytes([TENSOR, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 0, 0, TENSOR, 2, 2, 2, 0, 1, 1,
                                  UPLOAD, 4, 3, 0, DOWNLOAD, 5, 3, 9, 0, DEVICE, 2, 0, 0, 0, 0])


def main():
    for target, seeds in (("idx", idx_seeds()), ("safetensors", safetensors_seeds()), ("capi", capi_seeds())):
        directory = CORPUS / target
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("seed-*"):
            old.unlink()
        count = 0
        for name, data in seeds:
            (directory / f"seed-{name}").write_bytes(data)
            count += 1
        print(f"{directory}: {count} seeds")


if __name__ == "__main__":
    main()
