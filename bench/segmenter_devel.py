"""Chooses the wav-only segmenter's thresholds on Devel, by the emotion CCC they lead to.

  python bench/segmenter_devel.py --corpus runs/demo/corpus \
      --speech2vec runs/demo/speech2vec --alignment runs/demo/alignment \
      --model_dirs runs/s0,runs/s1,runs/s2 [--min_snr_db 4,6,8,10] \
      [--min_pause_s 0.01,0.015,0.02,0.03] [--report_test]

The wav-only setting (the paper's: text discarded at evaluation): each recording is segmented by
`emotion_tf.semantic.segmenter` with one grid setting of (min_snr_db, min_pause_s), the other
parameters at their defaults; each segment's aligned Speech2Vec token is snapped to the type
codebook (`--snap_to_types`, the wav-only recipe); the trained models (one per seed) predict the
Devel recordings through the stateful inference path. Per setting it prints the Devel CCC
(AVEC concatenated, mean over the seeds) and the snap rate: the share of true words whose
centre lies in a segment whose token snaps to that very word's type (true timings are read for
this column only). The setting of highest Devel mean CCC is chosen; with `--report_test` the
Test CCC of the chosen setting and of the library default is printed once, after the choice.
Prints figures only; asserts nothing.
"""

import argparse
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from emotion_tf import LABEL_NAMES  # noqa: E402
from emotion_tf.data import corpus  # noqa: E402
from emotion_tf.data import word_timings as wt  # noqa: E402
from emotion_tf.model import model_dir as model_dir_lib  # noqa: E402
from emotion_tf.semantic import segmenter, tokens  # noqa: E402
from emotion_tf.serving import inference  # noqa: E402
from emotion_tf.training import evaluate_lib  # noqa: E402


def _floats(text: str) -> list[float]:
  return [float(x) for x in text.split(",") if x.strip()]


def snap_rate(frontend, vocab, audio, segs, timings) -> tuple[int, int]:
  """(true words whose centre segment's snapped token is their own type, true words)."""
  if not segs:
    return 0, len(timings)
  vecs = tokens.token_vectors(frontend, audio, segs)
  index = {w: i for i, w in enumerate(vocab)}
  rows = frontend.codebook
  hits = 0
  for t in timings:
    centre = 0.5 * (t.start + t.end)
    inside = [i for i, (a, b) in enumerate(segs) if a <= centre < b]
    row = index.get(t.word)
    if inside and row is not None and np.allclose(vecs[inside[-1]], rows[row]):
      hits += 1
  return hits, len(timings)


def score(setting, recs, models, frontend, vocab, timings_dir):
  """{'ccc': [seeds, 3] partition CCC, 'snap': share} of one segmenter setting."""
  config = segmenter.SegmenterConfig(min_snr_db=setting[0], min_pause_s=setting[1])
  labels, preds = {}, [dict() for _ in models]
  hits = words = 0
  for rec in recs:
    audio = corpus.load_audio(rec.audio_path, config.sample_rate)
    _, y = corpus.read_labels(rec.labels_path)
    segs = segmenter.segment(audio, config)
    spf = models[0].config.samples_per_frame
    frames = min(len(y), audio.shape[0] // spf)
    semantic = tokens.speech_semantic_frames(frontend, audio[: frames * spf], segs, frames)
    labels[rec.recording_id] = y[:frames].astype(np.float32)
    for k, model in enumerate(models):
      preds[k][rec.recording_id] = inference.predict_frames(model, audio[: frames * spf], semantic)
    true = wt.read_timings_csv(os.path.join(timings_dir, rec.recording_id + ".csv"))
    h, n = snap_rate(frontend, vocab, audio, segs, true)
    hits, words = hits + h, words + n
  ccc = [[evaluate_lib.ccc_summary(labels, p)["ccc"][name] for name in LABEL_NAMES] for p in preds]
  return {"ccc": np.array(ccc), "snap": hits / max(words, 1)}


def _row(name, result):
  c = result["ccc"]
  full = np.concatenate([c, c.mean(axis=1, keepdims=True)], axis=1)
  sd = full.std(axis=0, ddof=1) if len(full) > 1 else np.zeros(full.shape[1])
  cells = "".join(f"{m:>8.3f}±{s:.3f}" for m, s in zip(full.mean(axis=0), sd, strict=True))
  return f"{name:<28}{cells}{result['snap']:>8.3f}"


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--corpus", required=True)
  p.add_argument("--speech2vec", required=True)
  p.add_argument("--alignment", required=True)
  p.add_argument("--model_dirs", required=True, help="comma-separated, one per seed")
  p.add_argument("--timings", default="", help="true word timings (default <corpus>/word_timings)")
  p.add_argument("--min_snr_db", default="4,6,8,10")
  p.add_argument("--min_pause_s", default="0.01,0.015,0.02,0.03")
  p.add_argument("--report_test", action="store_true")
  a = p.parse_args()
  timings_dir = a.timings or os.path.join(a.corpus, "word_timings")
  models = [model_dir_lib.load_trained_model(d) for d in a.model_dirs.split(",")]
  frontend = tokens.load_frontend_dirs(a.speech2vec, a.alignment, snap_to_types=True)
  from emotion_tf.data import vectors

  vocab, _ = vectors.read_vec(os.path.join(a.alignment, tokens.CODEBOOK_FILE))
  grid = list(itertools.product(_floats(a.min_snr_db), _floats(a.min_pause_s)))
  default = segmenter.SegmenterConfig()
  header = f"{'min_snr_db, min_pause_s':<28}" + "".join(f"{n:>14}" for n in LABEL_NAMES)
  print(f"Devel, wav-only (snapped), {len(models)} seeds: CCC mean±sd over seeds, snap rate")
  print(header + f"{'mean':>14}{'snap':>8}")
  devel = corpus.list_recordings(a.corpus, ["devel"])
  results = {}
  for setting in grid:
    results[setting] = score(setting, devel, models, frontend, vocab, timings_dir)
    print(_row(f"{setting[0]:g} dB, {setting[1]:g} s", results[setting]), flush=True)
  best = max(grid, key=lambda s: results[s]["ccc"].mean())
  current = (default.min_snr_db, default.min_pause_s)
  print(f"chosen on Devel: min_snr_db {best[0]:g}, min_pause_s {best[1]:g}")
  if current in results:
    gap = results[best]["ccc"].mean() - results[current]["ccc"].mean()
    print(f"library default {current}: Devel mean CCC {gap:+.4f} below the chosen setting")
  if not a.report_test:
    return
  test = corpus.list_recordings(a.corpus, ["test"])
  print("Test (read once, after the choice):")
  print(header + f"{'mean':>14}{'snap':>8}")
  for setting in dict.fromkeys([best, current]):
    r = score(setting, test, models, frontend, vocab, timings_dir)
    print(_row(f"{setting[0]:g} dB, {setting[1]:g} s", r), flush=True)


if __name__ == "__main__":
  main()
