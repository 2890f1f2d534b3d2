"""Cost of one linear layer of qwen2.5-coder-0.5b (896 -> 4864) against the number of rows, bf16 vs float32.

Explains when a second decoding stream (Amulet, LA: one extra row per question) is nearly free: where the
time per product stays flat as rows grow. Prints the time per product and its ratio to the 1-row product
of the same dtype, and writes benchmarks/results/matmul_rows.json.

    python benchmarks/matmul_rows.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch


def time_linear(rows: int, dtype: torch.dtype, repeats: int, d_in: int = 896, d_out: int = 4864) -> float:
    """Best of 3 rounds of the mean time (ms) of F.linear on [rows, d_in] x [d_out, d_in]."""
    weight = torch.randn(d_out, d_in, dtype=dtype)
    x = torch.randn(rows, d_in, dtype=dtype)
    for _ in range(20):
        torch.nn.functional.linear(x, weight)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            torch.nn.functional.linear(x, weight)
        best = min(best, (time.perf_counter() - start) / repeats * 1e3)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1,2,4,8,16")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/matmul_rows.json")
    args = parser.parse_args()
    rows = [int(r) for r in args.rows.split(",")]
    results = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                           "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                           "load_average_before": os.getloadavg()},
               "torch": torch.__version__, "layer": "896 -> 4864", "figure": "best of 3 rounds, ms per product",
               "ms": {}}
    for dtype in (torch.bfloat16, torch.float32):
        times = {r: time_linear(r, dtype, args.repeats) for r in rows}
        results["ms"][str(dtype)] = times
        print(f"{str(dtype):>15}: " + "  ".join(f"{r} rows {t:.2f} ms ({t / times[rows[0]]:.2f}x)"
                                                for r, t in times.items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
