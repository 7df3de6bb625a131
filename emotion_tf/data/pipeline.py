"""tf.data reader of the TFRecord shards written by data_prep.write_tfrecords.

files -> interleave -> parse -> shuffle (training only) -> [repeat] -> batch -> prefetch.
Training mode shuffles the file order and interleaves several shards; evaluation mode
(training=False) reads the shards in sorted order one after another, so every recording's chunks
arrive in order and `stitch_predictions` rebuilds whole recordings.
"""

import glob
import os
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from emotion_tf.data import schema


def shard_files(data_dir: str, partition: str) -> Sequence[str]:
  """Sorted shard paths of `partition` in `data_dir`.

  Raises:
    FileNotFoundError: naming the directory and pattern when no shard exists.
  """
  partition = partition.strip().lower()
  files = sorted(glob.glob(os.path.join(data_dir, schema.shard_pattern(partition))))
  if not files:
    raise FileNotFoundError(
        f"{data_dir}: no shards {schema.shard_pattern(partition)} for partition {partition!r}")
  return files


def make_dataset(data_dir: str, partition: str, batch_size: int, training: bool, *,
                 shuffle_buffer: int = 256, seed: Optional[int] = None,
                 embedding_matrix: Optional[np.ndarray] = None, include_ids: bool = False,
                 drop_remainder: bool = False, repeat: bool = False) -> tf.data.Dataset:
  """Batches of (inputs, labels) from the shards of one partition.

  Args:
    data_dir: directory with metadata.json, vocab.txt and `<partition>-*.tfrecord`.
    partition: 'train', 'devel' or 'test' (any case).
    batch_size: examples per batch.
    training: shuffle files and examples and interleave shards; False keeps the written order.
    shuffle_buffer: examples in the shuffle buffer (training only).
    seed: makes the training order reproducible (deterministic interleave) when given.
    embedding_matrix: optional float [vocab, d'] (row 0 zeros, rows in vocab.txt order, e.g. from
      `schema.load_embedding_matrix`); replaces the stored 'semantic' by
      embedding_matrix[word_index], so one TFRecord set serves several embedding spaces.
    include_ids: add 'recording_id' (string [B]) and 'chunk_index' (int64 [B]) to the inputs.
    drop_remainder: drop a last incomplete batch.
    repeat: repeat indefinitely (before batching).

  Returns:
    tf.data.Dataset of (inputs, labels): inputs = {'audio': float32 [B, F*2205],
    'semantic': float32 [B, F, d], 'num_frames': int32 [B]} (+ ids), labels float32 [B, F, 3].
  """
  meta = schema.read_metadata(data_dir)
  files = shard_files(data_dir, partition)
  frames = int(meta["frames_per_chunk"])
  spf = int(meta["samples_per_frame"])
  dim = int(meta["semantic_dim"])
  audio_dtype = meta.get("audio_dtype", "float32")
  matrix = None
  if embedding_matrix is not None:
    matrix = np.asarray(embedding_matrix, np.float32)
    vocab_size = int(meta.get("vocab_size", matrix.shape[0]))
    if matrix.ndim != 2 or matrix.shape[0] != vocab_size:
      raise ValueError(f"{data_dir}: embedding_matrix must be [{vocab_size}, d] (vocab.txt size), "
                       f"got {matrix.shape}")
    matrix = tf.constant(matrix)

  def parse(serialized):
    ex = schema.parse_example(serialized, frames, spf, dim, audio_dtype)
    semantic = ex[schema.SEMANTIC]
    if matrix is not None:
      semantic = tf.gather(matrix, ex[schema.WORD_INDEX])
    inputs = {"audio": ex[schema.AUDIO], "semantic": semantic,
              "num_frames": ex[schema.NUM_FRAMES]}
    if include_ids:
      inputs["recording_id"] = ex[schema.RECORDING_ID]
      inputs["chunk_index"] = ex[schema.CHUNK_INDEX]
    return inputs, ex[schema.LABELS]

  deterministic = (not training) or seed is not None
  if training:
    ds = tf.data.Dataset.from_tensor_slices(list(files))
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)), block_length=1,
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
  else:
    ds = tf.data.TFRecordDataset(list(files))  # sorted shards, one after another
  ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
  if training:
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  ds = ds.batch(batch_size, drop_remainder=drop_remainder)
  return ds.prefetch(tf.data.AUTOTUNE)


def stitch_predictions(ids, chunk_indices, num_frames, predictions) -> Dict[str, np.ndarray]:
  """Reassembles per-chunk predictions into whole recordings.

  Args:
    ids: [N] recording ids (str or bytes) of every evaluated example.
    chunk_indices: [N] chunk index of each example.
    num_frames: [N] valid frames of each example.
    predictions: [N, F, K] per-frame outputs (K = 3 for arousal, valence, liking).

  Returns:
    {recording_id: float32 [sum of valid frames, K]} with chunks in chunk order, padding removed.

  Raises:
    ValueError: for mismatched lengths, a duplicate chunk, or a missing chunk index.
  """
  predictions = np.asarray(predictions)
  ids = [i.decode("utf-8") if isinstance(i, bytes) else str(i) for i in np.asarray(ids).tolist()]
  chunk_indices = np.asarray(chunk_indices).astype(np.int64).reshape(-1)
  num_frames = np.asarray(num_frames).astype(np.int64).reshape(-1)
  n = len(ids)
  if not (len(chunk_indices) == len(num_frames) == predictions.shape[0] == n):
    raise ValueError(f"stitch_predictions: {n} ids, {len(chunk_indices)} chunk indices, "
                     f"{len(num_frames)} num_frames, {predictions.shape[0]} predictions")
  chunks: Dict[str, Dict[int, np.ndarray]] = {}
  for rid, c, nf, p in zip(ids, chunk_indices, num_frames, predictions):
    per = chunks.setdefault(rid, {})
    if int(c) in per:
      raise ValueError(f"stitch_predictions: chunk {int(c)} of {rid} appears twice")
    per[int(c)] = p[:int(nf)]
  out = {}
  for rid, per in chunks.items():
    order = sorted(per)
    if order != list(range(len(order))):
      missing = sorted(set(range(order[-1] + 1)) - set(order))
      raise ValueError(f"stitch_predictions: recording {rid} lacks chunks {missing}")
    out[rid] = np.concatenate([per[c] for c in order], axis=0).astype(np.float32)
  return out
