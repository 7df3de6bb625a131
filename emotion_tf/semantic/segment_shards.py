"""Speech2Vec word segments on disk: sharded TFRecords written once, streamed by tf.data.

Layout of a segments directory (written to `<dir>.partial/` and renamed when complete, so a
directory that exists is whole):
  segments-00000-of-000NN.tfrecord   one tf.train.Example per recording (utterance), its
                                     word segments in time order:
      recording  bytes              recording id
      features   bytes              float32 [n, T, F] raw MFCCs (zero past `lengths`)
      lengths    int64 [n]          valid frames
      words      bytes [n]          word strings
      starts, ends float [n]        seconds
  segments.json                      frames T, num_features F, segment/recording counts, word
                                     counts (the vocabulary), the MFCC sums over valid frames
                                     (sum, sum of squares, count: the `mfcc.Normalizer`
                                     statistics) and the writer's `source` description.

Skip-gram contexts (`segments.context_indices`: up to `window` neighbours each side, never
across a pause longer than `max_gap_seconds`) are formed within each record while
streaming, so memory is bounded by the shuffle buffer, not by the corpus.
"""

import dataclasses
import json
import os
import shutil
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.semantic import segments as segments_lib
from emotion_tf.util import fileio

META_FILE = "segments.json"
SHARD_GLOB = "segments-*-of-*.tfrecord"


def shard_name(index: int, total: int) -> str:
  return f"segments-{index:05d}-of-{total:05d}.tfrecord"


def _example(segs: segments_lib.Segments) -> bytes:
  """One recording's segments [n, T, F] -> serialized tf.train.Example."""
  f = tf.train.Feature
  feature = {
    "recording": f(bytes_list=tf.train.BytesList(value=[segs.recording_ids[0].encode("utf-8")])),
    "features": f(
      bytes_list=tf.train.BytesList(
        value=[np.ascontiguousarray(segs.features, dtype="<f4").tobytes()]
      )
    ),
    "lengths": f(int64_list=tf.train.Int64List(value=segs.lengths.astype(np.int64))),
    "words": f(bytes_list=tf.train.BytesList(value=[w.encode("utf-8") for w in segs.words])),
    "starts": f(float_list=tf.train.FloatList(value=segs.starts)),
    "ends": f(float_list=tf.train.FloatList(value=segs.ends)),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class ShardWriter:
  """Writes recordings' segments to `out_dir` in shards of about `segments_per_shard`.

  Use: `add(segments_of_one_recording)` per recording, then `close(source)`. Everything goes
  to `<out_dir>.partial/` first; `close` names the shards `-of-NN`, writes segments.json and
  renames the directory to `out_dir` (which must not exist yet).
  """

  def __init__(self, out_dir: str, frames: int, num_features: int, segments_per_shard: int = 20000):
    self.out_dir = out_dir.rstrip("/")
    self.partial = self.out_dir + ".partial"
    if os.path.exists(self.partial):
      shutil.rmtree(self.partial)
    os.makedirs(self.partial)
    self.frames, self.num_features = frames, num_features
    self.segments_per_shard = max(int(segments_per_shard), 1)
    self._writer: tf.io.TFRecordWriter | None = None
    self._shards = 0
    self._in_shard = 0
    self.segments = 0
    self.recordings = 0
    self.word_counts: dict[str, int] = {}
    self._sum = np.zeros(num_features, np.float64)
    self._sumsq = np.zeros(num_features, np.float64)
    self._frames_count = 0

  def add(self, segs: segments_lib.Segments) -> None:
    """Adds one recording's segments (all of one recording id, in time order; n may be 0)."""
    if len(segs) == 0:
      return
    if segs.features.shape[1:] != (self.frames, self.num_features):
      raise ValueError(
        f"{segs.recording_ids[0]}: segments are {segs.features.shape[1:]}, "
        f"this segments directory holds ({self.frames}, {self.num_features})"
      )
    if len(set(segs.recording_ids)) != 1:
      raise ValueError(f"one record per recording; got ids {sorted(set(segs.recording_ids))[:3]}")
    if self._writer is None or self._in_shard >= self.segments_per_shard:
      self._next_shard()
    self._writer.write(_example(segs))
    self._in_shard += len(segs)
    self.segments += len(segs)
    self.recordings += 1
    for w in segs.words:
      self.word_counts[w] = self.word_counts.get(w, 0) + 1
    mask = np.arange(self.frames)[None, :] < segs.lengths[:, None]
    frames = segs.features[mask].astype(np.float64)
    self._sum += frames.sum(axis=0)
    self._sumsq += np.square(frames).sum(axis=0)
    self._frames_count += frames.shape[0]

  def _next_shard(self) -> None:
    if self._writer is not None:
      self._writer.close()
    self._writer = tf.io.TFRecordWriter(os.path.join(self.partial, f"part-{self._shards:05d}"))
    self._shards += 1
    self._in_shard = 0

  def close(self, source: dict | None = None) -> dict:
    """Finishes the directory; returns the metadata written to segments.json."""
    if self._writer is not None:
      self._writer.close()
    for i in range(self._shards):
      os.replace(
        os.path.join(self.partial, f"part-{i:05d}"),
        os.path.join(self.partial, shard_name(i, self._shards)),
      )
    meta = {
      "frames": self.frames,
      "num_features": self.num_features,
      "shards": self._shards,
      "segments": self.segments,
      "recordings": self.recordings,
      "word_counts": dict(sorted(self.word_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
      "mfcc_sum": self._sum.tolist(),
      "mfcc_sumsq": self._sumsq.tolist(),
      "mfcc_frames": self._frames_count,
      "source": source or {},
    }
    fileio.write_json(os.path.join(self.partial, META_FILE), meta, indent=1)
    if os.path.exists(self.out_dir):
      raise ValueError(f"{self.out_dir}: already exists; segments were left in {self.partial}")
    os.replace(self.partial, self.out_dir)
    logging.info(
      "%s: %d word segments of %d recordings in %d shards",
      self.out_dir,
      self.segments,
      self.recordings,
      self._shards,
    )
    return meta


def read_meta(seg_dir: str) -> dict:
  """segments.json of `seg_dir`, checked against the shards present.

  Raises:
    ValueError: naming the directory when it is not a complete segments directory.
  """
  path = os.path.join(seg_dir, META_FILE)
  try:
    with open(path, encoding="utf-8") as f:
      meta = json.load(f)
    shards, frames, features = int(meta["shards"]), int(meta["frames"]), int(meta["num_features"])
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ValueError(f"{path}: not a complete Speech2Vec segments directory ({e})") from e
  missing = [
    shard_name(i, shards)
    for i in range(shards)
    if not os.path.exists(os.path.join(seg_dir, shard_name(i, shards)))
  ]
  if missing:
    raise ValueError(f"{seg_dir}: shards missing: {missing[:3]}")
  del frames, features
  return meta


def shard_paths(seg_dir: str) -> list[str]:
  meta = read_meta(seg_dir)
  return [os.path.join(seg_dir, shard_name(i, meta["shards"])) for i in range(meta["shards"])]


def merged_meta(seg_dirs: Sequence[str]) -> dict:
  """Metadata of several segments directories, which must share frames and features."""
  metas = [read_meta(d) for d in seg_dirs]
  if not metas:
    raise ValueError("no segments directories given")
  shapes = {(m["frames"], m["num_features"]) for m in metas}
  if len(shapes) != 1:
    raise ValueError(
      f"segments directories {list(seg_dirs)} have different (frames, features) {shapes}"
    )
  counts: dict[str, int] = {}
  for m in metas:
    for w, c in m["word_counts"].items():
      counts[w] = counts.get(w, 0) + int(c)
  return {
    "frames": metas[0]["frames"],
    "num_features": metas[0]["num_features"],
    "segments": sum(m["segments"] for m in metas),
    "recordings": sum(m["recordings"] for m in metas),
    "word_counts": counts,
    "mfcc_sum": np.sum([m["mfcc_sum"] for m in metas], axis=0),
    "mfcc_sumsq": np.sum([m["mfcc_sumsq"] for m in metas], axis=0),
    "mfcc_frames": sum(m["mfcc_frames"] for m in metas),
  }


def normalizer_from_meta(meta: dict, min_std: float = 1e-5) -> mfcc_lib.Normalizer:
  """`mfcc.Normalizer` (mean/std over every valid frame) from the stored sums."""
  n = float(meta["mfcc_frames"])
  if n <= 0:
    raise ValueError("cannot fit MFCC normalisation: the segments hold no valid frames")
  mean = np.asarray(meta["mfcc_sum"], np.float64) / n
  var = np.maximum(np.asarray(meta["mfcc_sumsq"], np.float64) / n - mean**2, 0.0)
  return mfcc_lib.Normalizer(
    mean.astype(np.float32), np.maximum(np.sqrt(var), min_std).astype(np.float32), int(n)
  )


def parse_fn(frames: int, num_features: int):
  """serialized Example -> dict(recording [], features [n, T, F], lengths [n] int32, words [n],
  starts [n], ends [n] float32)."""
  spec = {
    "recording": tf.io.FixedLenFeature([], tf.string),
    "features": tf.io.FixedLenFeature([], tf.string),
    "lengths": tf.io.VarLenFeature(tf.int64),
    "words": tf.io.VarLenFeature(tf.string),
    "starts": tf.io.VarLenFeature(tf.float32),
    "ends": tf.io.VarLenFeature(tf.float32),
  }

  def parse(serialized):
    ex = tf.io.parse_single_example(serialized, spec)
    dense = {k: tf.sparse.to_dense(ex[k]) for k in ("lengths", "words", "starts", "ends")}
    feats = tf.reshape(tf.io.decode_raw(ex["features"], tf.float32), [-1, frames, num_features])
    return {
      "recording": ex["recording"],
      "features": feats,
      "lengths": tf.cast(dense["lengths"], tf.int32),
      "words": dense["words"],
      "starts": dense["starts"],
      "ends": dense["ends"],
    }

  return parse


def read_recordings(seg_dir: str) -> Iterator[segments_lib.Segments]:
  """Every stored recording's segments, shard by shard, in write order (for checks and tests)."""
  meta = read_meta(seg_dir)
  parse = parse_fn(meta["frames"], meta["num_features"])
  for path in shard_paths(seg_dir):
    for serialized in tf.data.TFRecordDataset(path):
      r = {k: v.numpy() for k, v in parse(serialized).items()}
      n = len(r["lengths"])
      yield segments_lib.Segments(
        r["features"],
        r["lengths"],
        [w.decode("utf-8") for w in r["words"]],
        [r["recording"].decode("utf-8")] * n,
        r["starts"].astype(np.float64),
        r["ends"].astype(np.float64),
      )


def context_indices_tf(starts, ends, window: int, max_gap_seconds: float):
  """`segments.context_indices` of ONE recording in TensorFlow.

  Args: starts, ends [n] float32 seconds, in time order.
  Returns: [n, 2 * window] int32 indices within the recording, -1 where no neighbour
    (columns: offsets -window..-1, +1..+window).
  """
  n = tf.shape(starts)[0]
  gaps = tf.cast(starts[1:] - ends[:-1] > max_gap_seconds, tf.int32)
  group = tf.cumsum(tf.concat([tf.zeros([1], tf.int32), gaps], 0))[:n]
  offsets = tf.constant([o for o in range(-window, window + 1) if o != 0], tf.int32)
  j = tf.range(n)[:, tf.newaxis] + offsets[tf.newaxis, :]
  inside = (j >= 0) & (j < n)
  same = tf.gather(group, tf.clip_by_value(j, 0, tf.maximum(n - 1, 0))) == group[:, tf.newaxis]
  return tf.where(inside & same, j, -tf.ones_like(j))


@dataclasses.dataclass(frozen=True)
class StreamSettings:
  """How `stream_dataset` streams: files read in parallel, centre rows in the shuffle buffer."""

  cycle_length: int = 4
  shuffle_buffer: int = 8192
  shuffle: bool = True
