"""Atomic text/JSON writes shared by the semantic binaries (temp file in the same dir, then os.replace)."""

import json
import os
import tempfile
from typing import Any, Dict

import numpy as np


def atomic_write_text(path: str, text: str) -> None:
  """Writes `text` to `path` through a temp file in the same directory + os.replace."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


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
  """np.save through a temp file in the same directory + os.replace."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".npy")
  try:
    with os.fdopen(fd, "wb") as f:
      np.save(f, array)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
