"""Markdown CCC table of models evaluated over several seeds: mean ± sd and a 95 % CI.

    python bench/seed_table.py --partitions devel,test \
        --row "disentangled attention=runs/s0/evaluation_best,runs/s1/...,runs/s2/..." \
        --row "AVEC 2017 baseline=runs/demo/baseline"

Each `--row NAME=DIR[,DIR...]` names evaluation directories (or evaluation.json files) written
by `emotion_tf.evaluate` / `emotion_tf.baseline`, one per seed. Per partition and dimension it
prints the mean over seeds ± the sample sd (ddof 1; no sd for one seed) and, in brackets, the
95 % percentile bootstrap interval of the seed-mean CCC over recordings (the same recordings
drawn for every seed; `emotion_tf.training.stats`, 1000 resamples, seed 0). Prints figures
only; asserts nothing.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from emotion_tf import LABEL_NAMES  # noqa: E402
from emotion_tf.training import stats  # noqa: E402


def _summary(path: str) -> dict:
  if os.path.isdir(path):
    path = os.path.join(path, "evaluation.json")
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def row_cells(dirs: list[str], partition: str, resamples: int) -> list[str]:
  """['mean ± sd [lo, hi]' per label and for the mean over labels] of one model's seeds."""
  seed_stats, values = [], []
  ids0 = None
  for d in dirs:
    entry = _summary(d)["partitions"][partition]
    ids, st = stats.summary_statistics(entry)
    if ids0 is not None and ids != ids0:
      raise ValueError(f"{d}: {partition} recordings differ from the first seed's")
    ids0 = ids
    seed_stats.append(st)
    ccc = stats.point_ccc(st)
    values.append(list(ccc) + [float(np.mean(ccc))])
  values = np.asarray(values)
  ci = stats.bootstrap_ccc_ci(np.stack(seed_stats), resamples, seed=0)["ci"]  # seed-mean CCC
  lo_hi = np.array([ci[k] for k in list(LABEL_NAMES) + ["mean"]]).T  # [2, dims + 1]
  cells = []
  for k in range(len(LABEL_NAMES) + 1):
    mean = values[:, k].mean()
    sd = f" ± {values[:, k].std(ddof=1):.3f}" if len(dirs) > 1 else ""
    lo, hi = lo_hi[:, k]
    cells.append(f"{mean:.3f}{sd} [{lo:.3f}, {hi:.3f}]")
  return cells


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--row", action="append", required=True, help="NAME=DIR[,DIR...]")
  parser.add_argument("--partitions", default="devel,test")
  parser.add_argument("--resamples", type=int, default=1000)
  a = parser.parse_args()
  print("| model | partition | " + " | ".join(LABEL_NAMES) + " | mean |")
  print("|---|---|" + "---|" * (len(LABEL_NAMES) + 1))
  for spec in a.row:
    name, _, dirs = spec.partition("=")
    for partition in a.partitions.split(","):
      cells = row_cells(dirs.split(","), partition, a.resamples)
      print(f"| {name} | {partition.capitalize()} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  main()
