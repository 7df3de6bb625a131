"""JSON / .npy outputs of the semantic binaries, written atomically via emotion_tf.fileio."""

import io
import json
from typing import Any, Dict

import numpy as np

from emotion_tf import fileio

atomic_write_text = fileio.atomic_write_text


def json_safe(x: Any) -> Any:
  """Converts numpy scalars/arrays to Python numbers/lists and NaN/inf to None."""
  if isinstance(x, dict):
    return {str(k): json_safe(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [json_safe(v) for v in x]
  if isinstance(x, np.ndarray):
    return json_safe(x.tolist())
  if isinstance(x, (bool, np.bool_)):
    return bool(x)
  if isinstance(x, np.integer):
    return int(x)
  if isinstance(x, (float, np.floating)):
    return float(x) if np.isfinite(x) else None
  return x


def write_json(path: str, payload: Dict) -> None:
  """Atomic JSON write (indented, sorted keys, NaN/inf as null)."""
  atomic_write_text(path, json.dumps(json_safe(payload), indent=2, sort_keys=True))


def atomic_save_npy(path: str, array: np.ndarray) -> None:
  """np.save of `array` written atomically."""
  buffer = io.BytesIO()
  np.save(buffer, array)
  fileio.atomic_write(path, buffer.getvalue())
