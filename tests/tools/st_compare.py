#!/usr/bin/python3
"""Compares the tensors of a safetensors file with a reference file.

  st_compare.py GOT REF PREFIX RTOL ATOL_OF_MAX

Every tensor NAME of GOT must be in REF as PREFIX + NAME, with the same shape, and
every value within rtol * |ref| + atol_of_max * max|ref tensor|. Prints the worst
relative error (over values above 1% of the tensor's largest) and absolute error
of each tensor; exits 1 on any failure. Reads safetensors itself (F32, F64, F16).
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I32": np.int32, "I64": np.int64,
          "U8": np.uint8}


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return out


def main():
    got_path, ref_path, prefix, rtol, atol_of_max = sys.argv[1:6]
    rtol, atol_of_max = float(rtol), float(atol_of_max)
    got, ref = load(got_path), load(ref_path)
    bad = 0
    for name, g in sorted(got.items()):
        r = ref.get(prefix + name)
        if r is None or r.shape != g.shape:
            print(f"{name}: missing from the reference or of another shape")
            bad += 1
            continue
        g, r = g.astype(np.float64), r.astype(np.float64)
        mx = np.abs(r).max()
        err = np.abs(g - r)
        big = np.abs(r) > 0.01 * mx
        rel = (err[big] / np.abs(r[big])).max() if big.any() else 0.0
        outside = int((err > rtol * np.abs(r) + atol_of_max * mx).sum())
        print(f"{name}: worst rel {rel:.3g}, worst abs {err.max():.3g} (max {mx:.3g}), "
              f"{outside} outside")
        bad += outside > 0
    print(f"{len(got)} tensors, {bad} failed")
    return 1 if bad or not got else 0


if __name__ == "__main__":
    sys.exit(main())
