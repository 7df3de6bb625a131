"""Word2Vec text space (Sec. 3.1): gensim skip-gram trained on transcript text.

    python -m data_prep.train_word2vec --text FILE[,FILE...] --out FILE.vec \
        [--dim 100 --window 5 --min_count 2 --epochs 10 --workers 1 --seed 0]

Each input line is one sentence, tokenised by `emotion_tf.data.word_timings.tokenize` (the same
normalisation as the word timings, so speech and text vocabularies share strings). The
`.vec` is written atomically in gensim's frequency order (most frequent first), which the
alignment relies on. Logs the vocabulary size and the training loss of every epoch.

Determinism: with `--workers 1` and a fixed `--seed` two runs write identical files.
gensim seeds each word's initial vector from `hashfxn(word + str(seed))`; Python's `hash`
is salted per process (PYTHONHASHSEED), so `deterministic_hash` (CRC-32) is passed instead.
With more than one worker, thread scheduling makes results vary slightly between runs.

Exit codes (emotion_tf.util.cli): 0 done, 2 bad input or usage (unreadable/empty text, no word
reaching --min_count, an --out that cannot be written: checked before training), 130
interrupted.
"""

import os
import zlib
from collections.abc import Sequence

import numpy as np
from absl import logging

from emotion_tf.data import vectors as vectors_lib
from emotion_tf.data import word_timings


def deterministic_hash(text: str) -> int:
  """A process-independent string hash for gensim's vector seeding (CRC-32)."""
  return zlib.crc32(text.encode("utf-8"))


def read_sentences(paths: Sequence[str]) -> list[list[str]]:
  """Tokenised sentences, one per non-empty line of every file in `paths`.

  Raises:
    ValueError: a file is missing/unreadable/not UTF-8 (named), or no file contains any word.
  """
  if not paths:
    raise ValueError("no text files given (--text)")
  sentences: list[list[str]] = []
  for path in paths:
    try:
      with open(path, encoding="utf-8") as f:
        for line in f:
          tokens = word_timings.tokenize(line)
          if tokens:
            sentences.append(tokens)
    except (OSError, UnicodeDecodeError) as e:
      raise ValueError(f"{path}: cannot read text corpus ({e})") from e
  if not sentences:
    raise ValueError(f"{', '.join(paths)}: text corpus is empty (no words after tokenisation)")
  return sentences


def train_word2vec(
  sentences: Sequence[Sequence[str]],
  dim: int = 100,
  window: int = 5,
  min_count: int = 2,
  epochs: int = 10,
  workers: int = 1,
  seed: int = 0,
  negative: int = 5,
):
  """Trains gensim skip-gram (sg=1) with negative sampling.

  Args:
    sentences: lists of tokens.
    dim: vector size d_t. window: context words each side. min_count: words rarer than
    this are dropped. epochs, workers, seed: as in gensim; see the module docstring on
    determinism.

  Returns:
    (keyed_vectors, history): gensim KeyedVectors (frequency sorted) and per-epoch
    [{"epoch", "loss"}] (gensim's loss accumulated within the epoch).

  Raises:
    ValueError: no word reaches `min_count`.
  """
  from gensim.models import Word2Vec
  from gensim.models.callbacks import CallbackAny2Vec

  class _LossLogger(CallbackAny2Vec):
    """gensim's running loss is cumulative over one train() call: log per-epoch deltas."""

    def __init__(self):
      self.previous = 0.0
      self.epoch = 0
      self.history: list[dict] = []

    def on_epoch_end(self, model):
      total = model.get_latest_training_loss()
      self.epoch += 1
      loss = total - self.previous
      self.previous = total
      self.history.append({"epoch": self.epoch, "loss": float(loss)})
      logging.info("word2vec epoch %d/%d: training loss %.1f", self.epoch, epochs, loss)

  counts: dict[str, int] = {}
  for s in sentences:
    for w in s:
      counts[w] = counts.get(w, 0) + 1
  if not any(c >= min_count for c in counts.values()):
    raise ValueError(
      f"no word occurs at least min_count={min_count} times "
      f"({len(counts)} distinct words in {len(sentences)} sentences)"
    )
  logger = _LossLogger()
  model = Word2Vec(
    sentences=list(map(list, sentences)),
    vector_size=dim,
    window=window,
    min_count=min_count,
    sg=1,
    negative=negative,
    epochs=epochs,
    workers=workers,
    seed=seed,
    hashfxn=deterministic_hash,
    compute_loss=True,
    callbacks=[logger],
  )
  logging.info(
    "word2vec: vocabulary %d words (min_count %d) from %d sentences / %d tokens",
    len(model.wv.index_to_key),
    min_count,
    len(sentences),
    sum(counts.values()),
  )
  return model.wv, logger.history


def save_vec(keyed_vectors, path: str) -> tuple[list[str], np.ndarray]:
  """Writes KeyedVectors to `path` (word2vec text, frequency order, atomic).

  Returns (words, [V, d]).
  """
  words = list(keyed_vectors.index_to_key)
  vecs = np.asarray(keyed_vectors.vectors, np.float32)
  vectors_lib.write_vec(path, words, vecs)
  return words, vecs


def quality_path(out: str) -> str:
  """`<out without extension>.quality.json`, the probe report beside the .vec."""
  return os.path.splitext(out)[0] + ".quality.json"
