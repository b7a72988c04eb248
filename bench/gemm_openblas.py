#!/usr/bin/python3
"""Time float32 GEMM in numpy (OpenBLAS) the way `kioku bench gemm` does.

Usage: OPENBLAS_NUM_THREADS=T /usr/bin/python3 bench/gemm_openblas.py SHAPES [TIME] [REPS]

SHAPES uses kioku's syntax (comma-separated MxNxK with an optional t suffix
for a transposed, stored N×K B, or the groups squares and lstm). Prints one
JSON line per shape, {"m":..,"n":..,"k":..,"threads":T,"gflops":..}, where
GFLOP/s is the best of REPS repetitions each at least TIME/REPS seconds.
The thread count must be set in the environment before numpy starts, so
run the script once per thread count.
"""
import json
import os
import sys
import time

import numpy as np

SQUARES = [64, 128, 256, 512, 1024, 2048]
LSTM_M = [1, 20, 64, 1000]
LSTM_H = [200, 512, 650, 1024]


def parse_shapes(spec):
    out = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if item == "squares":
            out += [(n, n, n, False) for n in SQUARES]
        elif item == "lstm":
            out += [(m, 4 * h, h, True) for h in LSTM_H for m in LSTM_M]
        else:
            t = item.endswith("t")
            m, n, k = (int(v) for v in item.rstrip("t").split("x"))
            out.append((m, n, k, t))
    return out


def time_gemm(m, n, k, trans_b, min_time, reps):
    rng = np.random.default_rng(1)
    a = (rng.random((m, k), dtype=np.float32) * 2 - 1)
    b = (rng.random((n, k) if trans_b else (k, n), dtype=np.float32) * 2 - 1)
    c = np.empty((m, n), dtype=np.float32)
    bop = b.T if trans_b else b
    mul = lambda: np.matmul(a, bop, out=c)
    mul()
    per = min_time / reps
    iters = 1
    while True:
        start = time.perf_counter()
        for _ in range(iters):
            mul()
        d = time.perf_counter() - start
        if d >= per / 4 or iters >= 1 << 20:
            iters = max(1, int(iters * per / max(d, 1e-6)))
            break
        iters *= 4
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(iters):
            mul()
        best = min(best, time.perf_counter() - start)
    return 2.0 * m * n * k * iters / best / 1e9


def main():
    shapes = parse_shapes(sys.argv[1] if len(sys.argv) > 1 else "squares,lstm")
    min_time = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "0"))
    for m, n, k, t in shapes:
        g = time_gemm(m, n, k, t, min_time, reps)
        print(json.dumps({"m": m, "n": n, "k": k, "threads": threads, "gflops": g}), flush=True)


if __name__ == "__main__":
    main()
