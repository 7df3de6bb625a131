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

`--controls` (meaning vs identity, emotion_tf/semantic/controls.py) adds two disentangled-
attention rows on the same TFRecords: a seeded random unit vector per word type (identity
only) and the Word2Vec vector of each word (the text upper bound), swapped in through the
shards' word_index (`--embeddings`). Every row also prints its Test unseen-word valence
(emotion_tf/training/unseen_words.py: valence CCC on the frames whose word never occurs in
Train), and
the alignment's P@1/P@5 on held-out words (alignment.json) is printed. For the 'zipf' corpus
(`data_prep.synthesize --design zipf`), no embedding may see Devel/Test audio:
  --timings <corpus>/word_timings --s2v_args "--embed_partitions train" --controls
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_model, matmul_gflops  # noqa: E402

from emotion_tf.semantic import controls  # noqa: E402
from emotion_tf.training import (
  stats,  # noqa: E402
  train_lib,  # noqa: E402
)

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


def _test_unseen_valence(summary_path):
  """Test unseen-word valence CCC of an evaluation.json (None when absent)."""
  with open(summary_path) as f:
    r = json.load(f)["partitions"]["test"]
  return (((r.get("unseen_words") or {}).get("unseen") or {}).get("ccc") or {}).get("valence")


def _train_and_evaluate(py, w, data, key, variant, embeddings, seeds, train_args, log):
  """Trains and evaluates one row over seeds; returns {'raw', 'post': Test CCC [S, 3],
  'raw_stats', 'post_stats': per-seed statistics, 'unseen': [S] unseen-word valence}."""
  emb = ["--embeddings", embeddings] if embeddings else []
  out = {"raw": [], "post": [], "raw_stats": [], "post_stats": [], "unseen": []}
  for seed in seeds:
    model_dir = os.path.join(w, f"model_{key}_s{seed}")
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
      + emb
      + train_args,
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
      ]
      + emb,
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
      ]
      + emb,
      os.path.join(post_dir, "evaluation.json"),
      log,
    )
    out["raw"].append(_test_ccc(summary))
    out["post"].append(_test_ccc(os.path.join(post_dir, "evaluation.json")))
    out["raw_stats"].append(_test_statistics(summary))
    out["post_stats"].append(_test_statistics(os.path.join(post_dir, "evaluation.json")))
    out["unseen"].append(_test_unseen_valence(summary))
  return out


def _control_rows(a, w, data):
  """(key, label, variant, embeddings) of the meaning-vs-identity controls (`--controls`)."""
  aligned = os.path.join(w, "alignment", "aligned_speech2vec.vec")
  random_vec = os.path.join(w, "controls", f"seed_{a.control_seed}", controls.RANDOM_VEC)
  if not os.path.exists(random_vec):
    controls.write_random_vec(
      data, random_vec, train_lib.semantic_dim_of(data, aligned), a.control_seed
    )
  v = a.control_variant
  return [
    (f"{v}_random_control", f"{v} + random vector per word", v, random_vec),
    (f"{v}_word2vec_lookup", f"{v} + Word2Vec lookup", v, os.path.join(w, "word2vec.vec")),
  ]


def _print_alignment(w):
  path = os.path.join(w, "alignment", "alignment.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    r = json.load(f)
  for name in ("supervised", "unsupervised"):
    x = r.get(name) or {}
    if "csls_p@1" in x:
      print(
        f"alignment {name}{' (written)' if r.get('written') == name else ''}: "
        f"{r['eval_words']} held-out words, P@1 {x['csls_p@1']:.3f} CSLS / "
        f"{x['nn_p@1']:.3f} NN, P@5 {x['csls_p@5']:.3f} / {x['nn_p@5']:.3f}; chance P@1 "
        f"{r['chance']['p@1']:.4f}"
      )


def _print_unseen(unseen_rows, seeds):
  print(
    f"\nTest unseen-word valence (frames whose word never occurs in Train; raw "
    f"predictions; mean ± sd over seeds {seeds})"
  )
  for label, values in unseen_rows.items():
    v = [x for x in values if x is not None]
    if len(v) < len(values) or not v:
      print(f"{label:<50}{'n/a':>15}")
      continue
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    print(f"{label:<50}{np.mean(v):>9.3f}±{sd:.3f}   per seed " + " ".join(f"{x:.3f}" for x in v))


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
  p.add_argument(
    "--align_args",
    default="",
    help="extra flags for align_embeddings (e.g. '--method unsupervised')",
  )
  p.add_argument(
    "--controls",
    action="store_true",
    help="add the random-vector-per-word and Word2Vec-lookup rows (--control_variant)",
  )
  p.add_argument("--control_seed", type=int, default=0, help="seed of the random vectors")
  p.add_argument(
    "--control_variant",
    default="disentangled_attention",
    help="model variant of the control rows (compare with the same --variants row)",
  )
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
    ]
    + a.align_args.split(),
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
  rows, row_stats, unseen_rows = {}, {}, {}
  todo = [(v, v, v, "") for v in a.variants.split(",")]
  if a.controls:
    todo += _control_rows(a, w, data)
  for key, label, variant, embeddings in todo:
    r = _train_and_evaluate(
      py, w, data, key, variant, embeddings, a.seeds.split(","), a.train_args.split(), log
    )
    rows[label] = np.array(r["raw"])
    rows[label + " + post-proc."] = np.array(r["post"])
    row_stats[label], row_stats[label + " + post-proc."] = r["raw_stats"], r["post_stats"]
    unseen_rows[label] = r["unseen"]
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
  print(
    f"\nCPU: {cpu_model()} ({os.cpu_count()} cores); numpy float32 matmul 2048^2: "
    f"{matmul_gflops():.1f} GFLOP/s"
  )
  print(f"Test CCC on {a.corpus} (timings: {a.timings}; mean ± sd over seeds {a.seeds})")
  print(f"{'model':<50}" + "".join(f"{n:>15}" for n in NAMES + ("mean",)))
  if base is not None:
    print(
      f"{'eGeMAPS + ridge baseline':<50}"
      + "".join(f"{v:>15.3f}" for v in list(base) + [base.mean()])
    )
  for variant, s in rows.items():
    full = np.concatenate([s, s.mean(axis=1, keepdims=True)], axis=1)
    m = full.mean(axis=0)
    sd = full.std(axis=0, ddof=1) if len(full) > 1 else np.zeros_like(m)
    print(f"{variant:<50}" + "".join(f"{x:>9.3f}±{y:.3f}" for x, y in zip(m, sd, strict=False)))
  _print_unseen(unseen_rows, a.seeds)
  _print_alignment(w)
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
