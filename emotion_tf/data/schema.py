"""The one definition of the TFRecord example (DESIGN.md "TFRecord example"), metadata, vocab.

One `tf.train.Example` = one chunk of `F` frames (default 100 x 0.1 s = 10 s) of one recording:

  recording_id  bytes    the corpus id, e.g. b"Train_01"
  chunk_index   int64    0, 1, ... within the recording
  num_frames    int64    valid frames (<= F; the last chunk is zero-padded)
  audio         bytes    F * samples_per_frame samples, little-endian raw PCM: float32 (default,
                         exact) or int16 (half the size, quantised at 1/32768); `audio_dtype` in
                         metadata.json says which. Raw bytes parse with one decode_raw (no
                         per-float proto decoding), the fastest format for the reader.
  semantic      bytes    float32 little-endian [F, d]: vector of the word spoken at each frame
                         centre, zeros where none
  word_index    int64[F] index into vocab.txt (0 = "<none>")
  labels        bytes    float32 little-endian [F, 3]: arousal, valence, liking
  subject_turn  int64[F] 1 where frame k's label time k * 0.1 s lies in a subject turn (turns/,
                         `frames.subject_turn_frames`), else 0; since schema version 2. Shards
                         of version 1 lack it and read as all ones; metadata.json's
                         `subject_turn: true` says the shards have it (interlocutor frames need it)

Beside the shards `<partition>-00000-of-000NN.tfrecord`: `metadata.json` (SCHEMA_VERSION, sample
rate, hop, frames per chunk, dims, label names, vocabulary and embeddings files, counts) and
`vocab.txt` (one word per line, line k = index k, line 0 = "<none>").
"""

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from emotion_tf import FRAME_HOP_SECONDS, FRAMES_PER_CHUNK, LABEL_NAMES, SAMPLES_PER_FRAME
from emotion_tf.util import fileio

SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)  # 2 adds subject_turn; version 1 shards read as all ones
METADATA_FILE = "metadata.json"
VOCAB_FILE = "vocab.txt"
NO_WORD = "<none>"
NUM_LABELS = len(LABEL_NAMES)
AUDIO_DTYPES = ("float32", "int16")

# Feature names.
RECORDING_ID = "recording_id"
CHUNK_INDEX = "chunk_index"
NUM_FRAMES = "num_frames"
AUDIO = "audio"
SEMANTIC = "semantic"
WORD_INDEX = "word_index"
LABELS = "labels"
SUBJECT_TURN = "subject_turn"


def shard_name(partition: str, index: int, count: int) -> str:
  """`<partition>-00000-of-000NN.tfrecord` (index counted from 0)."""
  return f"{partition}-{index:05d}-of-{count:05d}.tfrecord"


def shard_pattern(partition: str) -> str:
  return f"{partition}-?????-of-?????.tfrecord"


def _bytes(v: bytes) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))


def _ints(v) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(v)))


def encode_audio(audio: np.ndarray, audio_dtype: str = "float32") -> bytes:
  """float32 waveform [N] -> raw little-endian bytes in `audio_dtype`."""
  if audio_dtype == "float32":
    return np.asarray(audio, "<f4").tobytes()
  if audio_dtype == "int16":
    return (
      np.clip(np.round(np.asarray(audio, np.float64) * 32768.0), -32768, 32767)
      .astype("<i2")
      .tobytes()
    )
  raise ValueError(f"audio_dtype must be one of {AUDIO_DTYPES}, got {audio_dtype!r}")


def serialize_example(
  recording_id: str,
  chunk_index: int,
  num_frames: int,
  audio: np.ndarray,
  semantic: np.ndarray,
  word_index: np.ndarray,
  labels: np.ndarray,
  audio_dtype: str = "float32",
  subject_turn: np.ndarray | None = None,
) -> bytes:
  """Serialises one chunk.

  Args:
    recording_id: corpus id.
    chunk_index: position of the chunk in the recording.
    num_frames: valid frames in this chunk (1..F).
    audio: float32 [F * samples_per_frame].
    semantic: float32 [F, d].
    word_index: int64 [F].
    labels: float32 [F, 3].
    audio_dtype: 'float32' or 'int16' storage.
    subject_turn: optional int [F], 1 inside a subject turn (omitted when None).

  Returns:
    the serialized `tf.train.Example`.
  """
  semantic = np.asarray(semantic, np.float32)
  labels = np.asarray(labels, np.float32)
  word_index = np.asarray(word_index, np.int64)
  frames = labels.shape[0]
  if labels.ndim != 2 or labels.shape[1] != NUM_LABELS:
    raise ValueError(f"{recording_id}: labels must be [F, {NUM_LABELS}], got {labels.shape}")
  if semantic.ndim != 2 or semantic.shape[0] != frames or word_index.shape != (frames,):
    raise ValueError(
      f"{recording_id}: semantic {semantic.shape} / word_index {word_index.shape} "
      f"do not match {frames} frames"
    )
  if np.asarray(audio).size % frames:
    raise ValueError(f"{recording_id}: {np.asarray(audio).size} audio samples for {frames} frames")
  if not 0 < num_frames <= frames:
    raise ValueError(f"{recording_id}: num_frames {num_frames} outside 1..{frames}")
  feature = {
    RECORDING_ID: _bytes(recording_id.encode("utf-8")),
    CHUNK_INDEX: _ints([int(chunk_index)]),
    NUM_FRAMES: _ints([int(num_frames)]),
    AUDIO: _bytes(encode_audio(audio, audio_dtype)),
    SEMANTIC: _bytes(semantic.astype("<f4").tobytes()),
    WORD_INDEX: _ints(word_index.tolist()),
    LABELS: _bytes(labels.astype("<f4").tobytes()),
  }
  if subject_turn is not None:
    subject_turn = np.asarray(subject_turn, np.int64)
    if subject_turn.shape != (frames,):
      raise ValueError(
        f"{recording_id}: subject_turn {subject_turn.shape} does not match {frames} frames"
      )
    feature[SUBJECT_TURN] = _ints(subject_turn.tolist())
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def feature_spec(frames_per_chunk: int = FRAMES_PER_CHUNK) -> dict[str, tf.io.FixedLenFeature]:
  """The parsing spec of `tf.io.parse_single_example` / `parse_example`."""
  return {
    RECORDING_ID: tf.io.FixedLenFeature([], tf.string),
    CHUNK_INDEX: tf.io.FixedLenFeature([], tf.int64),
    NUM_FRAMES: tf.io.FixedLenFeature([], tf.int64),
    AUDIO: tf.io.FixedLenFeature([], tf.string),
    SEMANTIC: tf.io.FixedLenFeature([], tf.string),
    WORD_INDEX: tf.io.FixedLenFeature([frames_per_chunk], tf.int64),
    LABELS: tf.io.FixedLenFeature([], tf.string),
    SUBJECT_TURN: tf.io.FixedLenFeature(
      [frames_per_chunk], tf.int64, default_value=[1] * frames_per_chunk
    ),
  }


def parse_example(
  serialized: tf.Tensor,
  frames_per_chunk: int = FRAMES_PER_CHUNK,
  samples_per_frame: int = SAMPLES_PER_FRAME,
  semantic_dim: int = 100,
  audio_dtype: str = "float32",
) -> dict[str, tf.Tensor]:
  """Parses one serialized example (scalar string tensor).

  Returns:
    {'recording_id': string [], 'chunk_index': int64 [], 'num_frames': int32 [],
     'audio': float32 [F * samples_per_frame], 'semantic': float32 [F, semantic_dim],
     'word_index': int64 [F], 'labels': float32 [F, 3], 'subject_turn': int64 [F] (all ones
     when the example has none)}.
  """
  f = tf.io.parse_single_example(serialized, feature_spec(frames_per_chunk))
  n_audio = frames_per_chunk * samples_per_frame
  if audio_dtype == "float32":
    audio = tf.io.decode_raw(f[AUDIO], tf.float32, little_endian=True)
  elif audio_dtype == "int16":
    audio = tf.cast(tf.io.decode_raw(f[AUDIO], tf.int16, little_endian=True), tf.float32) * (
      1.0 / 32768.0
    )
  else:
    raise ValueError(f"audio_dtype must be one of {AUDIO_DTYPES}, got {audio_dtype!r}")
  semantic = tf.io.decode_raw(f[SEMANTIC], tf.float32, little_endian=True)
  labels = tf.io.decode_raw(f[LABELS], tf.float32, little_endian=True)
  return {
    RECORDING_ID: f[RECORDING_ID],
    CHUNK_INDEX: f[CHUNK_INDEX],
    NUM_FRAMES: tf.cast(f[NUM_FRAMES], tf.int32),
    AUDIO: tf.ensure_shape(audio, [n_audio]),
    SEMANTIC: tf.reshape(
      tf.ensure_shape(semantic, [frames_per_chunk * semantic_dim]), [frames_per_chunk, semantic_dim]
    ),
    WORD_INDEX: f[WORD_INDEX],
    LABELS: tf.reshape(
      tf.ensure_shape(labels, [frames_per_chunk * NUM_LABELS]), [frames_per_chunk, NUM_LABELS]
    ),
    SUBJECT_TURN: f[SUBJECT_TURN],
  }


# ------------------------------------------------------------------------------ atomic file I/O


def write_metadata(directory: str, metadata: "Mapping[str, Any] | Metadata") -> str:
  """Writes `<directory>/metadata.json` atomically; `schema_version` is set to SCHEMA_VERSION.

  The object must read back as a `Metadata` (MetadataError otherwise, nothing written)."""
  data = dict(metadata.fields if isinstance(metadata, Metadata) else metadata)
  data["schema_version"] = SCHEMA_VERSION
  path = os.path.join(directory, METADATA_FILE)
  Metadata.from_dict(data, path)
  fileio.write_json(path, data, indent=1)
  return path


class MetadataError(ValueError):
  """metadata.json is missing a required key or holds a value of the wrong type."""


# Keys every metadata.json must have (the shapes of an example depend on them).
REQUIRED_METADATA_KEYS = ("sample_rate", "samples_per_frame", "frames_per_chunk", "semantic_dim")


@dataclasses.dataclass(frozen=True)
class Metadata:
  """metadata.json beside the shards, typed; the one reader is `read_metadata`.

  The fields are the keys the library reads; `fields` keeps the whole JSON object (the writer
  also records counts, flags and fingerprints that only reports and `rewrite_command` show).
  """

  path: str  # the metadata.json it was read from (for messages)
  sample_rate: int  # Hz of the stored waveform
  samples_per_frame: int  # waveform samples per 0.1 s frame (2 205)
  frames_per_chunk: int  # F, frames per example (100 = 10 s)
  semantic_dim: int  # d of the per-frame semantic vectors
  label_names: tuple[str, ...] = tuple(LABEL_NAMES)
  hop_seconds: float = FRAME_HOP_SECONDS
  schema_version: int = SCHEMA_VERSION
  audio_dtype: str = "float32"  # AUDIO_DTYPES
  oov: str = "zeros"  # the writer's policy for words without a vector
  subject_turn: bool = False  # shards carry per-frame subject_turn (schema 2)
  complete: bool = True  # false: some recordings failed to write
  vocab_size: int | None = None
  embeddings_file: str | None = None
  embeddings_sha256: str | None = None
  corpus_dir: str | None = None
  failed_recordings: Mapping[str, str] = dataclasses.field(default_factory=dict)
  partitions: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
  semantic_source: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  @classmethod
  def from_dict(cls, data: Mapping[str, Any], path: str = METADATA_FILE) -> "Metadata":
    """Typed view of a metadata.json object; MetadataError names `path` and the bad key."""
    missing = [k for k in REQUIRED_METADATA_KEYS if k not in data]
    if missing:
      raise MetadataError(
        f"{path}: missing key {missing[0]!r}; rewrite the TFRecords with "
        "`python -m data_prep.write_tfrecords`"
      )
    kwargs: dict[str, Any] = {"path": path, "fields": dict(data)}
    for f in dataclasses.fields(cls):
      if f.name in ("path", "fields") or f.name not in data or data[f.name] is None:
        continue
      value = data[f.name]
      try:
        if f.name == "label_names":
          value = tuple(str(v) for v in value)
        elif f.name in (
          "sample_rate",
          "samples_per_frame",
          "frames_per_chunk",
          "semantic_dim",
          "schema_version",
          "vocab_size",
        ):
          value = int(value)
        elif f.name == "hop_seconds":
          value = float(value)
        elif f.name in ("subject_turn", "complete"):
          value = bool(value)
        elif f.name in ("failed_recordings", "partitions", "semantic_source"):
          value = dict(value)
        else:
          value = str(value)
      except (TypeError, ValueError) as e:
        raise MetadataError(f"{path}: {f.name} {value!r} is not a valid {f.type}") from e
      kwargs[f.name] = value
    if "hop_seconds" not in data and "frame_hop_s" in data:
      kwargs["hop_seconds"] = float(data["frame_hop_s"])
    return cls(**kwargs)

  def replace(self, **changes: Any) -> "Metadata":
    """A copy with `changes` applied to the typed fields and to `fields`."""
    return dataclasses.replace(self, fields={**self.fields, **changes}, **changes)


def read_metadata(directory: str) -> Metadata:
  """Reads `<directory>/metadata.json` as a `Metadata`.

  Raises:
    FileNotFoundError: when it is missing (the directory was not written by
      data_prep.write_tfrecords).
    ValueError: for invalid JSON, a schema version not in READABLE_SCHEMA_VERSIONS, or a
      missing/mistyped key (MetadataError).
  """
  path = os.path.join(directory, METADATA_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(
      f"{path}: missing; write the TFRecords with `python -m data_prep.write_tfrecords`"
    )
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    raise ValueError(f"{path}: not valid JSON ({e})") from e
  if not isinstance(data, dict):
    raise ValueError(f"{path}: not a JSON object")
  version = data.get("schema_version")
  if version not in READABLE_SCHEMA_VERSIONS:
    raise ValueError(
      f"{path}: schema_version {version!r}, this code reads "
      f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))}; "
      "rewrite the TFRecords with data_prep.write_tfrecords"
    )
  return Metadata.from_dict(data, path)


# ----------------------------------------------------------------------------------- vocabulary


def write_vocab(directory: str, words: Sequence[str]) -> str:
  """Writes vocab.txt: line 0 = "<none>", then `words` (indices 1..V-1). Returns the path."""
  if any(not w or "\n" in w for w in words):
    raise ValueError("vocabulary words must be non-empty single lines")
  path = os.path.join(directory, VOCAB_FILE)
  fileio.atomic_write_text(path, "\n".join([NO_WORD] + list(words)) + "\n")
  return path


def read_vocab(directory: str) -> list[str]:
  """vocab.txt as a list (index 0 = "<none>")."""
  path = os.path.join(directory, VOCAB_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: missing vocabulary file")
  with open(path, encoding="utf-8") as f:
    words = f.read().splitlines()
  if not words or words[0] != NO_WORD:
    raise ValueError(f"{path}:1: first line must be {NO_WORD!r}")
  return words


def vocab_fingerprint(words: Sequence[str]) -> str:
  return hashlib.sha256("\n".join(words).encode("utf-8")).hexdigest()[:16]


def oov_vector(word: str, dim: int, scale: float) -> np.ndarray:
  """Deterministic vector for an out-of-vocabulary word: N(0, scale^2) seeded by SHA-256(word).

  float32 [dim]; the same word always gets the same vector (never unseeded randomness).
  """
  seed = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "little")
  return (np.random.default_rng(seed).standard_normal(dim) * scale).astype(np.float32)


def build_embedding_matrix(
  vocab: Sequence[str], words: Sequence[str], vectors: np.ndarray, oov: str = "zeros"
) -> np.ndarray:
  """Rows of `vectors` [count, d] re-indexed by `vocab` (vocab[0] = "<none>").

  Args:
    vocab: the TFRecord vocabulary (vocab.txt).
    words, vectors: an embedding space (e.g. from `emotion_tf.data.vectors.read_vec`).
    oov: 'zeros' or 'hash' (`oov_vector` with scale = std of all entries of `vectors`).

  Returns:
    float32 [len(vocab), d]; row 0 is zeros.
  """
  if oov not in ("zeros", "hash"):
    raise ValueError(f"oov must be 'zeros' or 'hash', got {oov!r}")
  vectors = np.asarray(vectors, np.float32)
  index = {w: i for i, w in enumerate(words)}
  scale = float(vectors.std()) if vectors.size else 1.0
  out = np.zeros((len(vocab), vectors.shape[1]), np.float32)
  for k, w in enumerate(vocab):
    if k == 0:
      continue
    i = index.get(w)
    if i is not None:
      out[k] = vectors[i]
    elif oov == "hash":
      out[k] = oov_vector(w, vectors.shape[1], scale)
  return out


def load_embedding_matrix(directory: str, vec_path: str, oov: str | None = None) -> np.ndarray:
  """Embedding matrix [vocab, d'] for the shards in `directory` from a `.vec` file (for
  make_dataset(embedding_matrix=...)); `oov` defaults to the policy recorded in metadata.json."""
  from emotion_tf.data import vectors as vec_io

  if oov is None:
    oov = read_metadata(directory).oov
  words, vectors = vec_io.read_vec(vec_path)
  return build_embedding_matrix(read_vocab(directory), words, vectors, oov)
