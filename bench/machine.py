"""What every benchmark prints first: the CPU model and a numpy float32 matmul GFLOP/s.

Ratios between machines differ by CPU class (a train-step/matmul ratio of 0.88 on one machine
here and 0.31 on another), so each bench reports the machine it ran on and a reference
throughput measured in the same run:

    from machine import describe   # bench/ is on sys.path when a bench script runs
    print(describe())
"""

import os
import platform
import statistics
import time

import numpy as np


def cpu_model() -> str:
  """The CPU's model name (from /proc/cpuinfo on Linux, else platform.processor())."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown CPU"


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
  """Median float32 GFLOP/s of an n x n numpy matmul (2 n^3 FLOPs each)."""
  a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
  b = a.copy()
  a @ b  # warm-up
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - t)
  return 2 * n**3 / statistics.median(times) / 1e9


def describe() -> str:
  """One line: CPU model, logical cores, numpy float32 matmul GFLOP/s."""
  return (
    f"machine: {cpu_model()}, {os.cpu_count()} logical cores, "
    f"numpy float32 matmul 2048^2 {matmul_gflops():.1f} GFLOP/s"
  )


if __name__ == "__main__":
  print(describe())
