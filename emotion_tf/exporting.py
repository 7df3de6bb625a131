"""SavedModel export of a trained emotion model, and loading it back for serving.

The export is a `tf.Module` saved with `tf.saved_model.save`. Its serving signature
(`serving_default`) is

    inputs   audio    [batch, samples]          float32, mono waveform at `sample_rate` Hz (22 050)
             semantic [batch, frames, d]        float32, the word vector of each 0.1 s frame
    outputs  arousal, valence, liking  [batch, frames]  float32 in (-1, 1)

`frames` is taken from `semantic`: the audio is truncated or zero-padded at the end to exactly
frames * samples_per_frame samples (2 205 per 0.1 s frame) before the model runs, so callers
pass the whole waveform and as many semantic frames as they want predictions for. Variants that
ignore one input still take both (the 'semantic' variant ignores the audio and accepts
[batch, 0]; the 'paralinguistic' variant ignores the semantic values, only their frame count).
Outputs of frames past a sequence's true end never change earlier frames (the LSTM is
unidirectional), so a batch of recordings can be padded to a common length.

Stored with the model, readable after `tf.saved_model.load`:
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

import numpy as np
import tensorflow as tf
from absl import logging

import emotion_tf
from emotion_tf import evaluation
from emotion_tf import fileio
from emotion_tf.models import EmotionRecognitionModel

SIGNATURE_KEY = "serving_default"
METADATA_FILENAME = "emotion_tf_export.json"
EXPORT_FORMAT_VERSION = 1


class ExportError(ValueError):
  """An export directory that is missing, incomplete or not an emotion_tf export."""


class EmotionServingModule(tf.Module):
  """Wraps an `EmotionRecognitionModel` with the serving signature and its metadata.

  Args:
    model: the trained model ([B, F*spf] audio + [B, F, d] semantic -> [B, F, 3]).
    metadata_path: optional JSON file to ship as a SavedModel asset.
  """

  def __init__(self, model: EmotionRecognitionModel, metadata_path: Optional[str] = None):
    super().__init__(name="emotion_serving")
    config = model.config
    self.model = model
    self._spf = int(config.samples_per_frame)
    self._label_names = tuple(config.label_names)
    self.label_names = tf.Variable(list(config.label_names), trainable=False, dtype=tf.string,
                                   name="label_names")
    self.sample_rate = tf.Variable(int(config.sample_rate), trainable=False, dtype=tf.int64,
                                   name="sample_rate")
    self.samples_per_frame = tf.Variable(self._spf, trainable=False, dtype=tf.int64,
                                         name="samples_per_frame")
    self.hop_seconds = tf.Variable(self._spf / float(config.sample_rate), trainable=False,
                                   dtype=tf.float64, name="hop_seconds")
    self.semantic_dim = tf.Variable(int(config.semantic_dim), trainable=False, dtype=tf.int64,
                                    name="semantic_dim")
    if metadata_path is not None:
      self.metadata_file = tf.saved_model.Asset(metadata_path)
    self.serve = tf.function(
        self._serve,
        input_signature=[
            tf.TensorSpec([None, None], tf.float32, name="audio"),
            tf.TensorSpec([None, None, int(config.semantic_dim)], tf.float32, name="semantic"),
        ])

  def _serve(self, audio: tf.Tensor, semantic: tf.Tensor) -> Dict[str, tf.Tensor]:
    """audio [B, samples], semantic [B, F, d] -> {label: [B, F]}."""
    frames = tf.shape(semantic)[1]
    audio = fit_audio_to_frames(audio, frames, self._spf)   # [B, F * spf]
    y = self.model({"audio": audio, "semantic": semantic}, training=False)  # [B, F, 3]
    y = tf.cast(y, tf.float32)
    return {name: tf.identity(y[:, :, i], name=name) for i, name in enumerate(self._label_names)}


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
    module = EmotionServingModule(model, metadata_path=meta_path)
    saved = os.path.join(tmp_dir, "saved_model")
    tf.saved_model.save(module, saved, signatures={SIGNATURE_KEY: module.serve})
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
  path = evaluation.trained_model_path(model_dir, which)
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
  model = evaluation.load_trained_model(model_dir, which)
  source = {"path": os.path.abspath(path), "sha256": digest, "which": which}
  return export_saved_model(model, export_dir, source), True


class ExportedModel:
  """A loaded export: call it with audio [B, samples] and semantic [B, F, d].

  Attributes: `metadata` (dict of `read_export_metadata`), `label_names`, `sample_rate`,
  `samples_per_frame`, `hop_seconds`, `semantic_dim` (read from the SavedModel's variables).
  """

  def __init__(self, export_dir: str):
    self.metadata = read_export_metadata(export_dir)
    self.export_dir = export_dir
    self._loaded = tf.saved_model.load(export_dir)
    if SIGNATURE_KEY not in self._loaded.signatures:
      raise ExportError(f"{export_dir}: SavedModel has no {SIGNATURE_KEY!r} signature")
    self._fn: Callable[..., Dict[str, tf.Tensor]] = self._loaded.signatures[SIGNATURE_KEY]
    self.label_names = tuple(n.decode("utf-8") for n in self._loaded.label_names.numpy())
    self.sample_rate = int(self._loaded.sample_rate.numpy())
    self.samples_per_frame = int(self._loaded.samples_per_frame.numpy())
    self.hop_seconds = float(self._loaded.hop_seconds.numpy())
    self.semantic_dim = int(self._loaded.semantic_dim.numpy())

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


# ------------------------------------------------------------ semantic frontend (speech tokens)

FRONTEND_DIR = "semantic_frontend"
FRONTEND_KEY = "semantic_frontend"


def _metadata_path(export_dir: str) -> str:
  return os.path.join(export_dir, "assets", METADATA_FILENAME)


def export_semantic_frontend(export_dir: str, speech2vec_dir: str, alignment_dir: str,
                             snap_to_types: bool = False) -> Dict[str, Any]:
  """Copies the Speech2Vec encoder, its MFCC normaliser/config and the alignment W + centring
  beside the SavedModel (`<export_dir>/semantic_frontend/`) and records every file's SHA-256
  in the export's metadata JSON under 'semantic_frontend', so `emotion_tf.predict` computes
  the semantic input from a wav alone (`emotion_tf.semantic.tokens`).

  `snap_to_types` also ships aligned_speech2vec.vec: token vectors are then replaced by their
  nearest aligned type vector (`tokens.SemanticFrontend.codebook`), which suits a model trained
  on looked-up type vectors (`write_tfrecords --semantic_source lookup`).

  The copy goes to a temp directory and is renamed into place; a rerun with identical files
  keeps the existing copy.

  Returns:
    The 'semantic_frontend' metadata entry.
  Raises:
    ExportError: `export_dir` is not an export; tokens.FrontendError: a missing frontend file,
      or W's output dimension differs from the model's semantic_dim.
  """
  from emotion_tf.semantic import tokens  # pylint: disable=g-import-not-at-top
  meta = read_export_metadata(export_dir)
  files = tokens.frontend_files(speech2vec_dir, alignment_dir, snap_to_types)
  hashes = tokens.files_sha256(files)
  w = np.load(files[tokens.W_FILE])
  if w.ndim != 2 or w.shape[0] != int(meta["semantic_dim"]):
    raise tokens.FrontendError(
        f"{files[tokens.W_FILE]}: W maps into {w.shape[0] if w.ndim == 2 else '?'}-d vectors, "
        f"but the model in {export_dir} takes semantic_dim {meta['semantic_dim']}")
  entry = {"dir": FRONTEND_DIR, "files_sha256": hashes, "snap_to_types": bool(snap_to_types),
           "bundle_sha256": tokens.bundle_sha256(hashes),
           "source": {"speech2vec_dir": os.path.abspath(speech2vec_dir),
                      "alignment_dir": os.path.abspath(alignment_dir)}}
  target = os.path.join(export_dir, FRONTEND_DIR)
  old = meta.get(FRONTEND_KEY)
  if not (old and old.get("files_sha256") == hashes and _frontend_intact(export_dir, old)):
    tmp = tempfile.mkdtemp(dir=export_dir, prefix=".tmp-frontend-")
    try:
      for rel, path in files.items():
        dest = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(path, dest)
      if os.path.exists(target):
        shutil.rmtree(target)
      os.rename(tmp, target)
    finally:
      shutil.rmtree(tmp, ignore_errors=True)
  meta[FRONTEND_KEY] = entry
  fileio.atomic_write_text(_metadata_path(export_dir), json.dumps(meta, indent=2, sort_keys=True))
  logging.info("semantic frontend (%d files, bundle %s) added to %s", len(hashes),
               entry["bundle_sha256"][:12], export_dir)
  return entry


def _frontend_intact(export_dir: str, entry: Dict[str, Any]) -> bool:
  base = os.path.join(export_dir, entry.get("dir", FRONTEND_DIR))
  for rel, digest in entry.get("files_sha256", {}).items():
    path = os.path.join(base, rel)
    if not os.path.isfile(path) or file_sha256(path) != digest:
      return False
  return True


def frontend_from_data_dir(data_dir: str) -> Optional[Tuple[str, str]]:
  """(speech2vec_dir, alignment_dir) recorded by `write_tfrecords --semantic_source speech`
  in `<data_dir>/metadata.json`, or None for lookup TFRecords."""
  path = os.path.join(data_dir, "metadata.json")
  try:
    with open(path, "r", encoding="utf-8") as f:
      source = json.load(f).get("semantic_source", {})
  except (OSError, ValueError) as e:
    raise ExportError(f"{path}: cannot read the TFRecords' metadata ({e})") from e
  if source.get("kind") != "speech":
    return None
  return source["speech2vec_dir"], source["alignment_dir"]


def load_semantic_frontend(export_dir: str, metadata: Optional[Dict[str, Any]] = None):
  """The export's speech-token frontend (`tokens.SemanticFrontend`), or None if it has none.

  Every file listed in the metadata is checked against its recorded SHA-256 first.

  Raises:
    ExportError: naming the file that is missing or whose SHA-256 differs from the metadata.
  """
  from emotion_tf.semantic import tokens  # pylint: disable=g-import-not-at-top
  meta = metadata if metadata is not None else read_export_metadata(export_dir)
  entry = meta.get(FRONTEND_KEY)
  if not entry:
    return None
  base = os.path.join(export_dir, entry.get("dir", FRONTEND_DIR))
  for rel, digest in sorted(entry.get("files_sha256", {}).items()):
    path = os.path.join(base, rel)
    if not os.path.isfile(path):
      raise ExportError(f"{path}: semantic frontend file listed in {_metadata_path(export_dir)} "
                        "is missing; re-export with --speech2vec_dir/--alignment_dir")
    actual = file_sha256(path)
    if actual != digest:
      raise ExportError(f"{path}: SHA-256 {actual[:16]}... differs from {digest[:16]}... "
                        f"recorded in {_metadata_path(export_dir)}; this file does not belong "
                        "to the model (re-export with the Speech2Vec and alignment runs it "
                        "was trained with)")
  frontend = tokens.load_frontend(base)
  if frontend.dim != int(meta["semantic_dim"]):
    raise ExportError(f"{base}: frontend gives {frontend.dim}-d vectors, the model takes "
                      f"{meta['semantic_dim']}")
  return frontend
