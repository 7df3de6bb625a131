"""Speech2Vec trained on streamed word segments (`segment_shards` directories), bounded memory.

The batches are those of the in-memory path (`speech2vec._make_dataset`): `batch_size`
centre words, each with its up-to-2k skip-gram neighbours (`segments.context_indices`),
Word2Vec subsampling of frequent words, padded to the longest sequence of the batch. Here the
neighbours are formed within each stored recording as it is read, the centre rows pass
through a shuffle buffer of `StreamSettings.shuffle_buffer` rows, and the training loop is
`speech2vec.train_on_dataset` (the shared Trainer, any tf.distribute strategy).

Memory: the shuffle buffer (rows of (1 + 2k) x T x F floats), `cycle_length` open records
and the prefetched batches, independent of the corpus size.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.semantic import segment_shards, speech2vec

StreamSettings = segment_shards.StreamSettings


def keep_table(word_counts: dict[str, int], threshold: float) -> dict[str, float]:
  """Word2Vec subsampling keep probability per word type (`speech2vec.keep_probabilities`):
  min(1, sqrt(t / f) + t / f) with f = count / total."""
  total = float(sum(word_counts.values()))
  out = {}
  for w, c in word_counts.items():
    ratio = threshold / (c / total)
    out[w] = float(min(1.0, np.sqrt(ratio) + ratio))
  return out


def _centre_rows_fn(
  frames: int,
  normalizer: mfcc_lib.Normalizer,
  window: int,
  max_gap_seconds: float,
  table: tf.lookup.StaticHashTable | None,
  seed: int,
):
  """A map (record dict, epoch) -> Dataset of centre rows
  (centre [T, F] normalised, centre_len [], ctx [2k, T, F], ctx_len [2k]; 0 = no neighbour)."""
  mean = tf.constant(normalizer.mean, tf.float32)
  std = tf.constant(normalizer.std, tf.float32)

  def rows(rec, epoch):
    lens = rec["lengths"]
    mask = tf.sequence_mask(lens, frames, dtype=tf.float32)[:, :, tf.newaxis]
    feats = (rec["features"] - mean) / std * mask  # [n, T, F]
    ctx = segment_shards.context_indices_tf(rec["starts"], rec["ends"], window, max_gap_seconds)
    valid = ctx >= 0
    safe = tf.maximum(ctx, 0)
    centre = tf.reduce_any(valid, axis=1)
    if table is not None:
      p = table.lookup(rec["words"])  # [n]
      h = tf.strings.to_hash_bucket_fast(rec["recording"], 2**62)
      base = tf.cast(seed, tf.int64) + 2 * epoch
      centre &= tf.random.stateless_uniform(tf.shape(p), seed=tf.stack([base, h])) < p
      valid &= tf.random.stateless_uniform(tf.shape(ctx), seed=tf.stack([base + 1, h])) < tf.gather(
        p, safe
      )
    ctx_len = tf.where(valid, tf.gather(lens, safe), 0)
    idx = tf.where(centre)[:, 0]
    return tf.data.Dataset.from_tensor_slices(
      (
        tf.gather(feats, idx),
        tf.gather(lens, idx),
        tf.gather(feats, tf.gather(safe, idx)),
        tf.gather(ctx_len, idx),
      )
    )

  return rows


def stream_dataset(
  seg_dirs: Sequence[str],
  normalizer: mfcc_lib.Normalizer,
  window: int,
  max_gap_seconds: float,
  global_batch: int,
  seed: int,
  keep: dict[str, float] | None = None,
  settings: StreamSettings | None = None,
) -> tf.data.Dataset:
  """Endless batches of centre words and their neighbours from segments directories.

  Every epoch reads every shard once (shard order reshuffled per epoch when
  `settings.shuffle`); subsampling draws depend on (seed, epoch, recording, position) only.

  Returns:
    Dataset of (centre [B, t, F], centre_len [B], ctx [B, 2k, t, F], ctx_len [B, 2k]),
    B = `global_batch`, t = the longest sequence of the batch.
  """
  settings = settings or StreamSettings()
  meta = segment_shards.merged_meta(seg_dirs)
  frames, num_features = meta["frames"], meta["num_features"]
  paths = [p for d in seg_dirs for p in segment_shards.shard_paths(d)]
  parse = segment_shards.parse_fn(frames, num_features)
  table = None
  if keep is not None:
    words = sorted(keep)
    table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
        tf.constant(words, tf.string), tf.constant([keep[w] for w in words], tf.float32)
      ),
      1.0,
    )
  rows = _centre_rows_fn(frames, normalizer, window, max_gap_seconds, table, seed)

  def epoch_files(epoch):
    files = tf.data.Dataset.from_tensor_slices(paths)
    if settings.shuffle:
      files = files.shuffle(len(paths), seed=seed + 7919, reshuffle_each_iteration=True)
    return files.map(lambda p: (p, epoch))

  def records(path, epoch):
    return tf.data.TFRecordDataset(path).map(lambda s: (parse(s), epoch))

  ds = tf.data.Dataset.range(2**62).flat_map(epoch_files)
  ds = ds.interleave(records, cycle_length=max(1, min(settings.cycle_length, len(paths))))
  ds = ds.flat_map(rows)
  if settings.shuffle:
    ds = ds.shuffle(settings.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

  def trim(center, center_len, ctx, ctx_len):
    t = tf.maximum(tf.reduce_max(center_len), tf.reduce_max(ctx_len))
    return center[:, :t], center_len, ctx[:, :, :t], ctx_len

  return ds.batch(global_batch, drop_remainder=True).map(trim).prefetch(2)


def train_streamed(
  seg_dirs: Sequence[str],
  normalizer: mfcc_lib.Normalizer,
  config: speech2vec.Speech2VecConfig,
  model_dir: str,
  probe_feats: np.ndarray,
  probe_lens: np.ndarray,
  strategy: tf.distribute.Strategy | None = None,
  settings: StreamSettings | None = None,
  log_every_steps: int = 0,
) -> tuple[speech2vec.Speech2VecEncoder, speech2vec.TrainResult]:
  """Trains Speech2Vec on the segments of `seg_dirs`, resuming from `model_dir/checkpoints`.

  An epoch is about one pass: floor(sum over words of count x keep probability / global
  batch) steps (words without a neighbour are counted too, so it slightly overshoots).

  Args:
    seg_dirs: segments directories (`segment_shards`), raw MFCCs of [T, F] with
      T = `config.resample_frames` (or `config.max_frames` without resampling).
    normalizer: MFCC mean/std (e.g. `segment_shards.normalizer_from_meta`).
    probe_feats [P, T, F] (normalised), probe_lens [P]: the collapse-check segments.
    Others as `speech2vec.train`.
  Raises:
    ValueError: segments whose shape does not match `config`, or no segments.
    speech2vec.CollapseError: as `speech2vec.train`.
  """
  settings = settings or StreamSettings()
  strategy = strategy or tf.distribute.get_strategy()
  meta = segment_shards.merged_meta(seg_dirs)
  want = config.resample_frames if config.resample_frames > 0 else config.max_frames
  if (meta["frames"], meta["num_features"]) != (want, config.num_features):
    raise ValueError(
      f"segments in {list(seg_dirs)} are ({meta['frames']} frames, {meta['num_features']} "
      f"features); the Speech2Vec settings need ({want}, {config.num_features})"
    )
  if meta["segments"] < 2:
    raise ValueError(f"{list(seg_dirs)}: {meta['segments']} word segments; need at least 2")
  counts = meta["word_counts"]
  keep = keep_table(counts, config.subsample) if config.subsample > 0 else None
  expected = float(sum(c * (keep[w] if keep else 1.0) for w, c in counts.items()))
  global_batch = max(min(config.batch_size * strategy.num_replicas_in_sync, int(expected)), 1)
  steps_per_epoch = max(int(expected) // global_batch, 1)

  def make_dataset(seed):
    return stream_dataset(
      seg_dirs,
      normalizer,
      config.window,
      config.max_gap_seconds,
      global_batch,
      seed,
      keep,
      settings,
    )

  return speech2vec.train_on_dataset(
    make_dataset,
    steps_per_epoch,
    global_batch,
    probe_feats,
    probe_lens,
    config,
    model_dir,
    strategy,
    log_every_steps,
  )
