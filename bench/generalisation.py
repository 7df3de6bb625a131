"""The full pipeline vs the eGeMAPS baseline on one corpus, several seeds.

    .venv/bin/python bench/generalisation.py --corpus DIR --text TEXT --work DIR \
        [--extra_corpus DIR] [--timings uniform|aligned|DIR] [--seeds 0,1,2] \
        [--variants paralinguistic,disentangled_attention] [--train_args "--max_steps 600"]

Runs, through the binaries a user runs (each step skipped when its output exists, so a
rerun resumes): word timings (given dir, forced alignment, or the writer's uniform split),
Word2Vec on TEXT, Speech2Vec, alignment, TFRecords, then for every variant and seed
`emotion_tf.train` + `emotion_tf.evaluate` (Test; raw, and with `--postprocess devel`: shift
and smoothing chosen on Devel), and the eGeMAPS baseline. Prints Test CCC per dimension (mean
± sd over seeds, sd with ddof 1) and, for each model vs the baseline and for the variants
against each other, the paired bootstrap 95 % CI of the CCC difference
(emotion_tf.training.stats): the
difference of seed-mean CCCs, the same resampled Test recordings for both models and every
seed (seeds themselves are not resampled). A model "beats the baseline" when that CI lies
above 0. Prints figures only; asserts nothing.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from emotion_tf.training import stats

NAMES = ("arousal", "valence", "liking")


def _run(cmd, marker, log):
  if marker and os.path.exists(marker):
    return
  t0 = time.time()
  print(f"[....] {' '.join(cmd[2:5])} ...", flush=True)
  with open(log, "a") as f:
    f.write("\n$ " + " ".join(cmd) + "\n")
    f.flush()
    rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
  if rc != 0:
    sys.exit(f"failed (rc {rc}): {' '.join(cmd)} — see {log}")
  print(f"[ ok ] {time.time() - t0:.0f} s", flush=True)


def _test_ccc(summary_path):
  with open(summary_path) as f:
    s = json.load(f)
  r = s["partitions"]["test"]
  return [r["ccc"][n] for n in NAMES]


def _test_statistics(summary_path):
  """(recording ids, [R, 6, 3]) of the Test partition of an evaluation.json, or None when it
  predates the stored per-recording statistics."""
  with open(summary_path) as f:
    r = json.load(f)["partitions"]["test"]
  try:
    return stats.summary_statistics(r)
  except ValueError:
    return None


def paired_rows(a_name, a_stats, b_name, b_stats, resamples):
  """Printed lines of the paired bootstrap of A - B (stats: lists of per-seed
  (ids, [R, 6, 3]) or None), or a line saying why there is none."""
  label = f"  {a_name} - {b_name}"
  if any(x is None for x in a_stats + b_stats):
    return [f"{label}: no per-recording statistics (re-run evaluate)"]
  ids = a_stats[0][0]
  if any(x[0] != ids for x in a_stats + b_stats):
    return [f"{label}: not paired (different Test recordings)"]
  try:
    d = stats.paired_bootstrap_diff(
      np.stack([x[1] for x in a_stats]), np.stack([x[1] for x in b_stats]), resamples
    )
  except ValueError as e:
    return [f"{label}: not paired ({e})"]
  keys = list(NAMES) + ["mean"]
  return [
    f"{label:<34}"
    + "".join(f"{d['value'][k]:>+8.3f} [{d['ci'][k][0]:+.3f},{d['ci'][k][1]:+.3f}]" for k in keys)
  ]


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--corpus", required=True)
  p.add_argument("--text", required=True, help="text corpus for Word2Vec")
  p.add_argument("--work", required=True)
  p.add_argument("--extra_corpus", default="", help="unlabelled speech for Speech2Vec")
  p.add_argument(
    "--timings",
    default="aligned",
    help="'uniform', 'aligned' (data_prep.align_words) or a timings directory",
  )
  p.add_argument("--seeds", default="0,1,2")
  p.add_argument("--variants", default="paralinguistic,disentangled_attention")
  p.add_argument("--train_args", default="", help="extra flags for emotion_tf.train")
  p.add_argument("--s2v_args", default="", help="extra flags for train_speech2vec")
  p.add_argument("--skip_baseline", action="store_true")
  p.add_argument(
    "--bootstrap_resamples",
    type=int,
    default=1000,
    help="resamples of the paired bootstrap over Test recordings; 0 = none",
  )
  a = p.parse_args()
  py = sys.executable
  w = os.path.abspath(a.work)
  os.makedirs(w, exist_ok=True)
  log = os.path.join(w, "generalisation.log")
  timings = []
  if a.timings == "aligned":
    _run(
      [
        py,
        "-m",
        "data_prep.align_words",
        "--corpus",
        a.corpus,
        "--out",
        os.path.join(w, "word_timings"),
      ],
      os.path.join(w, "word_timings"),
      log,
    )
    timings = ["--word_timings", os.path.join(w, "word_timings")]
  elif a.timings != "uniform":
    timings = ["--word_timings", a.timings]
  _run(
    [
      py,
      "-m",
      "data_prep.train_word2vec",
      "--text",
      a.text,
      "--out",
      os.path.join(w, "word2vec.vec"),
    ],
    os.path.join(w, "word2vec.vec"),
    log,
  )
  extra = ["--extra_corpus", a.extra_corpus] if a.extra_corpus else []
  _run(
    [
      py,
      "-m",
      "data_prep.train_speech2vec",
      "--corpus",
      a.corpus,
      "--out",
      os.path.join(w, "speech2vec"),
    ]
    + timings
    + extra
    + a.s2v_args.split(),
    os.path.join(w, "speech2vec", "speech2vec.vec"),
    log,
  )
  _run(
    [
      py,
      "-m",
      "data_prep.align_embeddings",
      "--speech",
      os.path.join(w, "speech2vec", "speech2vec.vec"),
      "--text",
      os.path.join(w, "word2vec.vec"),
      "--out",
      os.path.join(w, "alignment"),
    ],
    os.path.join(w, "alignment", "aligned_speech2vec.vec"),
    log,
  )
  data = os.path.join(w, "tfrecords")
  _run(
    [
      py,
      "-m",
      "data_prep.write_tfrecords",
      "--corpus",
      a.corpus,
      "--embeddings",
      os.path.join(w, "alignment", "aligned_speech2vec.vec"),
      "--out",
      data,
    ]
    + timings,
    os.path.join(data, "metadata.json"),
    log,
  )
  rows, row_stats = {}, {}
  for variant in a.variants.split(","):
    scores, post_scores, st, post_st = [], [], [], []
    for seed in a.seeds.split(","):
      model_dir = os.path.join(w, f"model_{variant}_s{seed}")
      _run(
        [
          py,
          "-m",
          "emotion_tf.train",
          "--data_dir",
          data,
          "--model_dir",
          model_dir,
          "--variant",
          variant,
          "--seed",
          seed,
        ]
        + a.train_args.split(),
        os.path.join(model_dir, "last.keras"),
        log,
      )
      summary = os.path.join(model_dir, "evaluation_best", "evaluation.json")
      _run(
        [
          py,
          "-m",
          "emotion_tf.evaluate",
          "--model_dir",
          model_dir,
          "--data_dir",
          data,
          "--partitions",
          "Test",
        ],
        summary,
        log,
      )
      post_dir = os.path.join(model_dir, "evaluation_best_postprocessed")
      _run(
        [
          py,
          "-m",
          "emotion_tf.evaluate",
          "--model_dir",
          model_dir,
          "--data_dir",
          data,
          "--partitions",
          "Test",
          "--postprocess",
          "devel",
          "--out",
          post_dir,
        ],
        os.path.join(post_dir, "evaluation.json"),
        log,
      )
      scores.append(_test_ccc(summary))
      post_scores.append(_test_ccc(os.path.join(post_dir, "evaluation.json")))
      st.append(_test_statistics(summary))
      post_st.append(_test_statistics(os.path.join(post_dir, "evaluation.json")))
    rows[variant] = np.array(scores)
    rows[variant + " + post-proc."] = np.array(post_scores)
    row_stats[variant], row_stats[variant + " + post-proc."] = st, post_st
  base = base_stats = None
  if not a.skip_baseline:
    out = os.path.join(w, "baseline")
    _run(
      [py, "-m", "emotion_tf.baseline", "--corpus", a.corpus, "--out", out],
      os.path.join(out, "evaluation.json"),
      log,
    )
    base = np.array(_test_ccc(os.path.join(out, "evaluation.json")))
    base_stats = [_test_statistics(os.path.join(out, "evaluation.json"))]
  print(f"\nTest CCC on {a.corpus} (timings: {a.timings}; mean ± sd over seeds {a.seeds})")
  print(f"{'model':<34}" + "".join(f"{n:>15}" for n in NAMES + ("mean",)))
  if base is not None:
    print(
      f"{'eGeMAPS + ridge baseline':<34}"
      + "".join(f"{v:>15.3f}" for v in list(base) + [base.mean()])
    )
  for variant, s in rows.items():
    full = np.concatenate([s, s.mean(axis=1, keepdims=True)], axis=1)
    m = full.mean(axis=0)
    sd = full.std(axis=0, ddof=1) if len(full) > 1 else np.zeros_like(m)
    print(f"{variant:<34}" + "".join(f"{x:>9.3f}±{y:.3f}" for x, y in zip(m, sd, strict=False)))
  if not a.bootstrap_resamples:
    return
  print(
    f"\nPaired bootstrap: A - B of seed-mean Test CCC [95 % CI over Test recordings, "
    f"{a.bootstrap_resamples} resamples]; A beats B where the CI lies above 0"
  )
  names = list(rows)
  for variant in names:
    if base_stats is not None:
      for line in paired_rows(
        variant, row_stats[variant], "baseline", base_stats, a.bootstrap_resamples
      ):
        print(line)
  plain = [n for n in names if not n.endswith("post-proc.")]
  for i, first in enumerate(plain):
    for second in plain[i + 1 :]:
      for line in paired_rows(
        second, row_stats[second], first, row_stats[first], a.bootstrap_resamples
      ):
        print(line)


if __name__ == "__main__":
  main()
