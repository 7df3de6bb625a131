"""Issue 8's table: the full pipeline vs the eGeMAPS baseline on one corpus, several seeds.

    .venv/bin/python bench/generalisation.py --corpus DIR --text TEXT --work DIR \
        [--extra_corpus DIR] [--timings uniform|aligned|DIR] [--seeds 0,1,2] \
        [--variants paralinguistic,disentangled_attention] [--train_args "--max_steps 600"]

Runs, through the binaries a user runs (each step skipped when its output exists, so a
rerun resumes): word timings (given dir, forced alignment, or the writer's uniform split),
Word2Vec on TEXT, Speech2Vec, alignment, TFRecords, then for every variant and seed
`emotion_tf.train` + `emotion_tf.evaluate` (Test; raw, and with `--postprocess devel`: shift
and smoothing chosen on Devel), and the eGeMAPS baseline. Prints Test CCC per dimension (mean
± std over seeds) and whether each model beats the baseline.
Prints figures only; asserts nothing.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

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


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--corpus", required=True)
  p.add_argument("--text", required=True, help="text corpus for Word2Vec")
  p.add_argument("--work", required=True)
  p.add_argument("--extra_corpus", default="", help="unlabelled speech for Speech2Vec")
  p.add_argument("--timings", default="aligned",
                 help="'uniform', 'aligned' (data_prep.align_words) or a timings directory")
  p.add_argument("--seeds", default="0,1,2")
  p.add_argument("--variants", default="paralinguistic,disentangled_attention")
  p.add_argument("--train_args", default="", help="extra flags for emotion_tf.train")
  p.add_argument("--s2v_args", default="", help="extra flags for train_speech2vec")
  p.add_argument("--skip_baseline", action="store_true")
  a = p.parse_args()
  py = sys.executable
  w = os.path.abspath(a.work)
  os.makedirs(w, exist_ok=True)
  log = os.path.join(w, "generalisation.log")
  timings = []
  if a.timings == "aligned":
    _run([py, "-m", "data_prep.align_words", "--corpus", a.corpus, "--out",
          os.path.join(w, "word_timings")], os.path.join(w, "word_timings"), log)
    timings = ["--word_timings", os.path.join(w, "word_timings")]
  elif a.timings != "uniform":
    timings = ["--word_timings", a.timings]
  _run([py, "-m", "data_prep.train_word2vec", "--text", a.text, "--out",
        os.path.join(w, "word2vec.vec")], os.path.join(w, "word2vec.vec"), log)
  extra = ["--extra_corpus", a.extra_corpus] if a.extra_corpus else []
  _run([py, "-m", "data_prep.train_speech2vec", "--corpus", a.corpus, "--out",
        os.path.join(w, "speech2vec")] + timings + extra + a.s2v_args.split(),
       os.path.join(w, "speech2vec", "speech2vec.vec"), log)
  _run([py, "-m", "data_prep.align_embeddings", "--speech",
        os.path.join(w, "speech2vec", "speech2vec.vec"), "--text",
        os.path.join(w, "word2vec.vec"), "--out", os.path.join(w, "alignment")],
       os.path.join(w, "alignment", "aligned_speech2vec.vec"), log)
  data = os.path.join(w, "tfrecords")
  _run([py, "-m", "data_prep.write_tfrecords", "--corpus", a.corpus, "--embeddings",
        os.path.join(w, "alignment", "aligned_speech2vec.vec"), "--out", data] + timings,
       os.path.join(data, "metadata.json"), log)
  rows = {}
  for variant in a.variants.split(","):
    scores, post_scores = [], []
    for seed in a.seeds.split(","):
      model_dir = os.path.join(w, f"model_{variant}_s{seed}")
      _run([py, "-m", "emotion_tf.train", "--data_dir", data, "--model_dir", model_dir,
            "--variant", variant, "--seed", seed] + a.train_args.split(),
           os.path.join(model_dir, "last.keras"), log)
      summary = os.path.join(model_dir, "evaluation_best", "evaluation.json")
      _run([py, "-m", "emotion_tf.evaluate", "--model_dir", model_dir, "--data_dir", data,
            "--partitions", "Test"], summary, log)
      post_dir = os.path.join(model_dir, "evaluation_best_postprocessed")
      _run([py, "-m", "emotion_tf.evaluate", "--model_dir", model_dir, "--data_dir", data,
            "--partitions", "Test", "--postprocess", "devel", "--out", post_dir],
           os.path.join(post_dir, "evaluation.json"), log)
      scores.append(_test_ccc(summary))
      post_scores.append(_test_ccc(os.path.join(post_dir, "evaluation.json")))
    rows[variant] = np.array(scores)
    rows[variant + " + post-proc."] = np.array(post_scores)
  base = None
  if not a.skip_baseline:
    out = os.path.join(w, "baseline")
    _run([py, "-m", "emotion_tf.baseline", "--corpus", a.corpus, "--out", out],
         os.path.join(out, "evaluation.json"), log)
    base = np.array(_test_ccc(os.path.join(out, "evaluation.json")))
  print(f"\nTest CCC on {a.corpus} (timings: {a.timings}; mean ± std over seeds "
        f"{a.seeds})")
  print(f"{'model':<34}" + "".join(f"{n:>15}" for n in NAMES + ("mean",)))
  if base is not None:
    print(f"{'eGeMAPS + ridge baseline':<34}" + "".join(
        f"{v:>15.3f}" for v in list(base) + [base.mean()]))
  for variant, s in rows.items():
    full = np.concatenate([s, s.mean(axis=1, keepdims=True)], axis=1)
    m, sd = full.mean(axis=0), full.std(axis=0)
    print(f"{variant:<34}" + "".join(f"{x:>9.3f}±{y:.3f}" for x, y in zip(m, sd)))
    if base is not None:
      bfull = np.concatenate([base, [base.mean()]])
      wins = ["yes" if x > b else "no" for x, b in zip(m, bfull)]
      print(f"{'  beats baseline':<34}" + "".join(f"{x:>15}" for x in wins))


if __name__ == "__main__":
  main()
