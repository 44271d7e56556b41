#!/usr/bin/env python3
"""An independent safetensors reader, to check vkhalf's writer against the format rather than
against vkhalf's own reader. Plain Python 3 standard library, nothing else.

    read_safetensors.py FILE [--check-layout] [--require-crc32] [--expect NAME=DTYPE:SHAPE:VALUES]...

Validates every invariant of the format (header length, strict JSON header, known dtypes, data
offsets that tile the data section exactly, unique names), the "vkhalf.crc32" checksum when
present, and with --check-layout the reference writer's layout (header padded with spaces to a
multiple of 8, tensors sorted by dtype alignment then name). Prints each tensor's name, dtype,
shape and first values. --expect checks one tensor exactly, e.g. "0.bias=F16:3:0.5,-1,2" (SHAPE
empty for a scalar). Exits 1 naming the first violation.
"""
import argparse
import json
import struct
import sys
import zlib

MAX_HEADER = 100_000_000
CRC_KEY = "vkhalf.crc32"
# name -> (struct code, itemsize), in the reference implementation's order: alignment ascending,
# equal alignments in its fixed order. The writer sorts by position here (descending), then name.
DTYPES = {
    "BOOL": ("?", 1), "U8": ("B", 1), "I8": ("b", 1), "I16": ("h", 2), "U16": ("H", 2),
    "F16": ("e", 2), "BF16": (None, 2), "I32": ("i", 4), "U32": ("I", 4), "F32": ("f", 4),
    "F64": ("d", 8), "I64": ("q", 8), "U64": ("Q", 8),
}
DTYPE_ORDER = list(DTYPES)


class Invalid(Exception):
    pass


def strict_object(pairs):
    keys = [k for k, _ in pairs]
    for k in keys:
        if keys.count(k) > 1:
            raise Invalid(f"duplicate key {k!r}")
    return dict(pairs)


def reject_constant(name):
    raise Invalid(f"non-JSON constant {name}")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def decode(dtype, data):
    code, size = DTYPES[dtype]
    count = len(data) // size
    if dtype == "BF16":
        halves = struct.unpack(f"<{count}H", data)
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]
    if dtype == "BOOL" and any(b > 1 for b in data):
        raise Invalid("BOOL data holds a byte other than 0 or 1")
    return list(struct.unpack(f"<{count}{code}", data))


def read(path, check_layout):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise Invalid(f"file is {len(blob)} bytes, too short for the header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER:
        raise Invalid(f"header length {n} exceeds {MAX_HEADER}")
    if 8 + n > len(blob):
        raise Invalid(f"header length {n} exceeds the file ({len(blob)} bytes)")
    raw = blob[8:8 + n]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid(f"header is not UTF-8: {e}")
    if not text.startswith("{"):
        raise Invalid("header does not start with '{'")
    try:
        header = json.loads(text, object_pairs_hook=strict_object, parse_constant=reject_constant)
    except (json.JSONDecodeError, RecursionError) as e:
        raise Invalid(f"header is not valid JSON: {e}")
    if not isinstance(header, dict):
        raise Invalid("header is not an object")

    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise Invalid("__metadata__ is not an object of strings")

    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise Invalid(f"tensor {name!r}: need exactly dtype, shape, data_offsets, got {info!r}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            raise Invalid(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(is_int(d) and d >= 0 for d in shape):
            raise Invalid(f"tensor {name!r}: bad shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(is_int(o) and o >= 0 for o in offsets)
                or offsets[1] < offsets[0]):
            raise Invalid(f"tensor {name!r}: bad data_offsets {offsets!r}")
        numel = 1
        for d in shape:
            numel *= d
        if offsets[1] - offsets[0] != numel * DTYPES[dtype][1]:
            raise Invalid(f"tensor {name!r}: data_offsets {offsets} do not hold {dtype} {shape}")
        entries.append((offsets[0], offsets[1], name, dtype, shape))

    entries.sort(key=lambda e: (e[0], e[1]))
    data = blob[8 + n:]
    end = 0
    for begin, stop, name, _, _ in entries:
        if begin != end:
            raise Invalid(f"tensor {name!r} starts at {begin}, expected {end} (hole or overlap)")
        end = stop
    if end != len(data):
        raise Invalid(f"tensors end at {end}, the data section holds {len(data)} bytes")

    if CRC_KEY in metadata:
        stored = metadata[CRC_KEY]
        if len(stored) != 8 or any(c not in "0123456789abcdefABCDEF" for c in stored):
            raise Invalid(f"{CRC_KEY} {stored!r} is not 8 hex digits")
        actual = zlib.crc32(data)
        if int(stored, 16) != actual:
            raise Invalid(f"checksum mismatch: {CRC_KEY} {stored}, data {actual:08x}")

    if check_layout:
        if n % 8 != 0:
            raise Invalid(f"header length {n} is not a multiple of 8")
        if text.rstrip(" ") != text.rstrip():
            raise Invalid("header padding is not spaces only")
        want = sorted(entries, key=lambda e: (-DTYPE_ORDER.index(e[3]), e[2]))
        if [e[2] for e in want] != [e[2] for e in entries]:
            raise Invalid(f"tensors are not in the writer's order: {[e[2] for e in want]}")
        if metadata.get("format") is None:
            raise Invalid("metadata has no 'format'")

    tensors = {name: (dtype, shape, decode(dtype, data[begin:stop])) for begin, stop, name, dtype, shape in entries}
    return metadata, tensors


def check_expectation(spec, tensors):
    try:
        name, rest = spec.split("=", 1)
        dtype, shape_text, values_text = rest.split(":")
        shape = [int(d) for d in shape_text.split(",")] if shape_text else []
        values = [float(v) for v in values_text.split(",")] if values_text else []
    except ValueError:
        raise SystemExit(f"read_safetensors.py: bad --expect {spec!r}, want NAME=DTYPE:SHAPE:VALUES")
    if name not in tensors:
        raise Invalid(f"expected tensor {name!r} is missing")
    got_dtype, got_shape, got_values = tensors[name]
    if (got_dtype, got_shape) != (dtype, shape):
        raise Invalid(f"tensor {name!r} is {got_dtype} {got_shape}, expected {dtype} {shape}")
    if [float(v) for v in got_values] != values:
        raise Invalid(f"tensor {name!r} holds {got_values}, expected {values}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--check-layout", action="store_true", help="also check the reference writer's layout")
    parser.add_argument("--require-crc32", action="store_true", help=f"fail when metadata has no {CRC_KEY}")
    parser.add_argument("--expect", action="append", default=[], metavar="NAME=DTYPE:SHAPE:VALUES")
    args = parser.parse_args()
    try:
        metadata, tensors = read(args.file, args.check_layout)
        if args.require_crc32 and CRC_KEY not in metadata:
            raise Invalid(f"metadata has no {CRC_KEY}")
        print(f"{args.file}: {len(tensors)} tensors, metadata {json.dumps(metadata, sort_keys=True)}")
        for name, (dtype, shape, values) in tensors.items():
            more = ", ..." if len(values) > 8 else ""
            print(f"  {name}: {dtype} {shape} [{', '.join(repr(v) for v in values[:8])}{more}]")
        for spec in args.expect:
            check_expectation(spec, tensors)
    except (Invalid, OSError) as e:
        print(f"read_safetensors.py: {args.file}: {e}", file=sys.stderr)
        return 1
    if args.expect:
        print(f"all {len(args.expect)} expectations met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
