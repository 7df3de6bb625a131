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

`stream` (one chunk of a longer recording; emotion_tf.serving.stream)
    inputs   audio [batch, samples], semantic [batch, frames, d], state_h, state_c
             [batch, lstm_units] (zeros at the start of a recording)
    outputs  arousal, valence, liking [batch, frames], state_h, state_c (for the next chunk)

`metadata` (no inputs; constants)
    outputs  label_names string [3] (output order), sample_rate int64, samples_per_frame int64,
             hop_seconds float64, semantic_dim int64, format_version int64
    e.g. `tf.saved_model.load(E).signatures["metadata"]()`, or `saved_model_cli show --dir E
    --signature_def metadata` for its keys; frame k of the outputs is at time k * hop_seconds.

`audio_only` (only in an export written with a semantic frontend, `emotion_tf.export
--speech2vec_dir D --alignment_dir D [--snap_to_types]` or `--data_dir` of speech TFRecords)
    inputs   audio    [batch, samples]          float32, mono waveform at `sample_rate` Hz
    outputs  arousal, valence, liking  [batch, frames]  float32, frames = samples // 2 205
             semantic [batch, frames, d]        float32, the semantic input it computed
    The wav-only frontend (segmenter, MFCCs, normaliser, Speech2Vec encoder, W, snapping) runs
    inside the graph (`emotion_tf.serving.speech_frontend_graph`); equal to `emotion_tf.predict
    --audio` without word timings. Rows of one batch must be recordings of equal length.

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
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from absl import logging

import emotion_tf
from emotion_tf.data import schema
from emotion_tf.model import model_dir as model_dir_lib
from emotion_tf.model.models import EmotionRecognitionModel
from emotion_tf.serving import stream as stream_lib
from emotion_tf.util import fileio

SIGNATURE_KEY = "serving_default"
METADATA_SIGNATURE_KEY = "metadata"
METADATA_FILENAME = "emotion_tf_export.json"
EXPORT_FORMAT_VERSION = 1


class ExportError(ValueError):
  """An export directory that is missing, incomplete or not an emotion_tf export."""


def serving_function(model: EmotionRecognitionModel) -> Callable[..., dict[str, tf.Tensor]]:
  """The serving computation: (audio [B, samples], semantic [B, F, d]) -> {label: [B, F]}.

  The audio is cut or zero-padded at the end to F * samples_per_frame samples
  (`fit_audio_to_frames`), the model runs once over all F frames, and its [B, F, 3] output is
  split into one float32 tensor per label name (in the model's label order).
  """
  spf = int(model.config.samples_per_frame)
  label_names = tuple(model.config.label_names)

  def serve(audio: tf.Tensor, semantic: tf.Tensor) -> dict[str, tf.Tensor]:
    frames = tf.shape(semantic)[1]
    fitted = fit_audio_to_frames(audio, frames, spf)  # [B, F * spf]
    y = tf.cast(
      model({"audio": fitted, "semantic": semantic}, training=False), tf.float32
    )  # [B, F, 3]
    return {name: tf.identity(y[:, :, i], name=name) for i, name in enumerate(label_names)}

  return serve


def serving_input_signature(semantic_dim: int):
  """[audio [None, None] float32, semantic [None, None, semantic_dim] float32]."""
  return [
    tf.TensorSpec([None, None], tf.float32, name="audio"),
    tf.TensorSpec([None, None, int(semantic_dim)], tf.float32, name="semantic"),
  ]


def metadata_function(model: EmotionRecognitionModel) -> Callable[[], dict[str, tf.Tensor]]:
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
  def metadata() -> dict[str, tf.Tensor]:
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


def export_metadata(
  model: EmotionRecognitionModel, source: dict[str, Any] | None = None
) -> dict[str, Any]:
  """The JSON-serialisable description stored with an export."""
  c = model.config
  return {
    "format_version": EXPORT_FORMAT_VERSION,
    "emotion_tf_version": emotion_tf.__version__,
    "signature": SIGNATURE_KEY,
    "inputs": {
      "audio": "[batch, samples] float32 at sample_rate Hz, mono",
      "semantic": f"[batch, frames, {c.semantic_dim}] float32",
    },
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


def write_export_archive(
  model: EmotionRecognitionModel, path: str, metadata_path: str | None = None, speech_frontend=None
) -> None:
  """Writes `model` with `keras.export.ExportArchive` to `path` (not atomic; see
  `export_saved_model`).

  Signatures: `serving_default` (`serving_function`, inputs `serving_input_signature`),
  `metadata` (`metadata_function`, no inputs) and `stream` (`stream.stream_function`: one chunk
  plus the LSTM state in, its predictions plus the new state out). The archive tracks the
  model, so every variable the serving graph reads is saved with it and resolves in
  `saved_model_cli run`, TF Serving and the TFLite converter. The revived object also carries
  the constants as non-trainable variables `label_names`, `sample_rate`, `samples_per_frame`,
  `hop_seconds`, `semantic_dim` (as exports
  of format 1 written by a tf.Module did) and `metadata_file`, the JSON asset.
  With `speech_frontend` (a `tokens.SemanticFrontend`) also `audio_only`
  (`speech_frontend_graph.add_audio_only_endpoint`: audio alone -> the three curves).
  """
  c = model.config
  archive = keras.export.ExportArchive()
  archive.track(model)
  archive.add_endpoint(
    SIGNATURE_KEY, serving_function(model), input_signature=serving_input_signature(c.semantic_dim)
  )
  archive.add_endpoint(METADATA_SIGNATURE_KEY, metadata_function(model))
  archive.add_endpoint(
    stream_lib.STREAM_SIGNATURE_KEY,
    stream_lib.stream_function(model),
    input_signature=stream_lib.stream_input_signature(c.semantic_dim, c.lstm_units),
  )
  graph = None
  if speech_frontend is not None:
    from emotion_tf.serving import speech_frontend_graph

    graph = speech_frontend_graph.add_audio_only_endpoint(
      archive,
      serving_function(model),
      speech_frontend,
      c.sample_rate,
      c.samples_per_frame,
      c.semantic_dim,
    )
  # ExportArchive keeps the saved object in `_tf_trackable` (Keras 3.6); attributes set on it
  # are saved and revived with it, which keeps `loaded.label_names` etc. of earlier exports.
  root = archive._tf_trackable
  spf = int(c.samples_per_frame)
  root.label_names = tf.Variable(
    list(c.label_names), trainable=False, dtype=tf.string, name="label_names"
  )
  root.sample_rate = tf.Variable(
    int(c.sample_rate), trainable=False, dtype=tf.int64, name="sample_rate"
  )
  root.samples_per_frame = tf.Variable(
    spf, trainable=False, dtype=tf.int64, name="samples_per_frame"
  )
  root.hop_seconds = tf.Variable(
    spf / float(c.sample_rate), trainable=False, dtype=tf.float64, name="hop_seconds"
  )
  root.semantic_dim = tf.Variable(
    int(c.semantic_dim), trainable=False, dtype=tf.int64, name="semantic_dim"
  )
  if graph is not None:
    root.speech_frontend = graph
  if metadata_path is not None:
    root.metadata_file = tf.saved_model.Asset(metadata_path)
  interactive = keras.config.is_interactive_logging_enabled()
  keras.config.disable_interactive_logging()  # write_out's summary goes to absl, not stdout
  try:
    archive.write_out(path, verbose=False)
  finally:
    if interactive:
      keras.config.enable_interactive_logging()


def export_saved_model(
  model: EmotionRecognitionModel,
  export_dir: str,
  source: dict[str, Any] | None = None,
  speech_frontend=None,
) -> dict[str, Any]:
  """Writes `model` as a SavedModel to `export_dir`, atomically (temp dir + rename).

  An existing `export_dir` is replaced only after the new export is complete.

  Args:
    model: a built EmotionRecognitionModel.
    export_dir: target directory.
    source: provenance recorded in the metadata (e.g. {'path':..., 'sha256':...}).
    speech_frontend: a `tokens.SemanticFrontend` to build the `audio_only` signature from.

  Returns:
    The metadata dict written to `assets/emotion_tf_export.json`.
  """
  if model.config.interlocutor_frames:
    # The serving signature takes plain audio [B, F*spf]; packing it needs the subject's turns,
    # which it does not take. Refuse rather than serve silently wrong frames.
    raise ExportError(
      f"{export_dir}: the model uses interlocutor_frames (audio packed by turns/), which the "
      "export's serving signature cannot take; evaluate it with `python -m "
      "emotion_tf.evaluate` on TFRecords instead"
    )
  export_dir = os.path.abspath(export_dir)
  parent = os.path.dirname(export_dir)
  os.makedirs(parent, exist_ok=True)
  meta = export_metadata(model, source)
  tmp_dir = tempfile.mkdtemp(dir=parent, prefix=_staging_prefix("tmp", export_dir))
  try:
    staging = os.path.join(tmp_dir, "staging")
    os.makedirs(staging)
    meta_path = os.path.join(staging, METADATA_FILENAME)
    with open(meta_path, "w", encoding="utf-8") as f:
      json.dump(meta, f, indent=2, sort_keys=True)
    saved = os.path.join(tmp_dir, "saved_model")
    write_export_archive(model, saved, meta_path, speech_frontend)
    if not os.path.exists(os.path.join(saved, "assets", METADATA_FILENAME)):
      raise ExportError(f"{export_dir}: SavedModel was written without its metadata asset")
    _swap_in(saved, export_dir)
  finally:
    shutil.rmtree(tmp_dir, ignore_errors=True)
  logging.info(
    "exported %s model (semantic_dim %d) to %s", meta["variant"], meta["semantic_dim"], export_dir
  )
  return meta


def read_export_metadata(export_dir: str) -> dict[str, Any]:
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
    with open(path, encoding="utf-8") as f:
      meta = json.load(f)
  except FileNotFoundError as e:
    raise ExportError(f"{path}: missing; {export_dir} is not an emotion_tf export") from e
  except json.JSONDecodeError as e:
    raise ExportError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from e
  for key in ("label_names", "sample_rate", "samples_per_frame", "semantic_dim"):
    if key not in meta:
      raise ExportError(f"{path}: metadata lacks {key!r}")
  return meta


# What a SavedModel directory written by tf.saved_model.save / keras ExportArchive holds.
SAVED_MODEL_ENTRIES = frozenset(
  {"saved_model.pb", "variables", "assets", "assets.extra", "fingerprint.pb"}
)
DEFAULT_EXPORT_SUBDIR = "export"


def _is_within(path: str, root: str) -> bool:
  """True when `path` is `root` or lies beneath it (both absolute, resolved)."""
  return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_export_target(export_dir: str, model_dir: str | None = None) -> dict | None:
  """Refuses an `--out` whose replacement could destroy anything but an earlier export.

  Allowed: a path that does not exist yet, an empty directory, or an export of this toolkit
  (`assets/emotion_tf_export.json` present and parseable, nothing but SavedModel entries and
  its `semantic_frontend/` beside it). Refused: a regular file or symbolic link, any other
  non-empty directory, the model directory itself, an ancestor of it, or a directory inside it
  other than its default `<model_dir>/export`.

  Returns:
    the metadata of the export found at `export_dir`, or None when there is none.

  Raises:
    ExportError: naming `export_dir` and why it is refused; nothing has been changed.
  """
  target = os.path.realpath(export_dir)
  if os.path.islink(export_dir):
    raise ExportError(
      f"{export_dir}: --out is a symbolic link (to {target}); give the real directory"
    )
  if model_dir:
    root = os.path.realpath(model_dir)
    if target == root:
      raise ExportError(
        f"{export_dir}: --out is the model directory itself; replacing it "
        f"would delete the trained model, checkpoints and logs. Use a new "
        f"directory (default {os.path.join(model_dir, DEFAULT_EXPORT_SUBDIR)})"
      )
    if _is_within(root, target):
      raise ExportError(
        f"{export_dir}: --out contains the model directory {model_dir}; "
        "replacing it would delete the trained model. Use a new directory"
      )
    if _is_within(target, root) and target != os.path.join(root, DEFAULT_EXPORT_SUBDIR):
      raise ExportError(
        f"{export_dir}: --out lies inside the model directory {model_dir} "
        f"(only its default {os.path.join(model_dir, DEFAULT_EXPORT_SUBDIR)} "
        "may); use that or a directory outside it"
      )
  if not os.path.lexists(export_dir):
    return None
  if not os.path.isdir(export_dir):
    raise ExportError(f"{export_dir}: --out exists and is not a directory; refusing to replace it")
  entries = sorted(os.listdir(export_dir))
  if not entries:
    return None
  try:
    meta = read_export_metadata(export_dir)
  except ExportError as e:
    shown = ", ".join(entries[:5]) + (" ..." if len(entries) > 5 else "")
    raise ExportError(
      f"{export_dir}: --out is a non-empty directory that is not an "
      f"emotion_tf export ({e}; it holds {shown}); refusing to replace it. "
      "Choose a new or empty directory, or delete it yourself"
    ) from e
  unexpected = [e for e in entries if e not in SAVED_MODEL_ENTRIES and e != FRONTEND_DIR]
  if unexpected:
    raise ExportError(
      f"{export_dir}: --out holds an emotion_tf export plus other files "
      f"({', '.join(unexpected[:5])}); refusing to replace it. Move those "
      "away or choose another directory"
    )
  return meta


def model_dir_embeddings(model_dir: str) -> dict[str, Any] | None:
  """The embedding space recorded by `emotion_tf.train` in `<model_dir>/config.json`
  ({'file', 'sha256', 'source'}), or None for a model dir written before it was recorded
  (or without a config.json).

  Raises:
    ExportError: config.json exists but cannot be read or is not a JSON object (the check it
      feeds must not be skipped silently).
  """
  path = os.path.join(model_dir, model_dir_lib.RUN_CONFIG)
  try:
    config = model_dir_lib.read_run_config(model_dir)
  except model_dir_lib.ModelDirError as e:
    raise ExportError(str(e)) from e
  if config is None:
    return None
  record = config.get("embeddings")
  if record is not None and not isinstance(record, dict):
    raise ExportError(f"{path}: 'embeddings' is not a JSON object; the file is corrupt")
  if not record or not record.get("sha256"):
    return None
  return {k: record.get(k) for k in ("file", "sha256", "source")}


def export_embeddings(meta: dict[str, Any]) -> dict[str, Any] | None:
  """The training embedding space stored in export metadata ({'file', 'sha256', ...}), or
  None for an export written before it was recorded."""
  record = meta.get("embeddings") or (meta.get("source") or {}).get("embeddings")
  return record if isinstance(record, dict) and record.get("sha256") else None


_STAGING_KINDS = ("new", "old", "tmp")


def _staging_prefix(kind: str, export_dir: str) -> str:
  """'.<kind>-<host>-<pid>-<basename>-': prefix of the temp directories beside `export_dir`
  (new: the export being written; old: the previous export during the swap; tmp: the
  SavedModel being written), recognisable by a later run once their process is gone."""
  return fileio.owned_temp_prefix(kind) + os.path.basename(export_dir) + "-"


def remove_stale_staging(export_dir: str) -> list[str]:
  """Removes the staging directories of killed exports to `export_dir` (this host, process
  gone; `_staging_prefix`). A previous export that a killed swap left in its `.old-` directory
  while `export_dir` is missing is first put back.

  Returns:
    the removed paths.
  """
  export_dir = os.path.abspath(export_dir)
  parent, base = os.path.dirname(export_dir), os.path.basename(export_dir)
  removed = []
  for path, pid, rest in fileio.stale_temps(parent, _STAGING_KINDS):
    if not rest.startswith(base + "-") or "-" in rest[len(base) + 1 :]:
      continue  # staging of another --out in the same parent
    kept = os.path.join(path, "export")
    if (
      os.path.basename(path).startswith(".old-")
      and os.path.isdir(kept)
      and not os.path.lexists(export_dir)
    ):
      os.rename(kept, export_dir)
      logging.warning(
        "%s: restored the previous export from %s (export process %d was killed during the swap)",
        export_dir,
        path,
        pid,
      )
    shutil.rmtree(path, ignore_errors=True)
    logging.warning(
      "%s: removed the staging directory of export process %d (no longer running)", path, pid
    )
    removed.append(path)
  return removed


def _swap_in(new_dir: str, export_dir: str) -> None:
  """Renames the finished export `new_dir` (on the same file system) into place.

  An existing `export_dir` (checked by `check_export_target`) is first renamed to a trash
  sibling and removed after the swap, so at no moment is a half-written export visible; if
  the second rename fails the old export is put back.
  """
  parent = os.path.dirname(export_dir)
  trash = None
  if os.path.lexists(export_dir):
    trash = tempfile.mkdtemp(dir=parent, prefix=_staging_prefix("old", export_dir))
    trash_dir = os.path.join(trash, "export")
    os.rename(export_dir, trash_dir)
  try:
    os.rename(new_dir, export_dir)
  except OSError:
    if trash is not None:
      os.rename(os.path.join(trash, "export"), export_dir)
    raise
  finally:
    if trash is not None:
      shutil.rmtree(trash, ignore_errors=True)


def export_from_model_dir(
  model_dir: str,
  export_dir: str,
  which: str = "best",
  force: bool = False,
  frontend_dirs: tuple | None = None,
) -> tuple[dict[str, Any], bool]:
  """Exports `<model_dir>/<which>.keras` to `export_dir`.

  `export_dir` must be new, empty or an earlier export of this toolkit, and must not be, hold
  or lie inside `model_dir` (except `<model_dir>/export`; `check_export_target`). The export
  is written to a temporary sibling and swapped in (`_swap_in`). A rerun skips when
  `export_dir` already holds an export of a source file with the same SHA-256 and embedding
  space (unless `force`). The embedding space the model was trained on (`config.json` of the
  model dir, see `training.embeddings_record`) goes to the metadata's `source.embeddings`.
  `frontend_dirs` = (speech2vec_dir, alignment_dir, snap_to_types) adds the `audio_only`
  signature built from that frontend (recorded as `source.audio_only`; a rerun with another
  frontend re-exports).

  Returns:
    (metadata, exported): `exported` False when the existing export was kept.

  Raises:
    ExportError: for a refused `export_dir` (nothing changed); ModelDirError for a model dir
      without a usable model.
  """
  export_dir = os.path.abspath(export_dir)
  path = model_dir_lib.trained_model_path(model_dir, which)
  check_export_target(export_dir, model_dir)
  try:
    with export_lock(export_dir):
      return _export_locked(model_dir, export_dir, path, which, force, frontend_dirs)
  except fileio.LockError as e:
    raise ExportError(str(e)) from e


def export_lock(export_dir: str) -> fileio.DirLock:
  """The lock of one export target: `<parent>/.lock-export.<basename>.run` (DirLock: a second
  live export to the same --out is refused naming the holder; a dead holder's lock is
  removed with a warning)."""
  export_dir = os.path.abspath(export_dir)
  return fileio.DirLock(
    os.path.dirname(export_dir),
    "run",
    settings="export",
    prefix=f".lock-export.{os.path.basename(export_dir)}.",
  )


def _export_locked(
  model_dir: str,
  export_dir: str,
  path: str,
  which: str,
  force: bool,
  frontend_dirs: tuple | None = None,
) -> tuple[dict[str, Any], bool]:
  """`export_from_model_dir` once its lock is held."""
  remove_stale_staging(export_dir)
  existing = check_export_target(export_dir, model_dir)
  digest = file_sha256(path)
  embeddings = model_dir_embeddings(model_dir)
  if embeddings is None:
    logging.warning(
      "%s: no embeddings sha256 recorded (config.json of an older run); the "
      "export cannot check the --embeddings given to predict",
      model_dir,
    )
  source = {
    "path": os.path.abspath(path),
    "sha256": digest,
    "which": which,
    "embeddings": embeddings,
  }
  frontend = None
  if frontend_dirs:
    from emotion_tf.serving import speech_frontend_graph

    source["audio_only"] = speech_frontend_graph.audio_only_record(*frontend_dirs)
  if (
    not force
    and existing
    and existing.get("source", {}).get("sha256") == digest
    and (export_embeddings(existing) == embeddings)
    and (existing["source"].get("audio_only") == source.get("audio_only"))
  ):
    logging.info(
      "%s already holds the export of %s; skipping (use --force to redo)", export_dir, path
    )
    return existing, False
  model = model_dir_lib.load_trained_model(model_dir, which)
  if frontend_dirs:
    from emotion_tf.semantic import tokens

    frontend = tokens.load_frontend_dirs(*frontend_dirs)
  parent = os.path.dirname(export_dir)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(dir=parent, prefix=_staging_prefix("new", export_dir))
  try:
    new_dir = os.path.join(staging, "export")
    meta = export_saved_model(model, new_dir, source, frontend)
    check_export_target(export_dir, model_dir)  # nothing else appeared there meanwhile
    _swap_in(new_dir, export_dir)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return meta, True


def signature_metadata(loaded: Any) -> dict[str, Any]:
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
    raw = {
      k: getattr(loaded, k).numpy()
      for k in ("label_names", "sample_rate", "samples_per_frame", "hop_seconds", "semantic_dim")
    }
  return {
    "label_names": tuple(n.decode("utf-8") for n in raw["label_names"]),
    "sample_rate": int(raw["sample_rate"]),
    "samples_per_frame": int(raw["samples_per_frame"]),
    "hop_seconds": float(raw["hop_seconds"]),
    "semantic_dim": int(raw["semantic_dim"]),
  }


class ExportedModel:
  """A loaded export: call it with audio [B, samples] and semantic [B, F, d].

  Attributes: `metadata` (dict of `read_export_metadata`), `label_names`, `sample_rate`,
  `samples_per_frame`, `hop_seconds`, `semantic_dim` (read from the SavedModel itself,
  `signature_metadata`), `label_delay_frames` (from the metadata's model_config; 0 for exports
  written before it existed).
  """

  def __init__(self, export_dir: str):
    self.metadata = read_export_metadata(export_dir)
    self.export_dir = export_dir
    self._loaded = tf.saved_model.load(export_dir)
    if SIGNATURE_KEY not in self._loaded.signatures:
      raise ExportError(f"{export_dir}: SavedModel has no {SIGNATURE_KEY!r} signature")
    self._fn: Callable[..., dict[str, tf.Tensor]] = self._loaded.signatures[SIGNATURE_KEY]
    constants = signature_metadata(self._loaded)
    self.label_names = constants["label_names"]
    self.sample_rate = constants["sample_rate"]
    self.samples_per_frame = constants["samples_per_frame"]
    self.hop_seconds = constants["hop_seconds"]
    self.semantic_dim = constants["semantic_dim"]
    # Annotation-delay compensation of the model (`models.delay_compensate`): `serving_default`
    # applies it in the graph; `step` outputs are uncompensated (inference/stream shift them).
    model_config = self.metadata.get("model_config") or {}
    self.label_delay_frames = int(model_config.get("label_delay_frames", 0))
    # The `stream` signature (exports written before it have none: `has_stream` False).
    self.has_stream = stream_lib.STREAM_SIGNATURE_KEY in self._loaded.signatures
    self._stream = (
      stream_lib.SignatureRunner(
        self._loaded.signatures[stream_lib.STREAM_SIGNATURE_KEY],
        self.samples_per_frame,
        self.label_names,
      )
      if self.has_stream
      else None
    )

  def initial_state(self, batch: int):
    """Zero LSTM state (h, c) [batch, lstm_units] of the `stream` signature."""
    return self._stream.initial_state(batch)

  def step(self, audio: np.ndarray, semantic: np.ndarray, state):
    """One chunk through `stream`: audio [B, n * spf], semantic [B, n, d], (h, c) ->
    (y [B, n, 3] in label order, new (h, c))."""
    return self._stream.step(audio, semantic, state)

  def __call__(self, audio: np.ndarray, semantic: np.ndarray) -> np.ndarray:
    """audio [B, samples] or [samples]; semantic [B, F, d] or [F, d] -> [B, F, 3] (or [F, 3])."""
    audio = np.asarray(audio, np.float32)
    semantic = np.asarray(semantic, np.float32)
    single = semantic.ndim == 2
    if single:
      audio, semantic = audio[None], semantic[None]
    if semantic.ndim != 3 or semantic.shape[-1] != self.semantic_dim:
      raise ValueError(
        f"{self.export_dir}: semantic must be [batch, frames, "
        f"{self.semantic_dim}], got shape {semantic.shape}"
      )
    if audio.ndim != 2 or audio.shape[0] != semantic.shape[0]:
      raise ValueError(
        f"{self.export_dir}: audio must be [batch={semantic.shape[0]}, samples], "
        f"got shape {audio.shape}"
      )
    out = self._fn(audio=tf.constant(audio), semantic=tf.constant(semantic))
    y = np.stack([out[name].numpy() for name in self.label_names], axis=-1)
    return y[0] if single else y


# ------------------------------------------------------------ semantic frontend (speech tokens)

FRONTEND_DIR = "semantic_frontend"
FRONTEND_KEY = "semantic_frontend"


def _metadata_path(export_dir: str) -> str:
  return os.path.join(export_dir, "assets", METADATA_FILENAME)


def export_semantic_frontend(
  export_dir: str, speech2vec_dir: str, alignment_dir: str, snap_to_types: bool = False
) -> dict[str, Any]:
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
  from emotion_tf.semantic import tokens

  meta = read_export_metadata(export_dir)
  files = tokens.frontend_files(speech2vec_dir, alignment_dir, snap_to_types)
  hashes = tokens.files_sha256(files)
  w = np.load(files[tokens.W_FILE])
  if w.ndim != 2 or w.shape[0] != int(meta["semantic_dim"]):
    raise tokens.FrontendError(
      f"{files[tokens.W_FILE]}: W maps into {w.shape[0] if w.ndim == 2 else '?'}-d vectors, "
      f"but the model in {export_dir} takes semantic_dim {meta['semantic_dim']}"
    )
  entry = {
    "dir": FRONTEND_DIR,
    "files_sha256": hashes,
    "snap_to_types": bool(snap_to_types),
    "bundle_sha256": tokens.bundle_sha256(hashes),
    "source": {
      "speech2vec_dir": os.path.abspath(speech2vec_dir),
      "alignment_dir": os.path.abspath(alignment_dir),
    },
  }
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
  logging.info(
    "semantic frontend (%d files, bundle %s) added to %s",
    len(hashes),
    entry["bundle_sha256"][:12],
    export_dir,
  )
  return entry


def _frontend_intact(export_dir: str, entry: dict[str, Any]) -> bool:
  base = os.path.join(export_dir, entry.get("dir", FRONTEND_DIR))
  for rel, digest in entry.get("files_sha256", {}).items():
    path = os.path.join(base, rel)
    if not os.path.isfile(path) or file_sha256(path) != digest:
      return False
  return True


def frontend_from_data_dir(data_dir: str) -> tuple[str, str] | None:
  """(speech2vec_dir, alignment_dir) recorded by `write_tfrecords --semantic_source speech`
  in `<data_dir>/metadata.json`, or None for lookup TFRecords."""
  try:
    source = schema.read_metadata(data_dir).semantic_source
  except (OSError, ValueError) as e:
    raise ExportError(f"cannot read the TFRecords' metadata ({e})") from e
  if source.get("kind") != "speech":
    return None
  return source["speech2vec_dir"], source["alignment_dir"]


def load_semantic_frontend(export_dir: str, metadata: dict[str, Any] | None = None):
  """The export's speech-token frontend (`tokens.SemanticFrontend`), or None if it has none.

  Every file listed in the metadata is checked against its recorded SHA-256 first.

  Raises:
    ExportError: naming the file that is missing or whose SHA-256 differs from the metadata.
  """
  from emotion_tf.semantic import tokens

  meta = metadata if metadata is not None else read_export_metadata(export_dir)
  entry = meta.get(FRONTEND_KEY)
  if not entry:
    return None
  base = os.path.join(export_dir, entry.get("dir", FRONTEND_DIR))
  for rel, digest in sorted(entry.get("files_sha256", {}).items()):
    path = os.path.join(base, rel)
    if not os.path.isfile(path):
      raise ExportError(
        f"{path}: semantic frontend file listed in {_metadata_path(export_dir)} "
        "is missing; re-export with --speech2vec_dir/--alignment_dir"
      )
    actual = file_sha256(path)
    if actual != digest:
      raise ExportError(
        f"{path}: SHA-256 {actual[:16]}... differs from {digest[:16]}... "
        f"recorded in {_metadata_path(export_dir)}; this file does not belong "
        "to the model (re-export with the Speech2Vec and alignment runs it "
        "was trained with)"
      )
  frontend = tokens.load_frontend(base)
  if frontend.dim != int(meta["semantic_dim"]):
    raise ExportError(
      f"{base}: frontend gives {frontend.dim}-d vectors, the model takes {meta['semantic_dim']}"
    )
  return frontend
