"""Hand-written .vec / TextGrid readers vs the maintained libraries (gensim, praatio).

    python bench/readers.py [--words 50000 --dim 100 --intervals 5000]

Prints the best-of-3 read time of each reader on a generated file and how each library
treats the malformed inputs the toolkit's readers reject (file and line named). praatio is
not a dependency of the toolkit; the TextGrid part runs only where it is installed
(`pip install praatio==6.2.2`).
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BAD_VECS = {
  "row with 3 of 4 values": b"2 4\nhello 1 2 3 4\ngood 1 2 3\n",
  "non-numeric value": b"2 4\nhello 1 2 3 4\ngood 1 x 3 4\n",
  "header count 3, 2 rows": b"3 4\nhello 1 2 3 4\ngood 1 2 3 4\n",
  "header count 1, 2 rows": b"1 4\nhello 1 2 3 4\ngood 1 2 3 4\n",
  "duplicate word": b"2 4\nhello 1 2 3 4\nhello 1 2 3 4\n",
  "NaN value": b"2 4\nhello 1 2 3 4\ngood 1 nan 3 4\n",
}


def _best(fn, repeats=3):
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t0)
  return best


def _outcome(fn):
  try:
    return f"accepted: {fn()}"
  except Exception as e:
    return f"{type(e).__name__}: {str(e)[:90]}"


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--words", type=int, default=50000)
  p.add_argument("--dim", type=int, default=100)
  p.add_argument("--intervals", type=int, default=5000)
  a = p.parse_args()
  from gensim.models import KeyedVectors

  from emotion_tf.data import vectors
  from emotion_tf.data import word_timings as wt

  with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "big.vec")
    words = [f"w{i}" for i in range(a.words)]
    vecs = np.random.default_rng(0).standard_normal((a.words, a.dim)).astype(np.float32)
    vectors.write_vec(path, words, vecs)
    gensim_read = lambda q: KeyedVectors.load_word2vec_format(q, binary=False)  # noqa: E731
    print(f".vec {a.words} x {a.dim} ({os.path.getsize(path) / 1e6:.1f} MB), best of 3:")
    print(f"  emotion_tf.data.vectors.read_vec  {_best(lambda: vectors.read_vec(path)):.2f} s")
    print(f"  gensim KeyedVectors.load_word2vec_format  {_best(lambda: gensim_read(path)):.2f} s")
    for name, body in BAD_VECS.items():
      q = os.path.join(d, "bad.vec")
      with open(q, "wb") as f:
        f.write(body)
      print(f"  {name:<24} ours: {_outcome(lambda q=q: vectors.read_vec(q)[0])}")
      print(f"  {'':<24} gensim: {_outcome(lambda q=q: gensim_read(q).index_to_key)}")
    try:
      from praatio import textgrid
    except ImportError:
      print("praatio not installed: TextGrid comparison skipped")
      return
    tg = os.path.join(d, "big.TextGrid")
    timings = [wt.WordTiming(i * 0.5, i * 0.5 + 0.4, f"w{i}") for i in range(a.intervals)]
    wt.write_textgrid(tg, timings, a.intervals * 0.5 + 1)
    praat_read = lambda q: textgrid.openTextgrid(q, includeEmptyIntervals=False)  # noqa: E731
    print(f"TextGrid with {a.intervals} words, best of 3:")
    print(f"  word_timings.read_textgrid {_best(lambda: wt.read_textgrid(tg)):.3f} s")
    print(f"  praatio textgrid.openTextgrid          {_best(lambda: praat_read(tg)):.3f} s")
    text = pathlib.Path(tg).read_text(encoding="utf-8")
    cut = os.path.join(d, "cut.TextGrid")
    with open(cut, "w", encoding="utf-8") as f:
      f.write(text[: text.index("intervals [6]:")])  # truncated after 5 intervals
    print(f"  truncated file ours: {_outcome(lambda: len(wt.read_textgrid(cut)))}")
    print(
      f"  truncated file praatio: "
      f"{_outcome(lambda: len(praat_read(cut).getTier('words').entries))} words"
    )


if __name__ == "__main__":
  main()
