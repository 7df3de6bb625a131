"""Prints ONE table: forced-alignment accuracy per speech set and method against true word spans.

    python bench/align_words.py [--corpus NAME=DIR ...] [--limit 3] [--real DIR]
        [--close_gaps] [--snr DB] [--set key=value ...]

Sets: the real-speech fixtures (tests/data/real_speech: clips with a reference word TextGrid,
one sentence each) and every `--corpus NAME=DIR` (a synthetic corpus: truth in
DIR/truth/word_timings when present, else DIR/word_timings; its first `--limit` recordings in
id order). Methods (data_prep.forced_alignment): acoustic (pocketsphinx; a sentence it cannot
decode falls back to the uniform split), tts_dtw (TTS + DTW), uniform (each sentence's span
split evenly), auto (per sentence: acoustic, else TTS + DTW, else uniform — composed here from
the acoustic and TTS + DTW runs, exactly `align_sentence_auto`'s order). Columns: words, share
of words whose estimated centre lies inside the true span, median and 90th percentile absolute
boundary error in seconds (starts and ends pooled); for auto also the share of sentences each
method produced. Words are paired in order within a recording (difflib when the word sequences
differ). `--close_gaps` cuts the pauses between the words of each synthetic sentence out of the
audio (connected speech), `--snr DB` adds white noise; `--set` overrides AlignConfig fields,
`--acoustic_set` AcousticConfig fields (e.g. `noisy_silprob=0.5`; `--real ''` skips the fixtures).
"""

import argparse
import dataclasses
import difflib
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from data_prep import acoustic_alignment as aa
from data_prep import forced_alignment as fa
from emotion_tf import SAMPLE_RATE
from emotion_tf.data import corpus
from emotion_tf.data import word_timings as wt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("acoustic", "tts_dtw", "uniform", "auto")


def pair_words(est, truth):
  """[(estimated, true)] WordTiming pairs with equal words, in order."""
  a, b = [t.word for t in est], [t.word for t in truth]
  if a == b:
    return list(zip(est, truth, strict=False))
  pairs = []
  for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
    for k in range(block.size):
      pairs.append((est[block.a + k], truth[block.b + k]))
  return pairs


def scores(pairs):
  """(words, median |error| s, p90 |error| s, centre-inside share) over boundary pairs."""
  if not pairs:
    return 0, float("nan"), float("nan"), float("nan")
  err = np.array([[e.start - t.start, e.end - t.end] for e, t in pairs]).ravel()
  inside = np.mean([t.start <= (e.start + e.end) / 2 <= t.end for e, t in pairs])
  return (
    len(pairs),
    float(np.median(np.abs(err))),
    float(np.percentile(np.abs(err), 90)),
    float(inside),
  )


def close_gaps(audio, rows, truth, sr=SAMPLE_RATE):
  """The recording with the pauses between the words of each sentence cut out (true word
  segments butted together; pauses between sentences kept): connected speech with known
  boundaries. Returns (audio, rows, truth) of the new recording."""
  pieces, new_rows, new_truth, pos, t = [], [], [], 0, 0
  for start, end, text in rows:
    words = [w for w in truth if start - 1e-3 <= w.start and w.end <= end + 1e-3]
    if not words:
      continue
    a = int(round(words[0].start * sr))
    pieces.append(audio[pos:a])
    t += a - pos
    s_start = t
    for w in words:
      x = audio[int(round(w.start * sr)) : int(round(w.end * sr))]
      new_truth.append(wt.WordTiming(t / sr, (t + len(x)) / sr, w.word))
      pieces.append(x)
      t += len(x)
    new_rows.append((s_start / sr, t / sr, text))
    pos = int(round(words[-1].end * sr))
  pieces.append(audio[pos:])
  return np.concatenate(pieces), new_rows, new_truth


def align_all_methods(audio, rows, config, acoustic_overrides=None):
  """{method: WordTimings of the recording}, and the auto method per sentence."""
  out = {m: [] for m in METHODS}
  auto_methods = []
  acfg = dataclasses.replace(fa.acoustic_config(config), **(acoustic_overrides or {}))
  for start, end, text in rows:
    words = wt.tokenize(text)
    if not words:
      continue
    uniform = fa._uniform(start, end, words)
    try:
      acoustic = aa.align_sentence(audio, SAMPLE_RATE, start, end, text, acfg)
    except aa.AcousticAlignmentError:
      acoustic = None
    try:
      tts, tts_method = fa.align_sentence_tts(audio, SAMPLE_RATE, start, end, words, config)
    except (fa.AlignmentError, ValueError):
      tts, tts_method = uniform, "uniform"
    out["acoustic"] += acoustic or uniform
    out["tts_dtw"] += tts
    out["uniform"] += uniform
    if acoustic is not None:
      out["auto"] += acoustic
      auto_methods.append("acoustic")
    else:
      out["auto"] += tts
      auto_methods.append(tts_method)
  return out, auto_methods


def real_sets(real_dir):
  """[(recording name, audio at SAMPLE_RATE, rows, truth)] of the fixtures with a TextGrid."""
  recs = []
  for tg in sorted(glob.glob(os.path.join(real_dir, "*.TextGrid"))):
    name = os.path.splitext(tg)[0]
    audio = corpus.load_audio(name + ".flac", SAMPLE_RATE)
    with open(name + ".txt", encoding="utf-8") as f:
      text = f.read().strip()
    recs.append(
      (os.path.basename(name), audio, [(0.0, len(audio) / SAMPLE_RATE, text)], wt.read_textgrid(tg))
    )
  return recs


def corpus_sets(corpus_dir, limit, gaps, snr):
  truth_dir = os.path.join(corpus_dir, "truth", "word_timings")
  if not os.path.isdir(truth_dir):
    truth_dir = os.path.join(corpus_dir, "word_timings")
  recs = [
    r
    for r in corpus.list_recordings(corpus_dir)
    if os.path.exists(r.transcription_path)
    and os.path.exists(os.path.join(truth_dir, r.recording_id + ".csv"))
  ]
  out = []
  for rec in recs[:limit] if limit else recs:
    rows = corpus.read_transcription(rec.transcription_path)
    truth = wt.read_timings_csv(os.path.join(truth_dir, rec.recording_id + ".csv"))
    audio = corpus.load_audio(rec.audio_path)
    if gaps:
      audio, rows, truth = close_gaps(audio, rows, truth)
    if snr is not None:
      speech = np.concatenate(
        [audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b, _ in rows]
      )
      rng = np.random.default_rng(len(audio))
      audio = audio + rng.standard_normal(len(audio)).astype(np.float32) * np.sqrt(
        np.mean(speech.astype(np.float64) ** 2) * 10 ** (-snr / 10)
      )
    out.append((rec.recording_id, audio, rows, truth))
  return out


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--corpus", nargs="*", default=[], help="NAME=DIR of synthetic corpora")
  p.add_argument("--real", default=os.path.join(ROOT, "tests", "data", "real_speech"))
  p.add_argument("--limit", type=int, default=3, help="recordings per corpus (0: all)")
  p.add_argument("--set", nargs="*", default=[])
  p.add_argument(
    "--acoustic_set",
    nargs="*",
    default=[],
    help="key=value overrides of acoustic_alignment.AcousticConfig fields",
  )
  p.add_argument("--close_gaps", action="store_true")
  p.add_argument("--snr", type=float, default=None)
  args = p.parse_args()
  overrides = {}
  for kv in args.set:
    k, v = kv.split("=", 1)
    overrides[k] = type(getattr(fa.AlignConfig(), k))(v)
  config = dataclasses.replace(fa.AlignConfig(), **overrides)
  acoustic = {}
  for kv in args.acoustic_set:
    k, v = kv.split("=", 1)
    kind = type(getattr(aa.AcousticConfig(), k))
    acoustic[k] = v.lower() in ("1", "true") if kind is bool else kind(v)
  sets = [("real speech", real_sets(args.real))] if args.real else []
  for spec in args.corpus:
    name, path = spec.split("=", 1)
    sets.append((name, corpus_sets(path, args.limit, args.close_gaps, args.snr)))
  lines = []
  for name, recs in sets:
    pairs = {m: [] for m in METHODS}
    auto_methods, seconds, t0 = [], 0.0, time.perf_counter()
    for _, audio, rows, truth in recs:
      seconds += len(audio) / SAMPLE_RATE
      est, methods = align_all_methods(audio, rows, config, acoustic)
      auto_methods += methods
      for m in METHODS:
        pairs[m] += pair_words(est[m], truth)
    wall = time.perf_counter() - t0
    for m in METHODS:
      n, med, p90, inside = scores(pairs[m])
      share = ""
      if m == "auto":
        k = max(len(auto_methods), 1)
        share = " / ".join(f"{auto_methods.count(x) / k:.0%}" for x in fa.SENTENCE_METHODS)
      lines.append(
        f"| {name} ({len(recs)} rec., {seconds:.0f} s) | {m} | {n} | {inside:.1%} | "
        f"{med:.3f} | {p90:.3f} | {share} |"
      )
    sys.stderr.write(f"{name}: {len(auto_methods)} sentences in {wall:.0f} s\n")
  extra = (" (gaps closed)" if args.close_gaps else "") + (
    f" (white noise, SNR {args.snr:g} dB)" if args.snr is not None else ""
  )
  print(
    f"forced alignment vs true word spans{extra}; config {config}; acoustic "
    f"{dataclasses.replace(aa.AcousticConfig(), **acoustic)}\n"
  )
  print(
    "| set | method | words | centre inside | median \\|err\\| s | p90 \\|err\\| s | "
    "auto: sentences acoustic / tts_dtw / uniform |"
  )
  print("|---|---|---|---|---|---|---|")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
