"""Atomic file writes and file hashing shared by the library and data_prep.

Every output of the toolkit is written to a temp file in the destination directory
and renamed over the target (`os.replace`), so a crash never leaves a partial file.
"""

import hashlib
import io
import json
import os
import tempfile
from typing import Any

import numpy as np


def atomic_write(path: str, data: bytes) -> None:
  """Writes `data` to `path` via a temp file in the same directory + os.replace."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def atomic_write_text(path: str, text: str) -> None:
  """UTF-8 `text` with '\\n' newlines, written atomically (see `atomic_write`)."""
  atomic_write(path, text.encode("utf-8"))


def json_safe(x: Any) -> Any:
  """JSON-ready copy of `x`: numpy scalars/arrays -> Python numbers/lists, tuples -> lists,
  NaN/inf -> None (the one NaN policy: every JSON the toolkit writes is valid JSON)."""
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


def to_json(data: Any, indent: int = 2) -> str:
  """`data` as JSON text (sorted keys, `json_safe`, other objects by str(), final newline)."""
  return json.dumps(json_safe(data), indent=indent, sort_keys=True, default=str,
                    allow_nan=False) + "\n"


def write_json(path: str, data: Any, indent: int = 2) -> None:
  """Writes `to_json(data)` atomically to `path` (the toolkit's one JSON writer)."""
  atomic_write_text(path, to_json(data, indent))


def atomic_save_npy(path: str, array: np.ndarray) -> None:
  """np.save of `array` written atomically."""
  buffer = io.BytesIO()
  np.save(buffer, array)
  atomic_write(path, buffer.getvalue())


def file_sha256(path: str) -> str:
  """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()
