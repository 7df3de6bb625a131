"""Speech2Vec trained on streamed segments: the labelled corpus's plus pretraining corpora's.

Used by `python -m data_prep.train_speech2vec` when --pretrain_corpus or --segments_dir is
given (data_prep/train_speech2vec_lib.py keeps the in-memory path for the labelled corpus
alone). Segments of the LibriSpeech-layout --pretrain_corpus directories are written once to
`<out>/pretrain_segments/` (`emotion_tf.semantic.pretrain_corpus.write_segments`; a rerun
reuses them), the labelled corpus's training segments to `<out>/corpus_segments/` (rewritten
every run, small), and Speech2Vec streams all of them plus any --segments_dir
(`emotion_tf.semantic.speech2vec_stream`). The MFCC normaliser is fitted on every streamed
segment (from the stored sums).
"""

import os
import shutil
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.semantic import pretrain_corpus, segment_shards, speech2vec, speech2vec_stream
from emotion_tf.semantic import segments as segments_lib

PRETRAIN_SEGMENTS = "pretrain_segments"
CORPUS_SEGMENTS = "corpus_segments"


def write_corpus_segments(train_segs: segments_lib.Segments, out_dir: str) -> str:
  """Writes the labelled corpus's training segments, one record per recording; returns the dir."""
  seg_dir = os.path.join(out_dir, CORPUS_SEGMENTS)
  if os.path.exists(seg_dir):
    shutil.rmtree(seg_dir)
  writer = segment_shards.ShardWriter(
    seg_dir, train_segs.features.shape[1], train_segs.features.shape[2]
  )
  ids = np.array(train_segs.recording_ids, dtype=object)
  starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, int)
  for a, b in zip(starts, np.r_[starts[1:], len(ids)], strict=False):
    writer.add(train_segs.subset(np.arange(a, b)))
  writer.close({"settings": "training segments of the labelled corpus"})
  return seg_dir


def train_streamed(
  train_segs: segments_lib.Segments,
  out_dir: str,
  mfcc_config: mfcc_lib.MfccConfig,
  config: speech2vec.Speech2VecConfig,
  pretrain_corpora: Sequence[str] = (),
  segments_dirs: Sequence[str] = (),
  pretrain_timings: str | None = None,
  strategy: tf.distribute.Strategy | None = None,
) -> tuple[speech2vec.Speech2VecEncoder, speech2vec.TrainResult, mfcc_lib.Normalizer, dict]:
  """Writes/reuses segment directories, fits the normaliser, trains on the stream.

  Returns:
    (encoder, result, normaliser, report {"pretrain_segments", "segments_dirs",
    "streamed_segments", "failures"}); the normaliser is saved to <out>/normalizer.json.
  Raises:
    ValueError: a pretraining corpus without usable segments, segment directories that do
      not match the Speech2Vec settings.
  """
  dirs = [write_corpus_segments(train_segs, out_dir)]
  report: dict = {"segments_dirs": list(segments_dirs), "failures": {}}
  if pretrain_corpora:
    meta = pretrain_corpus.write_segments(
      pretrain_corpora,
      os.path.join(out_dir, PRETRAIN_SEGMENTS),
      mfcc_config,
      config.max_frames,
      config.resample_frames,
      pretrain_timings,
    )
    dirs.append(os.path.join(out_dir, PRETRAIN_SEGMENTS))
    report["pretrain_segments"] = meta["segments"]
    report["pretrain_recordings"] = meta["recordings"]
    report["failures"] = meta["source"].get("failures", {})
  dirs += list(segments_dirs)
  merged = segment_shards.merged_meta(dirs)
  normalizer = segment_shards.normalizer_from_meta(merged)
  normalizer.save(os.path.join(out_dir, "normalizer.json"))
  report["streamed_segments"] = merged["segments"]
  logging.info(
    "Speech2Vec: streaming %d word segments (%d of the labelled corpus) from %s",
    merged["segments"],
    len(train_segs),
    dirs,
  )
  rng = np.random.default_rng(config.seed)
  probe = np.sort(
    rng.choice(len(train_segs), size=min(config.probe_size, len(train_segs)), replace=False)
  )
  probe_feats = normalizer.apply(train_segs.features[probe], train_segs.lengths[probe])
  encoder, result = speech2vec_stream.train_streamed(
    dirs, normalizer, config, out_dir, probe_feats, train_segs.lengths[probe], strategy
  )
  return encoder, result, normalizer, report
