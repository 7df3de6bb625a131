"""Design 'zipf' of `python -m data_prep.synthesize`: Test words mostly unseen in Train.

    python -m data_prep.synthesize --design zipf --out DIR --split 12,4,4 --seconds 60 \
        [--text_out FILE --text_sentences M]

The paper's claim is that aligned speech vectors carry meaning, so valence is recognised from
words the emotion model never saw labelled. On the 'sewa' design almost every Test word also
occurs in Train, where any distinct vector per word suffices. Here the content words come from
the whole plain-word part of the VADER lexicon with Zipf-like frequencies, and most of them are
spoken in one partition only, so the Test partition is mostly made of unseen word types.

Label design (also written to DIR/corpus.json and DIR/README.md): as design 'sewa' (arousal
only in prosody, valence only in word choice, liking = (arousal + valence) / 2; see
data_prep/synthesize_lib.py), with these content words:
  * Lexicon: every plain VADER word of 4-9 letters with |valence| <= 0.9 (about 4 500;
    `content_words` > 0 keeps that many, balanced over valence bins as in 'sewa'), valence =
    the VADER mean rating scaled to [-1, 1] (human ratings of the word's meaning).
  * Zipf ranks: a permutation of the lexicon seeded by `lexicon_seed` (not the corpus seed, so
    the spoken corpus and the Word2Vec text agree); rank r (1-based) has weight r^-s,
    s = `zipf_exponent`.
  * Partition vocabularies: the `shared_words` top-ranked words are spoken in every partition
    (frequent words, as in real speech); every other word belongs to one partition, by rank
    (ranks cycling Train, Train, Devel, Test: 50/25/25 % of the types with the same frequency
    profile). The Word2Vec text (--text_out) draws from the whole lexicon.
  * Word choice: the content word at time t is drawn among the `pick_nearest` words of the
    partition's vocabulary whose valence is nearest to v(t) (ties included), with probability
    proportional to their Zipf weights.
corpus.json records the share of Test (and Devel) content tokens and types that occur in
Train ("vocabulary_overlap"), counted from the written word timings.

Embeddings for this corpus must not see Devel/Test audio: train Speech2Vec with
`--train_partitions train --embed_partitions train` (unlabelled speech only through
--extra_corpus). Test words unseen in Train then have no Speech2Vec type vector (the
TFRecords hold zeros for them, `--oov zeros`), so only a model whose semantic vectors carry
meaning for unseen words (Word2Vec lookup, or speech vectors of an encoder pretrained on
other speech) can score on them; the random vector per word type (emotion_tf.semantic.controls)
cannot.
"""

import collections
import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable, Sequence

import numpy as np

from data_prep import lexicon, synthesize_lib
from emotion_tf import SAMPLE_RATE
from emotion_tf.data import word_timings as wt

PARTITION_CYCLE = ("train", "train", "devel", "test")


@dataclasses.dataclass(frozen=True)
class ZipfSynthConfig(synthesize_lib.SynthConfig):
  """SynthConfig with a Zipf-distributed, partition-specific content vocabulary (see the
  module docstring). `content_words` = 0: the whole lexicon."""

  content_words: int = 0
  pick_nearest: int = 40
  zipf_exponent: float = 1.0
  shared_words: int = 20
  lexicon_seed: int = 0

  def content_picker(self, partition: str) -> Callable[[np.random.Generator, float], str]:
    """(rng, target valence) -> a word of `partition`'s vocabulary ('text': all words)."""
    words, vals, weights, pools = zipf_lexicon(self)
    idx = np.flatnonzero(pools[partition])
    sub_vals, sub_w = vals[idx], weights[idx]
    k = min(self.pick_nearest, len(idx))

    def pick(rng: np.random.Generator, target: float) -> str:
      dist = np.abs(sub_vals - target)
      kth = np.partition(dist, k - 1)[k - 1]
      cand = np.flatnonzero(dist <= kth + 1e-9)
      p = sub_w[cand] / sub_w[cand].sum()
      return words[idx[cand[int(rng.choice(len(cand), p=p))]]]

    return pick


def config_for(content_words: int | None = None) -> ZipfSynthConfig:
  return ZipfSynthConfig(**({} if content_words is None else {"content_words": content_words}))


@functools.lru_cache(maxsize=8)
def zipf_lexicon(
  config: ZipfSynthConfig,
) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, np.ndarray]]:
  """The design's lexicon in Zipf rank order.

  Returns:
    (words [n] by rank, valence [n], Zipf weight [n] = rank^-s, pools {'train' | 'devel' |
    'test' | 'text': bool [n], the words that partition speaks}).
  """
  entries = lexicon.load_valence_entries()
  cands = sorted(
    (w, v, s)
    for w, (v, s) in entries.items()
    if lexicon.is_plain_word(w) and 4 <= len(w) <= 9 and abs(v) <= 0.9
  )
  if config.content_words:
    keep = {
      w
      for w, _ in synthesize_lib.pick_across_valence_bins(
        cands, 0.9, config.valence_bins, config.content_words
      )
    }
    cands = [c for c in cands if c[0] in keep]
  order = np.random.default_rng(config.lexicon_seed).permutation(len(cands))
  words = [cands[i][0] for i in order]
  vals = np.array([cands[i][1] for i in order])
  weights = np.arange(1, len(words) + 1, dtype=np.float64) ** -config.zipf_exponent
  rank = np.arange(len(words))
  shared = rank < config.shared_words
  home = np.array([PARTITION_CYCLE[(r - config.shared_words) % len(PARTITION_CYCLE)] for r in rank])
  pools = {p: shared | (home == p) for p in ("train", "devel", "test")}
  pools["text"] = np.ones(len(words), bool)
  return words, vals, weights, pools


def vocabulary_overlap(
  out_dir: str, recordings: Sequence[dict[str, object]], content: Sequence[str]
) -> dict[str, object]:
  """Share of each partition's content tokens / types that occur in Train, from the written
  word timings (<out_dir>/word_timings/<id>.csv)."""
  content_set = set(content)
  tokens: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  for r in recordings:
    path = os.path.join(out_dir, "word_timings", f"{r['recording_id']}.csv")
    for t in wt.read_timings_csv(path):
      if t.word in content_set:
        tokens[str(r["partition"])][t.word] += 1
  train = set(tokens["train"])
  out: dict[str, object] = {
    "train_content_types": len(train),
    "train_content_tokens": int(sum(tokens["train"].values())),
  }
  for part in ("devel", "test"):
    counts = tokens[part]
    n_tok, n_types = int(sum(counts.values())), len(counts)
    seen_tok = int(sum(c for w, c in counts.items() if w in train))
    seen_types = sum(1 for w in counts if w in train)
    out[part] = {
      "content_tokens": n_tok,
      "content_types": n_types,
      "tokens_seen_in_train": seen_tok / n_tok if n_tok else None,
      "types_seen_in_train": seen_types / n_types if n_types else None,
    }
  return out


def describe_design(config: ZipfSynthConfig) -> str:
  return synthesize_lib.design_text(__doc__, "Label design", config)


def synthesize_corpus(
  out_dir: str,
  num_recordings: int | None,
  seconds: float,
  seed: int,
  voices: Sequence[str],
  num_workers: int,
  config: ZipfSynthConfig,
  split: Sequence[int] | None = None,
) -> dict[str, object]:
  """Writes the 'zipf' corpus (SEWA layout, like `synthesize_lib.synthesize_corpus`) and its
  corpus.json with the vocabulary overlap; returns the run summary (+ 'vocabulary_overlap')."""
  t0 = time.time()
  specs = synthesize_lib.validate_request(
    out_dir, num_recordings, seconds, voices, num_workers, split, synthesize_lib.sewa_files
  )
  synthesize_lib.function_words()
  for sub, _ in synthesize_lib.SEWA_FILES:
    os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
  results = synthesize_lib.run_recordings(
    "zipf",
    synthesize_lib.synthesize_recording,
    synthesize_lib.sewa_files,
    specs,
    out_dir,
    seconds,
    seed,
    config,
    num_workers,
  )
  words, vals, _, pools = zipf_lexicon(config)
  overlap = vocabulary_overlap(out_dir, results, words)
  meta = {
    "generator": "data_prep.synthesize --design zipf",
    "seed": seed,
    "seconds": seconds,
    "sample_rate": SAMPLE_RATE,
    "label_names": ["arousal", "valence", "liking"],
    "label_design": describe_design(config),
    "config": dataclasses.asdict(config),
    "speakers": {
      p: sorted({s.voice for s in specs if s.partition == p}) for p in ("train", "devel", "test")
    },
    "recordings": [
      {k: r[k] for k in ("recording_id", "partition", "voice", "seconds", "sentences", "words")}
      for r in results
    ],
    "function_words": synthesize_lib.function_words(),
    "vocabulary_overlap": overlap,
    "content_words": [
      {
        "word": w,
        "valence": round(float(v), 4),
        "rank": i + 1,
        "partitions": [p for p in ("train", "devel", "test") if pools[p][i]],
      }
      for i, (w, v) in enumerate(zip(words, vals, strict=False))
    ],
  }
  synthesize_lib.finish_corpus(
    out_dir,
    meta,
    "# Synthetic SEWA-layout corpus, design 'zipf' (data_prep.synthesize)\n\n"
    + describe_design(config)
    + "\nVocabulary overlap: "
    + json.dumps(overlap, sort_keys=True)
    + "\n",
  )
  summary = synthesize_lib._summary(results, t0)  # noqa: SLF001  (the shared run summary)
  summary["vocabulary_overlap"] = overlap
  return summary


def synthesize_design(
  out_dir: str,
  num_recordings: int | None,
  seconds: float,
  seed: int,
  voices: Sequence[str] | None,
  num_workers: int,
  content_words: int | None = None,
  split: Sequence[int] | None = None,
) -> dict[str, object]:
  """`synthesize_corpus` with the design's defaults for None arguments (40 recordings, the
  'sewa' voices)."""
  return synthesize_corpus(
    out_dir,
    40 if num_recordings is None and split is None else num_recordings,
    seconds,
    seed,
    voices or synthesize_lib.DEFAULT_VOICES,
    num_workers,
    config_for(content_words),
    split,
  )
