"""Token-level semantic vectors from speech: Speech2Vec encoder + alignment W per word segment.

The paper (Sec. 1, 3.1) uses text only to train the semantic extractor; at evaluation the
semantic stream comes from the audio. For every word segment [start, end) of a recording:

    s   = Speech2Vec encoder(normalised MFCC frames of the segment)        in R^{d_s}
          (`speech2vec.EncoderExport.embed_waveform`: MFCC, truncation to max_frames,
          time resampling and the training MFCC normaliser, exactly as in training)
    x   = unit(unit(s) - mu)              `alignment.apply_normalization` (mu = speech_mean.npy)
    v   = unit(W x)                       `alignment.map_vectors` (W.npy, [d_t, d_s]; Eq. 3)

which is the transform `data_prep.align_embeddings` applied to the Speech2Vec type vectors to
write aligned_speech2vec.vec, now applied to each spoken token instead of a type mean. A
segment shorter than one MFCC window (or outside the audio) gets a zero vector.

`fill_frames` puts the token vectors into the 0.1 s frames (frame k takes the segment covering
its centre (k + 0.5) * hop, the latest-starting one where segments overlap: the rule of
`data_prep.write_tfrecords.frame_word_index`). `speech_semantic_frames` does both; it is the
one function used by the TFRecord writer (`--semantic_source speech`) and by prediction, so
training and inference see the same features. Prediction without word timings runs these steps
and the segmenter as one TF graph (`emotion_tf.serving.speech_frontend_graph`, the export's
`audio_only` signature), equal to them (tests/test_audio_only_signature.py).

Frontend files (`frontend_files`): the Speech2Vec run's `encoder/` SavedModel (which holds the
MFCC normaliser as variables), `normalizer.json` and `config.json`, and the alignment run's
`W.npy` and `speech_mean.npy`.
"""

import dataclasses
import json
import os
from collections.abc import Sequence

import numpy as np
from absl import logging

from emotion_tf.semantic import alignment
from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.util import fileio

# Frontend file names (relative to a frontend directory) -> (source dir key, name there).
ENCODER_DIR = "encoder"
NORMALIZER_FILE = "normalizer.json"
CONFIG_FILE = "config.json"
W_FILE = "W.npy"
MEAN_FILE = "speech_mean.npy"
CODEBOOK_FILE = "aligned_speech2vec.vec"
BATCH_SIZE = 128


class FrontendError(ValueError):
  """A semantic frontend (encoder, normaliser, W) that is missing, corrupt or inconsistent."""


def frontend_files(
  speech2vec_dir: str, alignment_dir: str, snap_to_types: bool = False
) -> dict[str, str]:
  """{relative name in a frontend bundle: source path} of every frontend file.

  The encoder SavedModel contributes one entry per file (`encoder/saved_model.pb`, ...).
  `snap_to_types` adds the alignment's aligned_speech2vec.vec (the type codebook, see
  `SemanticFrontend.codebook`).

  Raises:
    FrontendError: naming the first missing file or directory.
  """
  sources = {
    NORMALIZER_FILE: os.path.join(speech2vec_dir, NORMALIZER_FILE),
    CONFIG_FILE: os.path.join(speech2vec_dir, CONFIG_FILE),
    W_FILE: os.path.join(alignment_dir, W_FILE),
    MEAN_FILE: os.path.join(alignment_dir, MEAN_FILE),
  }
  if snap_to_types:
    sources[CODEBOOK_FILE] = os.path.join(alignment_dir, CODEBOOK_FILE)
  encoder_dir = os.path.join(speech2vec_dir, ENCODER_DIR)
  if not os.path.exists(os.path.join(encoder_dir, "saved_model.pb")):
    raise FrontendError(
      f"{encoder_dir}: no Speech2Vec encoder SavedModel (saved_model.pb); "
      "run data_prep.train_speech2vec first"
    )
  for root, _, names in os.walk(encoder_dir):
    for name in names:
      path = os.path.join(root, name)
      sources[os.path.relpath(path, os.path.dirname(encoder_dir))] = path
  for path in sources.values():
    if not os.path.isfile(path):
      raise FrontendError(f"{path}: semantic frontend file is missing")
  return dict(sorted(sources.items()))


def files_sha256(files: dict[str, str]) -> dict[str, str]:
  """{relative name: hex SHA-256 of the file at its path}."""
  return {rel: fileio.file_sha256(path) for rel, path in sorted(files.items())}


def bundle_sha256(hashes: dict[str, str]) -> str:
  """One SHA-256 over the sorted (name, file hash) pairs: identifies a whole frontend."""
  import hashlib

  h = hashlib.sha256()
  for rel, digest in sorted(hashes.items()):
    h.update(f"{rel}\0{digest}\n".encode())
  return h.hexdigest()


@dataclasses.dataclass
class SemanticFrontend:
  """A loaded frontend: waveform segments -> aligned token vectors.

  Attributes:
    embed_fn: the encoder SavedModel's `embed_waveform` (waveforms [B, S] float32, lengths [B]
      int32 -> {'embedding': [B, d_s], 'num_frames': [B]}).
    w: [d_t, d_s] float32 alignment matrix; speech_mean: [d_s] float32.
    sample_rate: Hz of the waveforms the encoder takes.
    max_samples: samples that give `max_frames` MFCC frames (longer segments are cut to it,
      which the encoder would do to their frames anyway).
    source: description for messages.
    codebook: optional [V, d_t] unit type vectors (aligned_speech2vec.vec); when set, every
      token vector is replaced by the codebook row of highest cosine ("snap to types": the
      Speech2Vec type inventory used as a vector quantiser; no word strings are used).
    graphs: {hop seconds: `serving.speech_frontend_graph.SpeechFrontendGraph`}, the TF graph of
      wav-only prediction built on this frontend (filled on first use).
  """

  embed_fn: object
  w: np.ndarray
  speech_mean: np.ndarray
  sample_rate: int
  max_samples: int
  source: str = ""
  _module: object = None
  codebook: np.ndarray | None = None
  graphs: dict[float, object] = dataclasses.field(default_factory=dict)

  @property
  def dim(self) -> int:
    return int(self.w.shape[0])


def load_frontend(frontend_dir: str) -> SemanticFrontend:
  """Loads a frontend from a directory laid out as a bundle (see `frontend_files` names)."""
  codebook = os.path.join(frontend_dir, CODEBOOK_FILE)
  return load_frontend_from(
    os.path.join(frontend_dir, ENCODER_DIR),
    os.path.join(frontend_dir, NORMALIZER_FILE),
    os.path.join(frontend_dir, CONFIG_FILE),
    os.path.join(frontend_dir, W_FILE),
    os.path.join(frontend_dir, MEAN_FILE),
    codebook if os.path.exists(codebook) else None,
  )


def load_frontend_dirs(
  speech2vec_dir: str, alignment_dir: str, snap_to_types: bool = False
) -> SemanticFrontend:
  """Loads a frontend from a Speech2Vec run directory and an alignment run directory."""
  frontend_files(speech2vec_dir, alignment_dir, snap_to_types)  # names the first missing file
  return load_frontend_from(
    os.path.join(speech2vec_dir, ENCODER_DIR),
    os.path.join(speech2vec_dir, NORMALIZER_FILE),
    os.path.join(speech2vec_dir, CONFIG_FILE),
    os.path.join(alignment_dir, W_FILE),
    os.path.join(alignment_dir, MEAN_FILE),
    os.path.join(alignment_dir, CODEBOOK_FILE) if snap_to_types else None,
  )


def load_frontend_from(
  encoder_dir: str,
  normalizer_path: str,
  config_path: str,
  w_path: str,
  mean_path: str,
  codebook_path: str | None = None,
) -> SemanticFrontend:
  """Loads and cross-checks the frontend files.

  Raises:
    FrontendError: naming the file when one is unreadable, W's shape does not match the
      encoder's dimension or the mean's, or the encoder's stored MFCC normaliser differs
      from `normalizer_path`.
  """
  import tensorflow as tf

  try:
    with open(config_path, encoding="utf-8") as f:
      config = json.load(f)
    mfcc_config = mfcc_lib.MfccConfig.from_dict(config.get("mfcc", {}))
    max_frames = int(config.get("speech2vec", {}).get("max_frames", 100))
  except (OSError, ValueError, TypeError, AttributeError) as e:
    raise FrontendError(f"{config_path}: not a Speech2Vec config.json ({e})") from e
  normalizer = mfcc_lib.Normalizer.load(normalizer_path)
  try:
    w = np.load(w_path).astype(np.float32)
    mean = np.load(mean_path).astype(np.float32)
  except (OSError, ValueError) as e:
    raise FrontendError(f"{w_path} / {mean_path}: unreadable alignment arrays ({e})") from e
  if w.ndim != 2 or mean.shape != (w.shape[1],):
    raise FrontendError(
      f"{w_path}: W {w.shape} does not match speech_mean {mean.shape} "
      f"from {mean_path} (need W [d_t, d_s], mean [d_s])"
    )
  try:
    module = tf.saved_model.load(encoder_dir)
    fn = module.signatures["serving_default"]
  except (OSError, ValueError, KeyError) as e:
    raise FrontendError(f"{encoder_dir}: cannot load the Speech2Vec encoder ({e})") from e
  stored_mean = np.asarray(module.mean.numpy(), np.float32)
  stored_std = np.asarray(module.std.numpy(), np.float32)
  if (
    stored_mean.shape != normalizer.mean.shape
    or not np.allclose(stored_mean, normalizer.mean)
    or not np.allclose(stored_std, normalizer.std)
  ):
    raise FrontendError(
      f"{normalizer_path}: MFCC normaliser differs from the one inside "
      f"{encoder_dir}; both must come from the same Speech2Vec run"
    )
  probe = fn(
    waveforms=tf.zeros([1, mfcc_config.frame_length], tf.float32),
    lengths=tf.constant([mfcc_config.frame_length], tf.int32),
  )
  d_s = int(probe["embedding"].shape[-1])
  if d_s != w.shape[1]:
    raise FrontendError(
      f"{w_path}: W maps {w.shape[1]}-d speech vectors but the encoder in "
      f"{encoder_dir} gives {d_s}-d ones"
    )
  max_samples = mfcc_config.frame_length + (max_frames - 1) * mfcc_config.frame_step
  codebook = None
  if codebook_path:
    from emotion_tf.data import vectors as vec_io

    _, codebook = vec_io.read_vec(codebook_path)
    if codebook.shape[1] != w.shape[0]:
      raise FrontendError(
        f"{codebook_path}: {codebook.shape[1]}-d type vectors, W gives {w.shape[0]}-d ones"
      )
  return SemanticFrontend(
    fn,
    w,
    mean,
    mfcc_config.sample_rate,
    max_samples,
    source=encoder_dir,
    _module=module,
    codebook=codebook,
  )


def segment_bounds(
  segments: Sequence[tuple[float, float]], num_samples: int, sample_rate: int
) -> np.ndarray:
  """Sample bounds [n, 2] int64 (a, b) of segments in seconds, clipped to the audio.

  a = round(start * sr), b = round(end * sr) (as `segments.extract_segments`), both clipped to
  [0, num_samples]; empty / reversed segments give a == b.
  """
  out = np.zeros((len(segments), 2), np.int64)
  for i, (start, end) in enumerate(segments):
    a = min(max(int(round(float(start) * sample_rate)), 0), num_samples)
    b = min(max(int(round(float(end) * sample_rate)), a), num_samples)
    out[i] = (a, b)
  return out


def token_vectors(
  frontend: SemanticFrontend, waveform: np.ndarray, segments: Sequence[tuple[float, float]]
) -> np.ndarray:
  """One aligned semantic vector per segment.

  Args:
    frontend: a loaded `SemanticFrontend`.
    waveform: [samples] float32 mono at `frontend.sample_rate`.
    segments: n (start, end) pairs in seconds.
  Returns:
    [n, d_t] float32: unit(W unit(unit(encoder(segment)) - mean)), zeros for segments with no
    MFCC frame (shorter than 25 ms or outside the audio); with a codebook, its row of highest
    cosine to that vector.
  """
  import tensorflow as tf

  waveform = np.asarray(waveform, np.float32).reshape(-1)
  bounds = segment_bounds(segments, waveform.shape[0], frontend.sample_rate)
  lengths = np.minimum(bounds[:, 1] - bounds[:, 0], frontend.max_samples).astype(np.int32)
  n = len(segments)
  out = np.zeros((n, frontend.dim), np.float32)
  if n == 0:
    return out
  embeddings = np.zeros((n, frontend.w.shape[1]), np.float32)
  frames = np.zeros(n, np.int32)
  for lo in range(0, n, BATCH_SIZE):
    hi = min(lo + BATCH_SIZE, n)
    width = max(int(lengths[lo:hi].max()), 1)
    batch = np.zeros((hi - lo, width), np.float32)
    for i in range(lo, hi):
      a = bounds[i, 0]
      batch[i - lo, : lengths[i]] = waveform[a : a + lengths[i]]
    res = frontend.embed_fn(waveforms=tf.constant(batch), lengths=tf.constant(lengths[lo:hi]))
    embeddings[lo:hi] = res["embedding"].numpy()
    frames[lo:hi] = res["num_frames"].numpy()
  valid = frames > 0
  if valid.any():
    x = alignment.apply_normalization(embeddings[valid], frontend.speech_mean)
    out[valid] = alignment.map_vectors(x, frontend.w)
    if frontend.codebook is not None:
      unit = frontend.codebook / np.maximum(
        np.linalg.norm(frontend.codebook, axis=1, keepdims=True), 1e-12
      )
      out[valid] = frontend.codebook[np.argmax(out[valid] @ unit.T, axis=1)]
  return out


def frame_segment_index(
  segments: Sequence[tuple[float, float]], num_frames: int, hop_seconds: float = 0.1
) -> np.ndarray:
  """Index of the segment covering each frame centre (k + 0.5) * hop, -1 where none.

  A segment covers [start, end); where segments overlap the latest-starting one wins (ties:
  the later end), as `data_prep.write_tfrecords.frame_word_index`.
  Returns int64 [num_frames].
  """
  out = -np.ones(num_frames, np.int64)
  centres = (np.arange(num_frames) + 0.5) * hop_seconds
  order = sorted(range(len(segments)), key=lambda i: (float(segments[i][0]), float(segments[i][1])))
  for i in order:
    start, end = float(segments[i][0]), float(segments[i][1])
    lo = np.searchsorted(centres, start, side="left")
    hi = np.searchsorted(centres, end, side="left")
    out[lo:hi] = i
  return out


def fill_frames(
  segments: Sequence[tuple[float, float]],
  vectors: np.ndarray,
  num_frames: int,
  hop_seconds: float = 0.1,
) -> np.ndarray:
  """Per-frame vectors [num_frames, d] float32 from per-segment `vectors` [n, d] (zeros: none)."""
  vectors = np.asarray(vectors, np.float32)
  index = frame_segment_index(segments, num_frames, hop_seconds)
  padded = np.concatenate([vectors, np.zeros((1, vectors.shape[1]), np.float32)])
  return padded[index]  # index -1 -> the zero row


def speech_semantic_frames(
  frontend: SemanticFrontend,
  waveform: np.ndarray,
  segments: Sequence[tuple[float, float]],
  num_frames: int,
  hop_seconds: float = 0.1,
) -> np.ndarray:
  """The semantic input of one recording from speech: [num_frames, d_t] float32.

  `token_vectors` of every segment, filled into frames by `fill_frames`. Used by the
  TFRecord writer and by prediction alike.
  """
  vectors = token_vectors(frontend, waveform, segments)
  filled = fill_frames(segments, vectors, num_frames, hop_seconds)
  logging.debug(
    "speech tokens: %d segments, %d/%d frames covered",
    len(segments),
    int(np.any(filled != 0, axis=1).sum()),
    num_frames,
  )
  return filled


def load_frontend_for(
  speech2vec_dir: str | None, alignment_dir: str | None, bundle_dir: str | None = None
) -> SemanticFrontend:
  """A frontend from a bundle directory, or from the two run directories."""
  if bundle_dir:
    return load_frontend(bundle_dir)
  if not speech2vec_dir or not alignment_dir:
    raise FrontendError(
      "speech tokens need a Speech2Vec run directory and an alignment "
      "directory (or a frontend bundle)"
    )
  return load_frontend_dirs(speech2vec_dir, alignment_dir)
