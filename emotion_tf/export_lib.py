"""SavedModel export of a trained emotion model, and loading it back for serving.

The export is written with `keras.export.ExportArchive` (which tracks the Keras model, so the
variables resolve in `saved_model_cli run`, TF Serving and the TFLite converter; a hand-made
`tf.Module` around a Keras 3 model does not, see BUILD.md). Signatures:

`serving_default`
    inputs   audio    [batch, samples]          float32, mono waveform at `sample_rate` Hz (22 050)
             semantic [batch, frames, d]        float32, the word vector of each 0.1 s frame
    outputs  arousal, valence, liking  [batch, frames]  float32 in (-1, 1)

`frames` is taken from `semantic`: the audio is truncated or zero-padded at the end to exactly
frames * samples_per_frame samples (2 205 per 0.1 s frame) before the model runs, so callers
pass the whole waveform and as many semantic frames as they want predictions for. Variants that
ignore one input still take both (the 'semantic' variant ignores the audio and accepts
[batch, 0]; the 'paralinguistic' variant ignores the semantic values, only their frame count).
Outputs of frames past a sequence's true end never change earlier frames (the LSTM is
unidirectional), so a batch of recordings can be padded to a common length. Output k of the
model's [.., 3] head is the output named label_names[k].

`metadata` (no inputs; constants)
    outputs  label_names string [3] (output order), sample_rate int64, samples_per_frame int64,
             hop_seconds float64, semantic_dim int64, format_version int64
    e.g. `tf.saved_model.load(E).signatures["metadata"]()`, or `saved_model_cli show --dir E
    --signature_def metadata` for its keys; frame k of the outputs is at time k * hop_seconds.

Also stored with the model, readable after `tf.saved_model.load`:
  * attributes `label_names` (string [3]), `sample_rate`, `samples_per_frame`, `semantic_dim`
    (int64 scalars) and `hop_seconds` (float64) — non-trainable variables;
  * `assets/emotion_tf_export.json` (also tracked as `metadata_file`): the same values plus the
    model config, the emotion_tf version and the SHA-256 of the source .keras file.
`read_export_metadata(export_dir)` reads the JSON without loading TensorFlow graphs.

The export is written to a temporary directory beside the target and renamed into place, so a
reader never sees a half-written export; a rerun on the same source model file skips.
"""

import json
import os
import shutil
import tempfile
from typing import Any, Callable, Dict, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

import emotion_tf
from emotion_tf import fileio
from emotion_tf import model_dir as model_dir_lib
from emotion_tf.models import EmotionRecognitionModel

SIGNATURE_KEY = "serving_default"
METADATA_SIGNATURE_KEY = "metadata"
METADATA_FILENAME = "emotion_tf_export.json"
EXPORT_FORMAT_VERSION = 1


class ExportError(ValueError):
  """An export directory that is missing, incomplete or not an emotion_tf export."""


def serving_function(model: EmotionRecognitionModel) -> Callable[..., Dict[str, tf.Tensor]]:
  """The serving computation: (audio [B, samples], semantic [B, F, d]) -> {label: [B, F]}.

  The audio is cut or zero-padded at the end to F * samples_per_frame samples
  (`fit_audio_to_frames`), the model runs once over all F frames, and its [B, F, 3] output is
  split into one float32 tensor per label name (in the model's label order).
  """
  spf = int(model.config.samples_per_frame)
  label_names = tuple(model.config.label_names)

  def serve(audio: tf.Tensor, semantic: tf.Tensor) -> Dict[str, tf.Tensor]:
    frames = tf.shape(semantic)[1]
    fitted = fit_audio_to_frames(audio, frames, spf)                         # [B, F * spf]
    y = tf.cast(model({"audio": fitted, "semantic": semantic}, training=False),
                tf.float32)                                                  # [B, F, 3]
    return {name: tf.identity(y[:, :, i], name=name) for i, name in enumerate(label_names)}

  return serve


def serving_input_signature(semantic_dim: int):
  """[audio [None, None] float32, semantic [None, None, semantic_dim] float32]."""
  return [tf.TensorSpec([None, None], tf.float32, name="audio"),
          tf.TensorSpec([None, None, int(semantic_dim)], tf.float32, name="semantic")]


def metadata_function(model: EmotionRecognitionModel) -> Callable[[], Dict[str, tf.Tensor]]:
  """A traced no-input tf.function returning the export's constants (the `metadata` signature).

  Outputs: label_names string [3] (the order of the serving outputs and of `[..., 3]` arrays),
  sample_rate int64 [], samples_per_frame int64 [], hop_seconds float64 [],
  semantic_dim int64 [], format_version int64 [].
  """
  c = model.config
  values = {
      "label_names": (list(c.label_names), tf.string),
      "sample_rate": (int(c.sample_rate), tf.int64),
      "samples_per_frame": (int(c.samples_per_frame), tf.int64),
      "hop_seconds": (c.samples_per_frame / float(c.sample_rate), tf.float64),
      "semantic_dim": (int(c.semantic_dim), tf.int64),
      "format_version": (EXPORT_FORMAT_VERSION, tf.int64),
  }

  @tf.function(input_signature=[], autograph=False)
  def metadata() -> Dict[str, tf.Tensor]:
    return {k: tf.constant(v, dtype=t, name=k) for k, (v, t) in values.items()}

  metadata()  # traced once, as ExportArchive.add_endpoint requires for a no-input function
  return metadata


def fit_audio_to_frames(audio: tf.Tensor, frames: tf.Tensor, samples_per_frame: int) -> tf.Tensor:
  """Truncates or zero-pads `audio` [B, samples] at the end to [B, frames * samples_per_frame]."""
  target = frames * samples_per_frame
  audio = audio[:, :target]
  pad = tf.maximum(target - tf.shape(audio)[1], 0)
  return tf.pad(audio, [[0, 0], [0, pad]])


file_sha256 = fileio.file_sha256

def export_metadata(model: EmotionRecognitionModel,
                    source: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """The JSON-serialisable description stored with an export."""
  c = model.config
  return {
      "format_version": EXPORT_FORMAT_VERSION,
      "emotion_tf_version": emotion_tf.__version__,
      "signature": SIGNATURE_KEY,
      "inputs": {"audio": "[batch, samples] float32 at sample_rate Hz, mono",
                 "semantic": f"[batch, frames, {c.semantic_dim}] float32"},
      "outputs": {name: "[batch, frames] float32 in (-1, 1)" for name in c.label_names},
      "label_names": list(c.label_names),
      "sample_rate": int(c.sample_rate),
      "samples_per_frame": int(c.samples_per_frame),
      "hop_seconds": c.samples_per_frame / float(c.sample_rate),
      "semantic_dim": int(c.semantic_dim),
      "variant": c.variant,
      "model_config": c.to_dict(),
      "source": dict(source or {}),
  }


def write_export_archive(model: EmotionRecognitionModel, path: str,
                         metadata_path: Optional[str] = None) -> None:
  """Writes `model` with `keras.export.ExportArchive` to `path` (not atomic; see
  `export_saved_model`).

  Signatures: `serving_default` (`serving_function`, inputs `serving_input_signature`) and
  `metadata` (`metadata_function`, no inputs). The archive tracks the model, so every variable
  the serving graph reads is saved with it and resolves in `saved_model_cli run`, TF Serving and
  the TFLite converter. The revived object also carries the constants as non-trainable variables
  `label_names`, `sample_rate`, `samples_per_frame`, `hop_seconds`, `semantic_dim` (as exports
  of format 1 written by a tf.Module did) and `metadata_file`, the JSON asset.
  """
  c = model.config
  archive = keras.export.ExportArchive()
  archive.track(model)
  archive.add_endpoint(SIGNATURE_KEY, serving_function(model),
                       input_signature=serving_input_signature(c.semantic_dim))
  archive.add_endpoint(METADATA_SIGNATURE_KEY, metadata_function(model))
  # ExportArchive keeps the saved object in `_tf_trackable` (Keras 3.6); attributes set on it
  # are saved and revived with it, which keeps `loaded.label_names` etc. of earlier exports.
  root = archive._tf_trackable  # pylint: disable=protected-access
  spf = int(c.samples_per_frame)
  root.label_names = tf.Variable(list(c.label_names), trainable=False, dtype=tf.string,
                                 name="label_names")
  root.sample_rate = tf.Variable(int(c.sample_rate), trainable=False, dtype=tf.int64,
                                 name="sample_rate")
  root.samples_per_frame = tf.Variable(spf, trainable=False, dtype=tf.int64,
                                       name="samples_per_frame")
  root.hop_seconds = tf.Variable(spf / float(c.sample_rate), trainable=False, dtype=tf.float64,
                                 name="hop_seconds")
  root.semantic_dim = tf.Variable(int(c.semantic_dim), trainable=False, dtype=tf.int64,
                                  name="semantic_dim")
  if metadata_path is not None:
    root.metadata_file = tf.saved_model.Asset(metadata_path)
  interactive = keras.config.is_interactive_logging_enabled()
  keras.config.disable_interactive_logging()   # write_out's summary goes to absl, not stdout
  try:
    archive.write_out(path, verbose=False)
  finally:
    if interactive:
      keras.config.enable_interactive_logging()


def export_saved_model(model: EmotionRecognitionModel, export_dir: str,
                       source: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """Writes `model` as a SavedModel to `export_dir`, atomically (temp dir + rename).

  An existing `export_dir` is replaced only after the new export is complete.

  Args:
    model: a built EmotionRecognitionModel.
    export_dir: target directory.
    source: provenance recorded in the metadata (e.g. {'path':..., 'sha256':...}).

  Returns:
    The metadata dict written to `assets/emotion_tf_export.json`.
  """
  export_dir = os.path.abspath(export_dir)
  parent = os.path.dirname(export_dir)
  os.makedirs(parent, exist_ok=True)
  meta = export_metadata(model, source)
  tmp_dir = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{os.path.basename(export_dir)}-")
  try:
    staging = os.path.join(tmp_dir, "staging")
    os.makedirs(staging)
    meta_path = os.path.join(staging, METADATA_FILENAME)
    with open(meta_path, "w", encoding="utf-8") as f:
      json.dump(meta, f, indent=2, sort_keys=True)
    saved = os.path.join(tmp_dir, "saved_model")
    write_export_archive(model, saved, meta_path)
    if not os.path.exists(os.path.join(saved, "assets", METADATA_FILENAME)):
      raise ExportError(f"{export_dir}: SavedModel was written without its metadata asset")
    old = None
    if os.path.exists(export_dir):
      old = os.path.join(tmp_dir, "previous")
      os.rename(export_dir, old)
    try:
      os.rename(saved, export_dir)
    except OSError:
      if old is not None:
        os.rename(old, export_dir)
      raise
  finally:
    shutil.rmtree(tmp_dir, ignore_errors=True)
  logging.info("exported %s model (semantic_dim %d) to %s", meta["variant"],
               meta["semantic_dim"], export_dir)
  return meta


def read_export_metadata(export_dir: str) -> Dict[str, Any]:
  """Reads `assets/emotion_tf_export.json` of an export.

  Raises:
    ExportError: naming the directory when it is missing, is not a SavedModel or holds no
      emotion_tf metadata.
  """
  if not os.path.isdir(export_dir):
    raise ExportError(f"{export_dir}: export directory does not exist")
  if not os.path.exists(os.path.join(export_dir, "saved_model.pb")):
    raise ExportError(f"{export_dir}: not a SavedModel (no saved_model.pb)")
  path = os.path.join(export_dir, "assets", METADATA_FILENAME)
  try:
    with open(path, "r", encoding="utf-8") as f:
      meta = json.load(f)
  except FileNotFoundError as e:
    raise ExportError(f"{path}: missing; {export_dir} is not an emotion_tf export") from e
  except json.JSONDecodeError as e:
    raise ExportError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from e
  for key in ("label_names", "sample_rate", "samples_per_frame", "semantic_dim"):
    if key not in meta:
      raise ExportError(f"{path}: metadata lacks {key!r}")
  return meta


def export_from_model_dir(model_dir: str, export_dir: str, which: str = "best",
                          force: bool = False) -> Tuple[Dict[str, Any], bool]:
  """Exports `<model_dir>/<which>.keras` to `export_dir`.

  A rerun skips when `export_dir` already holds an export of a source file with the same
  SHA-256 (unless `force`).

  Returns:
    (metadata, exported): `exported` False when the existing export was kept.
  """
  path = model_dir_lib.trained_model_path(model_dir, which)
  digest = file_sha256(path)
  if not force and os.path.isdir(export_dir):
    try:
      existing = read_export_metadata(export_dir)
    except ExportError:
      existing = None
    if existing and existing.get("source", {}).get("sha256") == digest:
      logging.info("%s already holds the export of %s; skipping (use --force to redo)",
                   export_dir, path)
      return existing, False
  model = model_dir_lib.load_trained_model(model_dir, which)
  source = {"path": os.path.abspath(path), "sha256": digest, "which": which}
  return export_saved_model(model, export_dir, source), True


def signature_metadata(loaded: Any) -> Dict[str, Any]:
  """The constants of a revived export (`tf.saved_model.load`) as Python values.

  Reads the `metadata` signature; exports written before it existed (a tf.Module with the
  constants as variables) are read from those variables.

  Returns:
    {'label_names': tuple of str, 'sample_rate': int, 'samples_per_frame': int,
     'hop_seconds': float, 'semantic_dim': int}.
  """
  if METADATA_SIGNATURE_KEY in loaded.signatures:
    raw = {k: v.numpy() for k, v in loaded.signatures[METADATA_SIGNATURE_KEY]().items()}
  else:
    raw = {k: getattr(loaded, k).numpy() for k in
           ("label_names", "sample_rate", "samples_per_frame", "hop_seconds", "semantic_dim")}
  return {"label_names": tuple(n.decode("utf-8") for n in raw["label_names"]),
          "sample_rate": int(raw["sample_rate"]),
          "samples_per_frame": int(raw["samples_per_frame"]),
          "hop_seconds": float(raw["hop_seconds"]),
          "semantic_dim": int(raw["semantic_dim"])}


class ExportedModel:
  """A loaded export: call it with audio [B, samples] and semantic [B, F, d].

  Attributes: `metadata` (dict of `read_export_metadata`), `label_names`, `sample_rate`,
  `samples_per_frame`, `hop_seconds`, `semantic_dim` (read from the SavedModel itself,
  `signature_metadata`).
  """

  def __init__(self, export_dir: str):
    self.metadata = read_export_metadata(export_dir)
    self.export_dir = export_dir
    self._loaded = tf.saved_model.load(export_dir)
    if SIGNATURE_KEY not in self._loaded.signatures:
      raise ExportError(f"{export_dir}: SavedModel has no {SIGNATURE_KEY!r} signature")
    self._fn: Callable[..., Dict[str, tf.Tensor]] = self._loaded.signatures[SIGNATURE_KEY]
    constants = signature_metadata(self._loaded)
    self.label_names = constants["label_names"]
    self.sample_rate = constants["sample_rate"]
    self.samples_per_frame = constants["samples_per_frame"]
    self.hop_seconds = constants["hop_seconds"]
    self.semantic_dim = constants["semantic_dim"]

  def __call__(self, audio: np.ndarray, semantic: np.ndarray) -> np.ndarray:
    """audio [B, samples] or [samples]; semantic [B, F, d] or [F, d] -> [B, F, 3] (or [F, 3])."""
    audio = np.asarray(audio, np.float32)
    semantic = np.asarray(semantic, np.float32)
    single = semantic.ndim == 2
    if single:
      audio, semantic = audio[None], semantic[None]
    if semantic.ndim != 3 or semantic.shape[-1] != self.semantic_dim:
      raise ValueError(f"{self.export_dir}: semantic must be [batch, frames, "
                       f"{self.semantic_dim}], got shape {semantic.shape}")
    if audio.ndim != 2 or audio.shape[0] != semantic.shape[0]:
      raise ValueError(f"{self.export_dir}: audio must be [batch={semantic.shape[0]}, samples], "
                       f"got shape {audio.shape}")
    out = self._fn(audio=tf.constant(audio), semantic=tf.constant(semantic))
    y = np.stack([out[name].numpy() for name in self.label_names], axis=-1)
    return y[0] if single else y
