"""Trains Speech2Vec on a corpus's word segments and writes its vectors, encoder and quality checks.

    python -m data_prep.train_speech2vec --corpus DIR [--word_timings DIR] --out DIR \
        [--train_partitions train --embed_partitions train,devel,test --epochs 10 ...]

Word segments come from `emotion_tf.data.word_timings.load_word_timings` (CSV/TextGrid in
--word_timings, else in <corpus>/word_timings when present, else the uniform split of each
transcript). The model trains on the
--train_partitions (MFCC normalisation statistics too); type vectors are then computed,
with the trained encoder, over every segment of --embed_partitions (audio only, no
labels), so words of the held-out partitions get vectors as well.

--extra_corpus DIR (repeatable) adds the recordings of further corpora (every partition)
to the TRAINING segments only, like Word2Vec's separate text corpus; they never give type
vectors or enter the quality checks. On the synthetic corpus the demo's Train partition
(~2 000 words) is too little speech for contexts to shape the vectors; e.g.
`python -m data_prep.synthesize --out X --recordings 160 --seconds 60 --seed 1` gives
enough (see the quality figures in quality.json).

Outputs in --out (each written atomically; a rerun resumes from the last checkpoint and
re-exports):
  speech2vec.vec      type vectors, words in descending instance-count order
  encoder/            SavedModel: waveform segments (+ lengths) -> vectors (see
                      `speech2vec.EncoderExport`)
  normalizer.json     MFCC mean/std from the training segments
  config.json         MFCC + model configuration
  quality.json        segment counts, training history, same-different AP (trained vs
                      untrained encoder), valence probe R^2 (vs shuffled targets)
  checkpoints/, tensorboard/
  pretrain_segments/, corpus_segments/   with --pretrain_corpus / --segments_dir: the streamed
                      word segments (data_prep/speech2vec_pretrain_lib.py)
Exit codes (emotion_tf.util.cli): 0 done; 1 the work failed or is incomplete (training
collapsed: last good checkpoint kept; or some recordings could not be read: the others were
used, each failure logged with its file); 2 bad input or usage (no usable recordings or
segments, an --out that cannot be written or that holds a model with other settings:
checked before training); 130 interrupted (a rerun resumes from the last checkpoint).
"""

import collections
import os
import time
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from data_prep import speech2vec_pretrain_lib
from emotion_tf.data import corpus, word_timings
from emotion_tf.data import vectors as vectors_lib
from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.semantic import quality, speech2vec
from emotion_tf.semantic import segments as segments_lib
from emotion_tf.util import fileio


def load_corpus_segments(
  corpus_dir: str,
  word_timings_dir: str | None,
  partitions: Sequence[str] | None,
  mfcc_config: mfcc_lib.MfccConfig,
  max_frames: int,
  resample_frames: int = 0,
) -> tuple[segments_lib.Segments, dict[str, str], dict]:
  """Word segments of every recording of `partitions`.

  A recording that fails to load (bad audio, bad timings file) is logged, reported and
  skipped; the others go on.

  Returns:
    (segments [N, max_frames, F] ([N, resample_frames, F] when resampling), partition of
    each recording id, report
    {"recordings", "failed": {id: error}, "segments": counts by kind}).
  Raises:
    ValueError / corpus.CorpusError: no recordings, or no usable word segment at all.
  """
  recordings = corpus.list_recordings(corpus_dir, partitions)
  if not recordings:
    raise ValueError(f"{corpus_dir}: no recordings in partitions {partitions}")
  parts, failed = [], {}
  counts = collections.Counter()
  partition_of = {}
  for rec in recordings:
    try:
      wav = corpus.load_audio(rec.audio_path, mfcc_config.sample_rate)
      timings = word_timings.load_word_timings(corpus_dir, rec.recording_id, word_timings_dir)
    except (ValueError, OSError) as e:
      logging.error("skipping recording %s: %s", rec.recording_id, e)
      failed[rec.recording_id] = str(e)
      continue
    source = (
      f"{word_timings.timings_source(corpus_dir, rec.recording_id, word_timings_dir)} "
      f"(audio {rec.audio_path})"
    )
    segs, c = segments_lib.extract_segments(
      wav, timings, rec.recording_id, mfcc_config, max_frames, resample_frames, source=source
    )
    counts.update(c)
    parts.append(segs)
    partition_of[rec.recording_id] = rec.partition
  width = resample_frames if resample_frames > 0 else max_frames
  segs = segments_lib.Segments.concatenate(parts, width, mfcc_config.num_features)
  report = {"recordings": len(recordings), "failed": failed, "segments": dict(counts)}
  logging.info(
    "%s: %d word segments from %d recordings (%s)",
    corpus_dir,
    len(segs),
    len(recordings) - len(failed),
    ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
  )
  if len(segs) == 0:
    raise ValueError(
      f"{corpus_dir}: no usable word segments in partitions {partitions} "
      f"(counts {dict(counts)}, failed recordings {len(failed)})"
    )
  return segs, partition_of, report


def _check_config(path: str, config: dict) -> None:
  """A rerun must use the model-shaping settings of the run it resumes (epochs may grow)."""
  if not os.path.exists(path):
    return
  import json

  with open(path, encoding="utf-8") as f:
    old = json.load(f)
  ignore = {"epochs", "collapse_cosine", "probe_size"}
  diff = {
    k: (old["speech2vec"].get(k), v)
    for k, v in config["speech2vec"].items()
    if k not in ignore and old["speech2vec"].get(k) != v
  }
  if old.get("mfcc") != config["mfcc"]:
    diff["mfcc"] = (old.get("mfcc"), config["mfcc"])
  if diff:
    raise ValueError(
      f"{path}: --out holds a model trained with other settings {diff}; "
      "use a new --out directory or the same flags"
    )


def evaluate(
  encoder,
  untrained_encoder,
  segments: segments_lib.Segments,
  normalizer: mfcc_lib.Normalizer,
  lexicon: Mapping[str, float] | None,
  seed: int = 0,
  max_instances: int = 2000,
) -> tuple[dict, dict]:
  """Quality checks of trained vs untrained encoders on `segments`.

  Returns:
    (quality dict, type-vector tuple (words, vectors [V, d], counts)) with
    quality = {"same_different": {...}, "valence_probe": {...}}.
  """
  feats = normalizer.apply(segments.features, segments.lengths)
  emb = speech2vec.embed_features(encoder, feats, segments.lengths)
  emb0 = speech2vec.embed_features(untrained_encoder, feats, segments.lengths)
  ap = quality.same_different_ap(emb, segments.words, max_instances, seed)
  ap0 = quality.same_different_ap(emb0, segments.words, max_instances, seed)
  types = speech2vec.type_vectors(emb, segments.words)
  out = {
    "same_different": {
      "trained_ap": ap["ap"],
      "untrained_ap": ap0["ap"],
      "chance_ap": ap["chance"],
      "pairs": ap["pairs"],
      "instances": ap["instances"],
    }
  }
  if lexicon is not None:
    words0, vecs0, _ = speech2vec.type_vectors(emb0, segments.words)
    probe = quality.valence_probe(types[0], types[1], lexicon, seed=seed)
    probe0 = quality.valence_probe(words0, vecs0, lexicon, seed=seed)
    out["valence_probe"] = {
      "r2": probe["r2"],
      "r2_shuffled": probe["r2_shuffled"],
      "r2_untrained": probe0["r2"],
      "words": probe["words"],
    }
  return out, types


def run(
  corpus_dir: str,
  out_dir: str,
  word_timings_dir: str | None = None,
  mfcc_config: mfcc_lib.MfccConfig | None = None,
  config: speech2vec.Speech2VecConfig | None = None,
  train_partitions: Sequence[str] = ("train",),
  embed_partitions: Sequence[str] | None = None,
  lexicon: Mapping[str, float] | None = None,
  strategy: tf.distribute.Strategy | None = None,
  extra_corpora: Sequence[str] = (),
  pretrain_corpora: Sequence[str] = (),
  segments_dirs: Sequence[str] = (),
  pretrain_timings: str | None = None,
) -> dict:
  """Segments -> normaliser -> training -> type vectors, SavedModel, quality report.

  Args:
    corpus_dir, word_timings_dir: corpus and optional timings directory.
    mfcc_config: front end; config: model/training (num_features is set from mfcc_config).
    train_partitions: partitions whose segments train the model and the normaliser.
    embed_partitions: partitions whose segments give type vectors (None = all).
    lexicon: word -> valence for the probe (None = skip the probe).
    strategy: tf.distribute strategy (default: the current one).
    extra_corpora: further corpus directories whose recordings (every partition, word
      timings from `<dir>/word_timings` when present) are added to the TRAINING segments
      only -- unlabelled speech, like Word2Vec's separate text corpus. They never enter
      type vectors or quality checks, so the main corpus's Devel/Test audio stays unseen.
    pretrain_corpora, segments_dirs, pretrain_timings: LibriSpeech-layout pretraining
      corpora (word spans from `pretrain_timings` or beside the audio) and segments
      directories streamed beside the training segments
      (data_prep/speech2vec_pretrain_lib.py); none = the in-memory path.

  Returns:
    the quality report (also written to out_dir/quality.json).
  Raises:
    ValueError: bad input (empty corpus, no segments, mismatched rerun settings).
    speech2vec.CollapseError: training collapsed.
  """
  t0 = time.time()
  mfcc_config = mfcc_config or mfcc_lib.MfccConfig()
  config = config or speech2vec.Speech2VecConfig()
  config = speech2vec.Speech2VecConfig.from_dict(
    {**config.to_dict(), "num_features": mfcc_config.num_features}
  )
  os.makedirs(out_dir, exist_ok=True)
  resolved = {
    "mfcc": mfcc_config.to_dict(),
    "speech2vec": config.to_dict(),
    "train_partitions": list(train_partitions),
    "extra_corpora": list(extra_corpora),
    "embed_partitions": list(embed_partitions) if embed_partitions else None,
    "word_timings": word_timings_dir,
    "pretrain_corpora": list(pretrain_corpora),
    "segments_dirs": list(segments_dirs),
    "pretrain_timings": pretrain_timings,
  }
  _check_config(os.path.join(out_dir, "config.json"), resolved)
  wanted = sorted(
    set(corpus.normalize_partitions(train_partitions))
    | set(corpus.normalize_partitions(embed_partitions))
  )
  segs, partition_of, seg_report = load_corpus_segments(
    corpus_dir, word_timings_dir, wanted, mfcc_config, config.max_frames, config.resample_frames
  )
  train_set = set(corpus.normalize_partitions(train_partitions))
  embed_set = set(corpus.normalize_partitions(embed_partitions))
  parts = np.array([partition_of[r] for r in segs.recording_ids])
  train_segs = segs.subset(np.flatnonzero(np.isin(parts, sorted(train_set))))
  embed_segs = segs.subset(np.flatnonzero(np.isin(parts, sorted(embed_set))))
  extra_report = {}
  if extra_corpora:
    extra_parts = [train_segs]
    for i, extra_dir in enumerate(extra_corpora):
      timings_dir = os.path.join(extra_dir, "word_timings")
      extra, _, rep = load_corpus_segments(
        extra_dir,
        timings_dir if os.path.isdir(timings_dir) else None,
        None,
        mfcc_config,
        config.max_frames,
        config.resample_frames,
      )
      # Distinct recording ids, so skip-gram contexts never join two corpora.
      extra.recording_ids = [f"extra{i}/{r}" for r in extra.recording_ids]
      extra_parts.append(extra)
      extra_report[extra_dir] = {**rep, "word_segments": len(extra)}
    train_segs = segments_lib.Segments.concatenate(
      extra_parts, train_segs.features.shape[1], mfcc_config.num_features
    )
    logging.info(
      "training on %d word segments (%d from %d extra corpora)",
      len(train_segs),
      sum(r["word_segments"] for r in extra_report.values()),
      len(extra_corpora),
    )
  if len(train_segs) < 2:
    raise ValueError(
      f"{corpus_dir}: {len(train_segs)} word segments in training partitions "
      f"{sorted(train_set)}; need at least 2"
    )
  fileio.write_json(os.path.join(out_dir, "config.json"), resolved)
  pretrain_report = None
  if pretrain_corpora or segments_dirs:
    encoder, result, normalizer, pretrain_report = speech2vec_pretrain_lib.train_streamed(
      train_segs,
      out_dir,
      mfcc_config,
      config,
      pretrain_corpora,
      segments_dirs,
      pretrain_timings,
      strategy,
    )
  else:
    normalizer = mfcc_lib.Normalizer.fit(train_segs.features, train_segs.lengths)
    normalizer.save(os.path.join(out_dir, "normalizer.json"))
    encoder, result = speech2vec.train(train_segs, normalizer, config, out_dir, strategy)
  untrained, _ = speech2vec.build_models(config)
  report = {
    "segments": seg_report,
    "extra_corpora": extra_report,
    "pretraining": pretrain_report,
    "train_segments": len(train_segs),
    "embed_segments": len(embed_segs),
    "training": {
      "epochs_run": result.epochs_run,
      "epochs_total": result.epochs_total,
      "last_loss": result.last_loss,
      "probe_mean_cosine": result.probe_cosine,
      "segments_per_second": result.segments_per_second,
      "history": result.history,
    },
  }
  held_out = embed_segs.subset(
    np.flatnonzero(~np.isin([partition_of[r] for r in embed_segs.recording_ids], sorted(train_set)))
  )
  ap_segs = held_out if len(set(held_out.words)) >= 2 else embed_segs
  q, _ = evaluate(encoder, untrained, ap_segs, normalizer, None, config.seed)
  q["same_different"]["segments_from"] = (
    "held-out partitions" if ap_segs is held_out else "embedded partitions"
  )
  q_all, (words, vecs, counts) = evaluate(
    encoder, untrained, embed_segs, normalizer, lexicon, config.seed
  )
  report["same_different"] = q["same_different"]
  if "valence_probe" in q_all:
    report["valence_probe"] = q_all["valence_probe"]
  vectors_lib.write_vec(os.path.join(out_dir, "speech2vec.vec"), words, vecs)
  fileio.write_json(
    os.path.join(out_dir, "word_counts.json"), dict(zip(words, counts, strict=False))
  )
  speech2vec.export_encoder(
    encoder,
    normalizer,
    mfcc_config,
    config.max_frames,
    os.path.join(out_dir, "encoder"),
    config.resample_frames,
  )
  report["vocabulary"] = len(words)
  report["wall_s"] = time.time() - t0
  fileio.write_json(os.path.join(out_dir, "quality.json"), report)
  sd = report["same_different"]
  logging.info(
    "speech2vec quality: same-different AP %.3f trained vs %.3f untrained (chance %.3f)",
    sd["trained_ap"],
    sd["untrained_ap"],
    sd["chance_ap"],
  )
  if "valence_probe" in report:
    vp = report["valence_probe"]
    logging.info(
      "speech2vec quality: valence probe R^2 %.3f vs %.3f shuffled (untrained encoder %.3f), "
      "%d words",
      vp["r2"],
      vp["r2_shuffled"],
      vp["r2_untrained"],
      vp["words"],
    )
  return report
