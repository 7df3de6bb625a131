"""Atomic file writes and file hashing shared by the library and data_prep.

Every output of the toolkit is written to a temp file in the destination directory
and renamed over the target (`os.replace`), so a crash never leaves a partial file.
"""

import hashlib
import os
import tempfile


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


def file_sha256(path: str) -> str:
  """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()
