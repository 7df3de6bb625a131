"""Measures the automatic word segmenter against true word timings, per partition.

  python bench/segmenter.py [--corpus runs/demo/corpus] [--timings DIR] [--tune]

Prints, per partition, boundary precision/recall/F1 at +-50 ms (every word start and end is a
boundary; one-to-one matching) and the share of true words hit (`segmenter.words_hit`: a
segment centre inside the word span; exactly one centre; >= 50 % mutual overlap), plus segments
per true word. `--tune` first grid-searches the segmenter parameters on the Train partition
ONLY (by boundary F1 + centre-hit + one-to-one) and then reports every partition with the
best setting; without it the library defaults (tuned that way) are used.

  python bench/segmenter.py --compare [--sets NAME=DIR ...] [--limit 3]

prints ONE table instead: the energy/pause segmenter (library defaults) beside pocketsphinx's
recogniser used as a word segmenter (`acoustic_alignment.recognise_word_spans`: its n-gram
language model, no transcript, recognised words discarded), on the real-speech fixtures
(tests/data/real_speech: the 4 clips with reference TextGrids; and all 8 English clips against
their acoustic forced alignment, tags left out) and on synthetic corpora (`--sets NAME=DIR`,
truth in DIR/truth/word_timings or DIR/word_timings, first `--limit` recordings).
"""

import argparse
import glob
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from emotion_tf.data import corpus  # noqa: E402
from emotion_tf.data import word_timings as wt  # noqa: E402
from emotion_tf.semantic import segmenter  # noqa: E402


def load(corpus_dir, timings_dir):
  data = {}
  for rec in corpus.list_recordings(corpus_dir):
    audio = corpus.load_audio(rec.audio_path, 22050)
    ref = [
      (t.start, t.end) for t in wt.load_word_timings(corpus_dir, rec.recording_id, timings_dir)
    ]
    data.setdefault(rec.partition, []).append((rec.recording_id, audio, ref))
  return data


def evaluate(recs, config):
  matched = predicted = reference = 0
  hits = {"centre_hit": 0.0, "one_to_one": 0.0, "overlap_50": 0.0}
  words = 0
  for _, audio, ref in recs:
    seg = segmenter.segment(audio, config)
    b = segmenter.boundary_f1(seg, ref, 0.05)
    matched += b["matched"]
    predicted += b["predicted"]
    reference += b["reference"]
    h = segmenter.words_hit(seg, ref)
    for k in hits:
      hits[k] += h[k] * len(ref)
    words += len(ref)
  p = matched / max(predicted, 1)
  r = matched / max(reference, 1)
  f1 = 2 * p * r / (p + r) if p + r else 0.0
  out = {"precision": p, "recall": r, "f1": f1, "segments_per_word": predicted / max(reference, 1)}
  out.update({k: v / max(words, 1) for k, v in hits.items()})
  return out


def tune(train):
  grid = {
    "threshold_ratio": [0.1, 0.25],
    "min_pause_s": [0.01, 0.015, 0.02, 0.025],
    "min_word_s": [0.04, 0.06, 0.08, 0.1],
    "split_above_s": [0.6, 0.8, 1.0],
  }
  best, best_score = None, -1.0
  keys = list(grid)
  for values in itertools.product(*(grid[k] for k in keys)):
    config = segmenter.SegmenterConfig(**dict(zip(keys, values, strict=False)))
    m = evaluate(train, config)
    score = m["f1"] + m["centre_hit"] + m["one_to_one"]
    if score > best_score:
      best, best_score = config, score
      print(
        f"  tune: {dict(zip(keys, values, strict=False))}: "
        f"F1 {m['f1']:.3f} hit {m['centre_hit']:.3f} "
        f"1:1 {m['one_to_one']:.3f}",
        flush=True,
      )
  return best


REAL = os.path.join(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "real_speech"
)


def real_sets():
  """{'real (reference)': recs, 'real (forced-aligned)': recs}, recs [(id, audio, spans)]."""
  from data_prep import acoustic_alignment as aa

  gold, aligned = [], []
  for txt in sorted(glob.glob(os.path.join(REAL, "*.txt"))):
    name = os.path.splitext(txt)[0]
    if os.path.basename(name).startswith("se10x"):
      continue  # Swedish: no acoustic model
    audio = corpus.load_audio(name + ".flac", 22050)
    with open(txt, encoding="utf-8") as f:
      text = f.read().strip()
    tokens = aa.tagged_tokens(text)
    est = aa.align_sentence(audio, 22050, 0.0, len(audio) / 22050, tokens)
    aligned.append(
      (name, audio, [(t.start, t.end) for t, (_, tag) in zip(est, tokens, strict=False) if not tag])
    )
    if os.path.exists(name + ".TextGrid"):
      gold.append((name, audio, [(t.start, t.end) for t in wt.read_textgrid(name + ".TextGrid")]))
  return {"real speech (reference spans)": gold, "real speech (forced-aligned)": aligned}


def synthetic_set(corpus_dir, limit):
  truth = os.path.join(corpus_dir, "truth", "word_timings")
  if not os.path.isdir(truth):
    truth = os.path.join(corpus_dir, "word_timings")
  recs = []
  for rec in corpus.list_recordings(corpus_dir)[:limit]:
    audio = corpus.load_audio(rec.audio_path, 22050)
    recs.append(
      (
        rec.recording_id,
        audio,
        [
          (t.start, t.end)
          for t in wt.read_timings_csv(os.path.join(truth, rec.recording_id + ".csv"))
        ],
      )
    )
  return recs


def evaluate_segments(recs, segment_fn):
  """Pooled boundary P/R/F1 (+-50 ms), words hit and segments per word of `segment_fn(audio)`."""
  matched = predicted = reference = 0
  hit = one = 0.0
  for _, audio, ref in recs:
    seg = segment_fn(audio)
    b = segmenter.boundary_f1(seg, ref, 0.05)
    matched += b["matched"]
    predicted += b["predicted"]
    reference += b["reference"]
    h = segmenter.words_hit(seg, ref)
    hit += h["centre_hit"] * len(ref)
    one += h["one_to_one"] * len(ref)
  p, r = matched / max(predicted, 1), matched / max(reference, 1)
  words = max(reference // 2, 1)
  return {
    "f1": 2 * p * r / (p + r) if p + r else 0.0,
    "precision": p,
    "recall": r,
    "centre_hit": hit / words,
    "one_to_one": one / words,
    "segments_per_word": predicted / max(reference, 1),
  }


def compare(sets, limit):
  from data_prep import acoustic_alignment as aa

  data = dict(real_sets())
  for spec in sets:
    name, path = spec.split("=", 1)
    data[name] = synthetic_set(path, limit)
  config = segmenter.SegmenterConfig()
  methods = {
    "energy/pause (default)": lambda x: segmenter.segment(x, config),
    "pocketsphinx recogniser": lambda x: aa.recognise_word_spans(x, 22050),
  }
  print(
    "| set | words | segmenter | boundary F1 +-50 ms | precision | recall | words hit | "
    "one-to-one | segments/word |"
  )
  print("|---|---|---|---|---|---|---|---|---|")
  for name, recs in data.items():
    words = sum(len(r[2]) for r in recs)
    for mname, fn in methods.items():
      m = evaluate_segments(recs, fn)
      print(
        f"| {name} | {words} | {mname} | {m['f1']:.3f} | {m['precision']:.3f} | "
        f"{m['recall']:.3f} | {m['centre_hit']:.3f} | {m['one_to_one']:.3f} | "
        f"{m['segments_per_word']:.2f} |",
        flush=True,
      )


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--compare", action="store_true")
  parser.add_argument("--sets", nargs="*", default=[])
  parser.add_argument("--limit", type=int, default=3)
  parser.add_argument("--corpus", default="runs/demo/corpus")
  parser.add_argument("--timings", default="", help="default: <corpus>/word_timings")
  parser.add_argument("--tune", action="store_true")
  args = parser.parse_args()
  if args.compare:
    compare(args.sets, args.limit)
    return
  timings = args.timings or os.path.join(args.corpus, "word_timings")
  data = load(args.corpus, timings)
  config = segmenter.SegmenterConfig()
  if args.tune:
    config = tune(data["train"])
    print(f"best on Train: {config}")
  print(
    f"{'partition':<10}{'F1@50ms':>9}{'prec':>7}{'recall':>8}{'hit':>7}{'1:1':>7}"
    f"{'ovl50':>7}{'seg/word':>9}"
  )
  for part in ("train", "devel", "test"):
    if part in data:
      m = evaluate(data[part], config)
      print(
        f"{part:<10}{m['f1']:>9.3f}{m['precision']:>7.3f}{m['recall']:>8.3f}"
        f"{m['centre_hit']:>7.3f}{m['one_to_one']:>7.3f}{m['overlap_50']:>7.3f}"
        f"{m['segments_per_word']:>9.2f}"
      )


if __name__ == "__main__":
  main()
