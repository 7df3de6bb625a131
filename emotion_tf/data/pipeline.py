"""tf.data reader of the TFRecord shards written by data_prep.write_tfrecords.

files -> interleave -> parse -> shuffle (training only) -> [repeat] -> batch -> prefetch.
Training mode shuffles the file order and interleaves several shards; evaluation mode
(training=False) reads the shards in sorted order one after another, so every recording's chunks
arrive in order and `stitch_predictions` rebuilds whole recordings.
"""

import glob
import json
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from emotion_tf.data import augment as augment_lib
from emotion_tf.data import schema

REPORT_FILE = "report.json"  # the writer's per-run report beside the shards
_LIST_AT_MOST = 10  # recordings named in one message


class DataDirError(ValueError):
  """A TFRecord directory that cannot be used as it is (corrupt/truncated shard, shards not
  matching metadata.json, incomplete directory). The message names the file and the fix."""


def shard_files(data_dir: str, partition: str) -> Sequence[str]:
  """Sorted shard paths of `partition` in `data_dir`.

  Raises:
    FileNotFoundError: naming the directory and pattern when no shard exists.
  """
  partition = partition.strip().lower()
  files = sorted(glob.glob(os.path.join(data_dir, schema.shard_pattern(partition))))
  if not files:
    raise FileNotFoundError(
      f"{data_dir}: no shards {schema.shard_pattern(partition)} for partition {partition!r}"
    )
  return files


def rewrite_command(data_dir: str, meta: schema.Metadata, force: bool = True) -> str:
  """The `data_prep.write_tfrecords` command line that rewrites `data_dir`, from its metadata."""
  args = ["python -m data_prep.write_tfrecords"]
  if meta.corpus_dir:
    args += ["--corpus", meta.corpus_dir]
  if meta.embeddings_file:
    args += ["--embeddings", meta.embeddings_file]
  timings = meta.fields.get("word_timings")
  if timings and timings != "uniform":
    args += ["--word_timings", str(timings)]
  for key in ("oov", "audio_dtype"):
    if meta.fields.get(key):
      args += [f"--{key}", str(getattr(meta, key))]
  args += ["--out", os.path.abspath(data_dir)]
  if force:
    args.append("--force")
  return " ".join(args)


def _list(items: Sequence[str]) -> str:
  shown = ", ".join(items[:_LIST_AT_MOST])
  more = len(items) - _LIST_AT_MOST
  return shown + (f" and {more} more" if more > 0 else "")


def _read_json(path: str) -> dict[str, Any] | None:
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except (OSError, ValueError):
    return None
  return data if isinstance(data, dict) else None


def missing_recordings(
  data_dir: str, meta: schema.Metadata, partitions: Sequence[str] | None = None
) -> tuple[list[tuple[str, str]], list[str]]:
  """What an incomplete TFRecord directory (`"complete": false` in metadata.json) lacks.

  Reads metadata.json's `failed_recordings` and `partitions` (shards expected vs present), the
  shard sidecars `<shard>.json` (the recordings planned for a shard not written) and the
  writer's report.json (`errors`).

  Args:
    data_dir: the TFRecord directory; meta: its metadata.json.
    partitions: only these partitions (any case); None = all.

  Returns:
    (recordings, shards): [(recording_id, reason)] sorted by id, and the names of the planned
    shards that are not there.
  """
  wanted = None if partitions is None else {p.strip().lower() for p in partitions}
  report = _read_json(os.path.join(data_dir, REPORT_FILE)) or {}
  report_errors = report.get("errors") or {}
  report_partition = {
    r.get("recording_id"): r.get("partition")
    for r in report.get("recordings") or []
    if isinstance(r, dict)
  }
  reasons: dict[str, str] = {}
  part_of: dict[str, str | None] = {}
  for rid, error in meta.failed_recordings.items():
    reasons[rid] = str(error or report_errors.get(rid) or "failed")
    part_of[rid] = report_partition.get(rid)
  shards = []
  for partition, info in meta.partitions.items():
    count = int(info.get("num_shards", 0) or 0)
    present = set(info.get("shards") or [])
    for index in range(count):
      name = schema.shard_name(partition, index, count)
      if name in present:
        continue
      if wanted is not None and partition.lower() not in wanted:
        continue
      shards.append(name)
      side = _read_json(os.path.join(data_dir, name + ".json")) or {}
      planned = (side.get("fingerprint") or {}).get("recordings") or []
      for rid in planned:
        reasons.setdefault(
          rid, str(report_errors.get(rid) or f"its shard {name} is missing or out of date")
        )
        part_of[rid] = partition
  recordings = []
  for rid in sorted(reasons):
    partition = part_of.get(rid)
    if partition is None:  # ids start with the partition name (Train_01, Devel_03, ...)
      partition = next((p for p in meta.partitions if rid.lower().startswith(p.lower())), None)
    if wanted is not None and partition is not None and partition.lower() not in wanted:
      continue
    recordings.append((rid, reasons[rid]))
  return recordings, shards


def check_complete(
  data_dir: str, meta: schema.Metadata, partitions: Sequence[str], allow_incomplete: bool = False
) -> str | None:
  """Refuses a TFRecord directory that metadata.json marks `"complete": false`.

  Returns None for a complete directory (or one whose metadata has no `complete` key, e.g.
  written by hand), else the message naming the missing recordings and shards; with
  `allow_incomplete` that message is logged as a warning and returned.

  Raises:
    DataDirError: when incomplete for `partitions` and not `allow_incomplete`.
  """
  if meta.complete:
    return None
  recordings, shards = missing_recordings(data_dir, meta, partitions)
  path = os.path.join(data_dir, schema.METADATA_FILE)
  if not recordings and not shards:
    if any(missing_recordings(data_dir, meta)):
      return None  # what is missing belongs to other partitions
    what = f"neither metadata.json nor {REPORT_FILE} names the missing recordings"
  else:
    parts = []
    if recordings:
      parts.append(
        f"{len(recordings)} missing recording(s): "
        + _list([f"{rid} ({reason})" for rid, reason in recordings])
      )
    if shards:
      parts.append(f"shard(s) not written: {_list(shards)}")
    what = "; ".join(parts)
  message = (
    f'{path}: the TFRecord directory is incomplete ("complete": false) for '
    f"partition(s) {', '.join(partitions)}: {what}"
  )
  if allow_incomplete:
    from absl import logging

    logging.warning("%s; going on with the recordings that are there (--allow_incomplete)", message)
    return message
  raise DataDirError(
    f"{message}. Fix those inputs and rerun `{rewrite_command(data_dir, meta, force=False)}` "
    "(it writes only what is missing), or pass --allow_incomplete to use the recordings "
    "that are there"
  )


def _feature_length(feature) -> tuple[str, int]:
  """(kind, length) of a tf.train.Feature: bytes -> total byte count, int64/float -> count."""
  kind = feature.WhichOneof("kind")
  if kind == "bytes_list":
    return kind, sum(len(v) for v in feature.bytes_list.value)
  if kind == "int64_list":
    return kind, len(feature.int64_list.value)
  if kind == "float_list":
    return kind, len(feature.float_list.value)
  return "empty", 0


def check_example_matches_metadata(
  path: str, serialized: bytes, meta: schema.Metadata, data_dir: str = ""
) -> None:
  """Checks one serialized example of shard `path` against metadata.json.

  Compares every field's size with what `frames_per_chunk`, `samples_per_frame`,
  `semantic_dim` and `audio_dtype` of the metadata imply (the sizes `schema.parse_example`
  will demand).

  Raises:
    DataDirError: naming the shard, the field, the expected and the found size.
  """
  frames, spf, dim = meta.frames_per_chunk, meta.samples_per_frame, meta.semantic_dim
  audio_dtype = meta.audio_dtype
  audio_bytes = 4 if audio_dtype == "float32" else 2
  meta_path = os.path.join(data_dir or os.path.dirname(path), schema.METADATA_FILE)
  try:
    example = tf.train.Example.FromString(serialized)
  except Exception as e:  # protobuf's DecodeError
    raise DataDirError(
      f"{path}: first record is not a tf.train.Example ({e}); rewrite the shard"
    ) from e
  features = example.features.feature
  expected = {  # field -> (kind, size, what the size means)
    schema.RECORDING_ID: ("bytes_list", None, ""),
    schema.CHUNK_INDEX: ("int64_list", 1, "value"),
    schema.NUM_FRAMES: ("int64_list", 1, "value"),
    # word_index first: its length is the frames per chunk, which the other sizes build on.
    schema.WORD_INDEX: ("int64_list", frames, f"values = frames_per_chunk {frames}"),
    schema.LABELS: (
      "bytes_list",
      frames * schema.NUM_LABELS * 4,
      f"bytes = frames_per_chunk {frames} x {schema.NUM_LABELS} labels x 4",
    ),
    schema.AUDIO: (
      "bytes_list",
      frames * spf * audio_bytes,
      f"bytes = frames_per_chunk {frames} x samples_per_frame {spf} x "
      f"{audio_bytes} ({audio_dtype})",
    ),
    schema.SEMANTIC: (
      "bytes_list",
      frames * dim * 4,
      f"bytes = frames_per_chunk {frames} x semantic_dim {dim} x 4",
    ),
  }
  for name, (kind, size, meaning) in expected.items():
    if name not in features:
      raise DataDirError(
        f"{path}: first record has no field {name!r}; the shard was not "
        f"written by data_prep.write_tfrecords of this schema "
        f"(schema_version {schema.SCHEMA_VERSION})"
      )
    found_kind, found = _feature_length(features[name])
    if found_kind != kind:
      raise DataDirError(f"{path}: field {name!r} holds {found_kind}, expected {kind}")
    if size is not None and found != size:
      hint = ""
      if name == schema.SEMANTIC and found % (frames * 4) == 0:
        hint = f"; the shard holds semantic_dim {found // (frames * 4)}"
      elif name == schema.WORD_INDEX:
        hint = f"; the shard holds frames_per_chunk {found}"
      elif name == schema.AUDIO and found % (frames * audio_bytes) == 0:
        hint = f"; the shard holds samples_per_frame {found // (frames * audio_bytes)}"
      raise DataDirError(
        f"{path}: field {name!r} of the first record does not match {meta_path}: expected "
        f"{size} {meaning}, found {found}{hint}. metadata.json was edited or the shard was "
        f"written with other settings; rewrite the directory with "
        f"`{rewrite_command(data_dir or os.path.dirname(path), meta)}`"
      )
  num_frames = features[schema.NUM_FRAMES].int64_list.value[0]
  if not 0 < num_frames <= frames:
    raise DataDirError(
      f"{path}: field 'num_frames' of the first record is {num_frames}, "
      f"expected 1..{frames} (frames_per_chunk in {meta_path})"
    )


def _tf_reason(error: Exception) -> str:
  """TF's error text without its '{{function_node ...}}' prefix and '[Op:...]' suffix,
  e.g. 'truncated record at 4711' or 'corrupted record at 10028'."""
  text = (getattr(error, "message", None) or str(error)).strip().splitlines()[0]
  text = re.sub(r"^\{\{[^}]*\}\}\s*", "", text)
  return re.sub(r"\s*\[Op:[^\]]*\].*$", "", text) or type(error).__name__


def validate_shards(
  data_dir: str, partition: str, meta: schema.Metadata | None = None
) -> list[str]:
  """Reads every shard of `partition` once (record framing and CRCs) and checks its first
  record against metadata.json, before any training or evaluation step.

  Returns:
    the sorted shard paths.

  Raises:
    FileNotFoundError: no shard for the partition (see `shard_files`).
    DataDirError: naming the shard for a corrupt or truncated file (TF's DataLossError) or a
      first record that does not match the metadata, with the command that rewrites it.
  """
  meta = schema.read_metadata(data_dir) if meta is None else meta
  files = shard_files(data_dir, partition)
  for path in files:
    dataset = tf.data.TFRecordDataset(path)
    try:
      first = next(iter(dataset.take(1)), None)
      dataset.reduce(np.int64(0), lambda n, _: n + 1)  # reads every record
    except tf.errors.DataLossError as e:
      reason = _tf_reason(e)
      raise DataDirError(
        f"{path}: corrupt or truncated TFRecord shard ({reason}). Rewrite it with "
        f"`{rewrite_command(data_dir, meta)}` (or delete {os.path.basename(path)} and its "
        f".json sidecar and rerun the same command without --force to rewrite only this "
        "shard)"
      ) from e
    except tf.errors.OpError as e:
      raise DataDirError(f"{path}: cannot read the shard ({_tf_reason(e)})") from e
    if first is not None:
      check_example_matches_metadata(path, first.numpy(), meta, data_dir)
  return files


def pack_interlocutor_frames(
  audio: tf.Tensor, subject_turn: tf.Tensor, samples_per_frame: int
) -> tf.Tensor:
  """Interlocutor-aware frames (the original code's data_generator.py): [F * spf] -> [F * 2 spf].

  Frame k's spf samples go in the first half of its 2 * spf when subject_turn[k] = 1 (label time
  inside a subject turn), else in the second half (the partner or silence); the other half is
  zeros. Same as `frames.pack_interlocutor_frames` (numpy).
  """
  frames = tf.reshape(audio, [-1, samples_per_frame])  # [F, spf]
  st = tf.cast(tf.reshape(subject_turn, [-1, 1]) > 0, frames.dtype)  # [F, 1]
  return tf.reshape(tf.concat([frames * st, frames * (1.0 - st)], axis=1), [-1])


def check_interlocutor_data(data_dir: str, meta: schema.Metadata) -> None:
  """Refuses shards without the per-frame subject_turn feature (schema version 1).

  Raises:
    DataDirError: naming metadata.json and the command that rewrites the directory.
  """
  if not meta.subject_turn:
    raise DataDirError(
      f"{os.path.join(data_dir, schema.METADATA_FILE)}: the shards have no per-frame "
      f"'{schema.SUBJECT_TURN}' feature (schema_version {meta.schema_version}), which "
      "interlocutor_frames needs; rewrite them with "
      f"`{rewrite_command(data_dir, meta)}` (it reads turns/<id>.csv)"
    )


def make_dataset(
  data_dir: str,
  partition: str,
  batch_size: int,
  training: bool,
  *,
  shuffle_buffer: int = 256,
  seed: int | None = None,
  embedding_matrix: np.ndarray | None = None,
  include_ids: bool = False,
  drop_remainder: bool = False,
  repeat: bool = False,
  interlocutor_frames: bool = False,
  augmentation=None,
) -> tf.data.Dataset:
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
    interlocutor_frames: pack each frame's audio into 2 * samples_per_frame samples by the
      shards' subject_turn (`pack_interlocutor_frames`); 'audio' is then [B, F*2*spf].
    augmentation: augment.AugmentConfig of training examples, keyed by seed (augment.active).

  Raises:
    DataDirError: interlocutor_frames on shards without subject_turn.

  Returns:
    tf.data.Dataset of (inputs, labels): inputs = {'audio': float32 [B, F*2205],
    'semantic': float32 [B, F, d], 'num_frames': int32 [B]} (+ ids), labels float32 [B, F, 3].
  """
  meta = schema.read_metadata(data_dir)
  files = shard_files(data_dir, partition)
  frames, spf, dim = meta.frames_per_chunk, meta.samples_per_frame, meta.semantic_dim
  audio_dtype = meta.audio_dtype
  if interlocutor_frames:
    check_interlocutor_data(data_dir, meta)
  augmentation = augment_lib.active(augmentation, training, interlocutor_frames, data_dir)
  matrix = None
  if embedding_matrix is not None:
    matrix = np.asarray(embedding_matrix, np.float32)
    vocab_size = meta.vocab_size or matrix.shape[0]
    if matrix.ndim != 2 or matrix.shape[0] != vocab_size:
      raise ValueError(
        f"{data_dir}: embedding_matrix must be [{vocab_size}, d] (vocab.txt size), "
        f"got {matrix.shape}"
      )
    matrix = tf.constant(matrix)

  def parse(serialized):
    ex = schema.parse_example(serialized, frames, spf, dim, audio_dtype)
    semantic = ex[schema.SEMANTIC]
    if matrix is not None:
      semantic = tf.gather(matrix, ex[schema.WORD_INDEX])
    audio = ex[schema.AUDIO]
    if interlocutor_frames:
      audio = pack_interlocutor_frames(audio, ex[schema.SUBJECT_TURN], spf)
    inputs = {"audio": audio, "semantic": semantic, "num_frames": ex[schema.NUM_FRAMES]}
    if include_ids or augmentation is not None:
      inputs["recording_id"] = ex[schema.RECORDING_ID]
      inputs["chunk_index"] = ex[schema.CHUNK_INDEX]
    return inputs, ex[schema.LABELS]

  deterministic = (not training) or seed is not None
  if training:
    ds = tf.data.Dataset.from_tensor_slices(list(files))
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
      tf.data.TFRecordDataset,
      cycle_length=min(4, len(files)),
      block_length=1,
      num_parallel_calls=tf.data.AUTOTUNE,
      deterministic=deterministic,
    )
  else:
    ds = tf.data.TFRecordDataset(list(files))  # sorted shards, one after another
  ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
  if training:
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
  ds = augment_lib.augment_dataset(
    ds, augmentation, seed, (meta.samples_per_frame, meta.sample_rate), include_ids
  )
  if repeat:
    ds = ds.repeat()
  ds = ds.batch(batch_size, drop_remainder=drop_remainder)
  return augment_lib.augment_batches(ds, augmentation, spf).prefetch(tf.data.AUTOTUNE)


def stitch_predictions(ids, chunk_indices, num_frames, predictions) -> dict[str, np.ndarray]:
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
    raise ValueError(
      f"stitch_predictions: {n} ids, {len(chunk_indices)} chunk indices, "
      f"{len(num_frames)} num_frames, {predictions.shape[0]} predictions"
    )
  chunks: dict[str, dict[int, np.ndarray]] = {}
  for rid, c, nf, p in zip(ids, chunk_indices, num_frames, predictions, strict=False):
    per = chunks.setdefault(rid, {})
    if int(c) in per:
      raise ValueError(f"stitch_predictions: chunk {int(c)} of {rid} appears twice")
    per[int(c)] = p[: int(nf)]
  out = {}
  for rid, per in chunks.items():
    order = sorted(per)
    if order != list(range(len(order))):
      missing = sorted(set(range(order[-1] + 1)) - set(order))
      raise ValueError(f"stitch_predictions: recording {rid} lacks chunks {missing}")
    out[rid] = np.concatenate([per[c] for c in order], axis=0).astype(np.float32)
  return out
