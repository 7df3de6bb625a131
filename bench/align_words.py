"""Prints the accuracy of the forced aligner (data_prep.forced_alignment) against true word timings.

    python bench/align_words.py CORPUS_DIR TRUTH_DIR [LIMIT] [--voice en] [--set key=value ...]

For every recording with a transcription (the first LIMIT in id order, default all) the sentence
transcript is aligned (TTS + DTW), and also split uniformly over its words
(word_timings.uniform_timings, the fallback the pipeline uses without timings); both are compared
with TRUTH_DIR/<id>.csv word by word (words paired in order inside each recording; a word
sequence that differs from the truth is paired with difflib). Printed per method: number of
words, median and 90th percentile absolute boundary error in seconds (starts and ends pooled),
and the share of words whose estimated centre lies inside the true span. `--set` overrides
AlignConfig fields (e.g. --set band_fraction=0.2 refine_s=0). `--close_gaps` first cuts the
pauses between the words of each sentence out of the audio (connected speech, known truth);
`--snr DB` adds white noise.
"""
import argparse
import dataclasses
import difflib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top

from emotion_tf.data import corpus  # pylint: disable=g-import-not-at-top
from data_prep import forced_alignment as fa  # pylint: disable=g-import-not-at-top
from emotion_tf.data import word_timings as wt  # pylint: disable=g-import-not-at-top
from emotion_tf import SAMPLE_RATE  # pylint: disable=g-import-not-at-top


def pair_words(est, truth):
  """[(estimated, true)] WordTiming pairs with equal words, in order."""
  a, b = [t.word for t in est], [t.word for t in truth]
  if a == b:
    return list(zip(est, truth))
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
  return len(pairs), float(np.median(np.abs(err))), float(np.percentile(np.abs(err), 90)), \
      float(inside)


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
      x = audio[int(round(w.start * sr)):int(round(w.end * sr))]
      new_truth.append(wt.WordTiming(t / sr, (t + len(x)) / sr, w.word))
      pieces.append(x)
      t += len(x)
    new_rows.append((s_start / sr, t / sr, text))
    pos = int(round(words[-1].end * sr))
  pieces.append(audio[pos:])
  return np.concatenate(pieces), new_rows, new_truth


def main():
  p = argparse.ArgumentParser()
  p.add_argument("corpus")
  p.add_argument("truth")
  p.add_argument("limit", nargs="?", type=int, default=0)
  p.add_argument("--voice", default="en")
  p.add_argument("--set", nargs="*", default=[])
  p.add_argument("--close_gaps", action="store_true",
                 help="cut the pauses between words out of every sentence (see close_gaps)")
  p.add_argument("--snr", type=float, default=None,
                 help="add white noise at this SNR (dB, against the speech power of the "
                      "sentence spans)")
  args = p.parse_args()
  overrides = {}
  for kv in args.set:
    k, v = kv.split("=", 1)
    overrides[k] = type(getattr(fa.AlignConfig(), k))(v)
  config = dataclasses.replace(fa.AlignConfig(voice=args.voice), **overrides)
  recs = [r for r in corpus.list_recordings(args.corpus) if os.path.exists(r.transcription_path)]
  recs = [r for r in recs if os.path.exists(os.path.join(args.truth, r.recording_id + ".csv"))]
  if args.limit:
    recs = recs[:args.limit]
  aligned, uniform = [], []
  t_align, seconds = 0.0, 0.0
  for rec in recs:
    rows = corpus.read_transcription(rec.transcription_path)
    truth = wt.read_timings_csv(os.path.join(args.truth, rec.recording_id + ".csv"))
    audio = corpus.load_audio(rec.audio_path)
    if args.close_gaps:
      audio, rows, truth = close_gaps(audio, rows, truth)
    if args.snr is not None:
      speech = np.concatenate([audio[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)]
                               for a, b, _ in rows])
      rng = np.random.default_rng(len(audio))
      audio = audio + rng.standard_normal(len(audio)).astype(np.float32) * np.sqrt(
          np.mean(speech.astype(np.float64) ** 2) * 10 ** (-args.snr / 10))
    seconds += len(audio) / SAMPLE_RATE
    t0 = time.perf_counter()
    est, _ = fa.align_recording(audio, SAMPLE_RATE, rows, config)
    t_align += time.perf_counter() - t0
    a = pair_words(est, truth)
    u = pair_words(wt.uniform_timings(rows), truth)
    aligned += a
    uniform += u
    n, med, p90, inside = scores(a)
    print(f"{rec.recording_id}: {n} words  aligned median {med:.3f} s, centre inside "
          f"{inside:.1%}  | uniform centre inside {scores(u)[3]:.1%}", flush=True)
  closed = (" (gaps closed)" if args.close_gaps else "") + (
      f" (white noise, SNR {args.snr:g} dB)" if args.snr is not None else "")
  print(f"\ncorpus {args.corpus}{closed}: {len(recs)} recordings, {seconds:.0f} s of audio, "
        f"config {config}")
  print(f"{'method':<10}{'words':>7}{'median |err| s':>16}{'p90 |err| s':>13}"
        f"{'centre inside':>15}")
  for name, pairs in (("aligned", aligned), ("uniform", uniform)):
    n, med, p90, inside = scores(pairs)
    print(f"{name:<10}{n:>7}{med:>16.3f}{p90:>13.3f}{inside:>15.1%}")
  print(f"alignment time {t_align:.1f} s ({seconds / max(t_align, 1e-9):.0f}x real time)")


if __name__ == "__main__":
  main()
