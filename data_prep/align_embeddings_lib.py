"""Aligns Speech2Vec to Word2Vec (paper Eq. 1-3) and reports P@1/P@5.

    python -m data_prep.align_embeddings --speech S.vec --text T.vec --out DIR \
        [--method supervised|unsupervised] [--init adversarial,similarity] [--adv_epochs 5 ...]

Both spaces are normalised (`alignment.normalize`). When both spaces come from transcribed
data the dictionary is known: the same word string in both files. `--method supervised`
(the default) writes Procrustes (Eq. 3) on that identity dictionary and fails clearly when
there is none. `--method unsupervised` is the paper's setting: every --init method (the
adversarial game of Eq. 1-2, and the rotation-invariant similarity initialisation) refined by
CSLS/Procrustes, keeping the W with the best unsupervised criterion; the supervised solution
is then still computed, when possible, for the report.

Evaluation split (documented in alignment.json): the words present in both vocabularies are
shuffled with --seed; --eval_fraction of them (at most 1500) are held out. Supervised
Procrustes learns only from the other shared words; the unsupervised method uses no pair at
all. P@k = fraction of held-out speech words whose k best text candidates (all text words,
by cosine "nn" or CSLS) contain the same string. Chance P@k = k / (number of text words).

Outputs in --out (atomic): W.npy [d_t, d_s] float32 (mapped = W s), speech_mean.npy [d_s]
(the centring of `alignment.normalize`: aligned = W unit(unit(s) - mean) / norm),
aligned_speech2vec.vec (every speech word mapped, d = d_t, unit length, speech order),
alignment.json (settings, split, criteria, P@k of every method, chance).

Exit codes (emotion_tf.util.cli): 0 done, 2 bad input or usage (a malformed .vec, named with its
line; --method supervised without shared words; an --out that cannot be written: checked before
any work), 130 interrupted.
"""

import os
import time
from collections.abc import Sequence

import numpy as np
from absl import logging

from emotion_tf.data import vectors as vectors_lib
from emotion_tf.semantic import alignment
from emotion_tf.util import fileio

METHODS = ("supervised", "unsupervised")  # --method; the first is the default


def align_files(
  speech_path: str,
  text_path: str,
  out_dir: str,
  config: alignment.AlignConfig | None = None,
  method: str = "supervised",
  init_methods: Sequence[str] = alignment.INIT_METHODS,
  eval_fraction: float = 0.3,
  scores: dict[str, float] | None = None,
) -> dict:
  """Reads both `.vec` files, aligns, evaluates and writes the outputs; returns the report.

  `method`: "supervised" (Procrustes on the identity dictionary; the unsupervised game is
  not run) or "unsupervised" (Eq. 1-3; supervised computed beside it for the report when
  there is a dictionary). `scores` (optional {word: value}, e.g. the VADER valence lexicon)
  adds `alignment.translation_score_agreement` of every method to the report.

  Raises:
    vectors.VecFormatError: a malformed `.vec` (file and line named).
    ValueError: "supervised" with no shared words, an unknown method, or an empty vocabulary.
  """
  if method not in METHODS:
    raise ValueError(f"unknown alignment method {method!r}; choose from {', '.join(METHODS)}")
  supervised = method == "supervised"
  t0 = time.time()
  config = config or alignment.AlignConfig()
  s_words, s_raw = vectors_lib.read_vec(speech_path)
  t_words, t_raw = vectors_lib.read_vec(text_path)
  for path, words in ((speech_path, s_words), (text_path, t_words)):
    if len(words) < 2:
      raise ValueError(f"{path}: needs at least 2 words to align, has {len(words)}")
  src, speech_mean = alignment.normalize(s_raw)
  tgt, _ = alignment.normalize(t_raw)
  train_words, eval_words = alignment.shared_word_split(
    s_words, t_words, eval_fraction, seed=config.seed
  )
  shared = len(train_words) + len(eval_words)
  logging.info(
    "alignment: %d speech words (d_s=%d), %d text words (d_t=%d), %d shared: "
    "%d dictionary / %d held out",
    len(s_words),
    src.shape[1],
    len(t_words),
    tgt.shape[1],
    shared,
    len(train_words),
    len(eval_words),
  )
  if supervised and not train_words:
    raise ValueError(
      f"--method supervised: {speech_path} and {text_path} share {shared} word(s), leaving no "
      "dictionary words after the held-out split; supervised Procrustes needs shared words"
    )
  report: dict = {
    "speech": speech_path,
    "text": text_path,
    "speech_words": len(s_words),
    "text_words": len(t_words),
    "d_s": int(src.shape[1]),
    "d_t": int(tgt.shape[1]),
    "shared_words": shared,
    "dictionary_words": len(train_words),
    "eval_words": len(eval_words),
    "eval_split": f"seeded shuffle (seed {config.seed}) of the shared words; "
    f"{eval_fraction:.0%} held out for P@k only",
    "held_out_words": list(eval_words),
    "config": config.to_dict(),
    "method": method,
    "init_methods": [] if supervised else list(init_methods),
    "chance": {"p@1": 1.0 / len(t_words), "p@5": min(5, len(t_words)) / len(t_words)},
  }
  results = {}
  if not supervised:
    w_unsup, info = alignment.align_unsupervised(src, tgt, config, init_methods)
    report["unsupervised"] = {
      "method": info["method"],
      "criterion": info["criterion"],
      "history": info["history"],
    }
    results["unsupervised"] = w_unsup
    for init, cand in info["candidates"].items():
      results[f"unsupervised_{init}"] = cand["W"]
      report[f"unsupervised_{init}"] = {"criterion": cand["criterion"]}
  if train_words:
    results["supervised"] = alignment.align_supervised(src, tgt, s_words, t_words, train_words)
    report["supervised"] = {
      "criterion": alignment.selection_criterion(
        alignment.map_vectors(src, results["supervised"]),
        tgt,
        config.selection_words,
        config.csls_k,
      )
    }
  for name, w in results.items():
    if eval_words:
      report[name].update(
        alignment.precision_at_k(w, src, tgt, s_words, t_words, eval_words, k_csls=config.csls_k)
      )
      if scores:
        report[name].update(
          alignment.translation_score_agreement(
            w, src, tgt, s_words, t_words, eval_words, scores, config.csls_k, config.seed
          )
        )
  chosen = method
  w = results[chosen]
  report["written"] = chosen
  fileio.atomic_save_npy(os.path.join(out_dir, "W.npy"), w.astype(np.float32))
  fileio.atomic_save_npy(os.path.join(out_dir, "speech_mean.npy"), speech_mean)
  vectors_lib.write_vec(
    os.path.join(out_dir, "aligned_speech2vec.vec"), s_words, alignment.map_vectors(src, w)
  )
  report["wall_s"] = time.time() - t0
  fileio.write_json(os.path.join(out_dir, "alignment.json"), report)
  for name in results:
    r = report[name]
    if "csls_p@1" in r:
      logging.info(
        "alignment %s: criterion %.3f, P@1 nn %.3f csls %.3f, P@5 nn %.3f csls %.3f "
        "(chance P@1 %.4f)",
        name,
        r["criterion"],
        r["nn_p@1"],
        r["csls_p@1"],
        r["nn_p@5"],
        r["csls_p@5"],
        report["chance"]["p@1"],
      )
      if "score_r" in r:
        logging.info(
          "alignment %s: lexicon score of word vs its translation r=%.3f "
          "(random translations r=%.3f, %d words)",
          name,
          r["score_r"],
          r["score_r_random"],
          r["score_words"],
        )
  return report
