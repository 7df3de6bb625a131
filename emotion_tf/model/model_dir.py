"""The model directory of `python -m emotion_tf.train`: file names, the saved models, configs.

Layout (every name used by train / evaluate / export / ablate comes from here):
  config.json         RUN_CONFIG: the resolved run config (sections model, training, data,
                      strategy); a valid `--config_file` of emotion_tf.train
  model_config.json   MODEL_CONFIG: ModelConfig.to_json()
  best.keras          BEST: best model by the eval partition's mean CCC
  last.keras          LAST: model at the end of training
  checkpoints/        CHECKPOINTS: per-epoch checkpoints (tf.train.CheckpointManager)
  backup/             BACKUP: crash-recovery checkpoints
  logs/train, logs/eval   LOGS: TensorBoard
  evaluation_<which>/ default output of emotion_tf.evaluate
  export/             default SavedModel of emotion_tf.export
"""

import json
import os
import re
import shutil
from typing import Any

import keras
from absl import logging

from emotion_tf.model import models
from emotion_tf.util import fileio

RUN_CONFIG = "config.json"
MODEL_CONFIG = "model_config.json"
BEST = "best.keras"
LAST = "last.keras"
MODEL_FILES = {"best": BEST, "last": LAST}
CHECKPOINTS = "checkpoints"
BACKUP = "backup"
LOGS = "logs"
WORKERS = ".workers"
EXPORT = "export"


class ModelDirError(ValueError):
  """A model directory without a usable saved model."""


def path(model_dir: str, *names: str) -> str:
  """`os.path.join(model_dir, *names)`, for the names above."""
  return os.path.join(model_dir, *names)


def evaluation_dir(model_dir: str, which: str) -> str:
  """Default output directory of emotion_tf.evaluate for `which` ('best' / 'last')."""
  return os.path.join(model_dir, f"evaluation_{which}")


def trained_model_path(model_dir: str, which: str = "best") -> str:
  """Path of `<model_dir>/best.keras` (falls back to last.keras) or `<model_dir>/last.keras`.

  Raises:
    ModelDirError: naming the directory when the wanted file (and its fallback) is missing.
  """
  if which not in MODEL_FILES:
    raise ValueError(f"which must be one of {sorted(MODEL_FILES)}, got {which!r}")
  if not os.path.isdir(model_dir):
    raise ModelDirError(f"{model_dir}: model directory does not exist")
  candidates = ["best", "last"] if which == "best" else ["last"]
  for name in candidates:
    candidate = os.path.join(model_dir, MODEL_FILES[name])
    if os.path.exists(candidate):
      if name != which:
        logging.warning("%s: no %s; using %s", model_dir, MODEL_FILES[which], MODEL_FILES[name])
      return candidate
  raise ModelDirError(
    f"{model_dir}: no {' or '.join(MODEL_FILES[c] for c in candidates)}; train a model with "
    f"`python -m emotion_tf.train --model_dir {model_dir}` first"
  )


def read_model_config(model_dir: str) -> models.ModelConfig | None:
  """The ModelConfig stored in `<model_dir>/model_config.json`, None when there is none."""
  config_path = os.path.join(model_dir, MODEL_CONFIG)
  if not os.path.exists(config_path):
    return None
  with open(config_path, encoding="utf-8") as f:
    return models.ModelConfig.from_json(f.read())


def read_run_config(model_dir: str) -> dict[str, Any] | None:
  """The resolved run config `<model_dir>/config.json`, None when there is none.

  Raises:
    ModelDirError: naming the file when it exists but cannot be read or is not a JSON
      object (checks that depend on it must not pass silently).
  """
  config_path = os.path.join(model_dir, RUN_CONFIG)
  try:
    with open(config_path, encoding="utf-8") as f:
      data = json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, UnicodeDecodeError) as e:
    raise ModelDirError(
      f"{config_path}: cannot read the model directory's run config "
      f"({getattr(e, 'strerror', None) or e})"
    ) from e
  except json.JSONDecodeError as e:
    raise ModelDirError(
      f"{config_path}:{e.lineno}: the model directory's run config is not "
      f"valid JSON ({e.msg}); restore it or use a new --model_dir"
    ) from e
  if not isinstance(data, dict):
    raise ModelDirError(
      f"{config_path}: the model directory's run config is not a JSON "
      "object; restore it or use a new --model_dir"
    )
  return data


def write_model_config(model_dir: str, config: models.ModelConfig) -> None:
  """Writes `<model_dir>/model_config.json` atomically."""
  fileio.atomic_write_text(os.path.join(model_dir, MODEL_CONFIG), config.to_json() + "\n")


def write_run_config(model_dir: str, resolved: dict[str, Any]) -> None:
  """Writes the resolved run config `<model_dir>/config.json` atomically."""
  fileio.write_json(os.path.join(model_dir, RUN_CONFIG), resolved)


def load_trained_model(model_dir: str, which: str = "best") -> models.EmotionRecognitionModel:
  """Loads `<model_dir>/best.keras` (or last.keras, see `trained_model_path`) without compiling.

  When `<model_dir>/model_config.json` exists it must describe the same model.
  """
  model_path = trained_model_path(model_dir, which)
  try:
    model = keras.models.load_model(model_path, compile=False)
  except (OSError, ValueError, TypeError) as e:
    raise ModelDirError(f"{model_path}: cannot load the Keras model ({e})") from e
  if not isinstance(model, models.EmotionRecognitionModel):
    raise ModelDirError(
      f"{model_path}: holds a {type(model).__name__}, not an EmotionRecognitionModel"
    )
  stored = read_model_config(model_dir)
  if stored is not None and stored != model.config:
    raise ModelDirError(
      f"{os.path.join(model_dir, MODEL_CONFIG)}: describes {stored}, but "
      f"{model_path} holds {model.config}"
    )
  logging.info("loaded %s (%s)", model_path, model.config.variant)
  return model


TEMP_KIND = "tmp"


def remove_stale_temps(model_dir: str) -> list[str]:
  """Removes `.tmp-<host>-<pid>-...` files of `save_keras` whose writer is gone.

  A writer killed mid-save (SIGKILL, power loss) leaves its temp file behind; only temps of
  this host whose process no longer runs are removed (another host's cannot be checked).

  Returns:
    the removed paths.
  """
  return fileio.remove_stale_temps(model_dir, (TEMP_KIND,))


_CHECKPOINT_TEMP = re.compile(r"^[A-Za-z]+-\d+_temp$")


def remove_partial_checkpoints(directory: str) -> list[str]:
  """Removes `<name>-<step>_temp/` directories of TensorFlow checkpoint saves under
  `directory` (a CheckpointManager's: backup/, checkpoints/), left by a run killed mid-save.

  Only safe while this process holds the model directory's lock (`train_lib.model_dir_lock`)
  and before its own first save: no other writer of `directory` is running then.

  Returns:
    the removed paths.
  """
  removed = []
  try:
    entries = sorted(os.listdir(directory))
  except (FileNotFoundError, NotADirectoryError):
    return removed
  for entry in entries:
    path = os.path.join(directory, entry)
    if _CHECKPOINT_TEMP.match(entry) and os.path.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
      logging.warning("%s: removed a partial checkpoint save of a killed run", path)
      removed.append(path)
  return removed


def save_keras(model: keras.Model, model_dir: str, name: str) -> None:
  """Saves `model` as `<model_dir>/<name>` via a temp file + rename (never a partial file).

  Temp files of earlier writers that were killed mid-save are removed first; a failed save
  removes its own (an OSError then names the target, e.g. on a full disk).
  """
  remove_stale_temps(model_dir)
  target = os.path.join(model_dir, name)
  tmp = os.path.join(model_dir, fileio.owned_temp_prefix(TEMP_KIND) + name)
  try:
    model.save(tmp)
    os.replace(tmp, target)
  except OSError as e:
    if os.path.exists(tmp):
      os.remove(tmp)  # e.g. a full disk: give the space back
    if e.filename is None:  # Keras' zip writer names no file: name the target
      raise OSError(e.errno, e.strerror, target) from e
    raise
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
