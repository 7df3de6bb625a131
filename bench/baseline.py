"""Prints the AVEC 2017 baseline's Devel and Test CCC on a corpus (the paper's Table 4 row).

    python bench/baseline.py --corpus DIR [--out DIR] [--window_seconds 1,2,4,6,8]
        [--delay_seconds 0,1,2] [--alphas ...] [--svr_cs ...] [--cache_dir DIR]

Runs `baseline_lib.run_baseline` (eGeMAPS LLDs cached under <out>/llds, so a rerun only
re-tunes), then prints CCC per dimension and mean for Devel and Test, the setting chosen per
dimension, the best Devel CCC of ridge alone and SVR alone, and the time of each stage.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from emotion_tf import LABEL_NAMES
from emotion_tf.experiments import baseline_lib as bl


def _floats(text):
  return [float(v) for v in text.split(",") if v.strip()]


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--corpus", required=True)
  p.add_argument("--out", default="", help="default: a temp dir (no LLD cache kept)")
  p.add_argument("--window_seconds", default=",".join(map(str, bl.DEFAULT_WINDOWS)))
  p.add_argument("--delay_seconds", default=",".join(map(str, bl.DEFAULT_DELAYS)))
  p.add_argument("--alphas", default=",".join(map(str, bl.DEFAULT_ALPHAS)))
  p.add_argument("--svr_cs", default=",".join(map(str, bl.DEFAULT_SVR_CS)))
  p.add_argument("--anchor", default="centre", choices=bl.ANCHORS)
  p.add_argument("--sample_rate", type=int, default=22050)
  p.add_argument("--cache_dir", default="", help="LLD cache; default <out>/llds")
  a = p.parse_args()
  out = a.out or tempfile.mkdtemp(prefix="baseline-")
  settings = bl.grid(
    _floats(a.window_seconds),
    _floats(a.delay_seconds),
    _floats(a.alphas),
    _floats(a.svr_cs),
    a.anchor,
  )
  cache = a.cache_dir or os.path.join(out, "llds")
  t0 = time.time()
  data, errors = bl.load_corpus_data(a.corpus, ["train", "devel", "test"], a.sample_rate, cache)
  t_llds = time.time() - t0
  t0 = time.time()
  summary = bl.run_baseline(a.corpus, out, ["devel", "test"], settings, a.sample_rate, cache)
  t_run = time.time() - t0
  audio_s = sum(r.label_times[-1] + 0.1 for part in data.values() for r in part.values())
  print(f"\nAVEC 2017 baseline (eGeMAPS LLD mean+std, ridge/LinearSVR) on {a.corpus}")
  print(
    "recordings: "
    + ", ".join(f"{p} {len(d)}" for p, d in data.items())
    + (f"; left out: {sorted(errors)}" if errors else "")
  )
  print(f"{'partition':<10}" + "".join(f"{n:>10}" for n in list(LABEL_NAMES) + ["mean"]))
  for part, r in summary["partitions"].items():
    values = [r["ccc"][n] for n in LABEL_NAMES] + [r["ccc_mean"]]
    print(f"{part.capitalize():<10}" + "".join(f"{v:>10.3f}" for v in values))
  print(bl.format_summary(summary).split("\n", 1 + len(summary["partitions"]))[-1])
  import json

  with open(os.path.join(out, bl.MODEL_FILENAME), encoding="utf-8") as f:
    table = json.load(f)["devel_grid"]
  for reg in bl.REGRESSORS:
    rows = [t for t in table if t["setting"]["regressor"] == reg]
    if rows:
      best = [max(t["ccc"][n] for t in rows) for n in LABEL_NAMES]
      print(
        f"best Devel CCC, {reg:<5} only: "
        + "  ".join(f"{n} {v:.3f}" for n, v in zip(LABEL_NAMES, best, strict=False))
      )
  print(
    f"grid {len(settings)} settings; LLDs of {audio_s / 60:.1f} min audio {t_llds:.1f} s "
    f"(cached on rerun); tuning + evaluation {t_run:.1f} s; outputs in {out}"
  )


if __name__ == "__main__":
  main()
