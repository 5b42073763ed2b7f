#!/usr/bin/python3
"""Python reference for bench/noise.sh: the same operation as pv-noise, the way a
Python pipeline does it. For each image: Pillow decode to RGB, numpy float32 CHW in
[0, 1], POVID's schedule at t=500, x_t = sqrt(ab) x0 + sqrt(1-ab) eps with numpy
normals, clamp, round, Pillow PNG encode (compress_level as given; Pillow's default
is 6). Prints images per second (wall clock) and CPU milliseconds per image,
both without the interpreter's start-up.

usage: noise_ref.py OUT_DIR COMPRESS_LEVEL IMAGE..."""
import os
import sys
import time

import numpy as np
from PIL import Image


def main():
    out_dir, level, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    x = np.linspace(-6, 6, 1000, dtype=np.float32)
    betas = 1 / (1 + np.exp(-x)) * np.float32(5e-3 - 1e-5) + np.float32(1e-5)
    ab = np.cumprod(1 - betas, dtype=np.float32)
    a, b = np.sqrt(ab[500]), np.sqrt(np.float32(1) - ab[500])
    rng = np.random.default_rng(0)
    start, cpu = time.perf_counter(), time.process_time()
    for i, p in enumerate(paths):
        x0 = np.asarray(Image.open(p).convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / np.float32(255)
        eps = rng.standard_normal(x0.shape, dtype=np.float32)
        xt = a * x0 + b * eps
        pixels = np.rint(np.clip(xt, 0, 1) * np.float32(255)).astype(np.uint8).transpose(1, 2, 0)
        Image.fromarray(pixels).save(os.path.join(out_dir, "%d.png" % i), compress_level=level)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print("%.2f %.1f" % (len(paths) / elapsed, 1000 * cpu / len(paths)))


if __name__ == "__main__":
    main()
