"""Atomic file writes, file hashing, output-path checks and directory locks.

Every output of the toolkit is written to a temp file in the destination directory
and renamed over the target (`os.replace`), so a crash never leaves a partial file.
"""

import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from absl import logging


def atomic_write(path: str, data: bytes) -> None:
  """Writes `data` to `path` via a temp file in the same directory + os.replace.

  The temp is named `owned_temp_prefix('tmp')...`, so the temp of a killed writer can be
  removed by a later run (`remove_stale_temps`).
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=owned_temp_prefix("tmp"))
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
  return (
    json.dumps(json_safe(data), indent=indent, sort_keys=True, default=str, allow_nan=False) + "\n"
  )


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


# ------------------------------------------------------------------ temp files of killed writers


def owned_temp_prefix(kind: str) -> str:
  """'.<kind>-<host>-<pid>-': the name prefix of a temp file/dir of this process.

  A temp named so can be recognised by a later run as left behind by a killed process
  (`remove_stale_temps`): same host, pid no longer running.
  """
  return f".{kind}-{socket.gethostname()}-{os.getpid()}-"


def stale_temps(directory: str, kinds: Sequence[str]) -> list[tuple[str, int, str]]:
  """(path, pid, rest of the name) of the `owned_temp_prefix(kind)` entries of `directory`
  whose process (on this host) is gone; another host's are never listed (cannot be checked)."""
  host = socket.gethostname()
  try:
    entries = sorted(os.listdir(directory))
  except (FileNotFoundError, NotADirectoryError):
    return []
  found = []
  for entry in entries:
    for kind in kinds:
      head = f".{kind}-{host}-"
      if not entry.startswith(head):
        continue
      pid, sep, rest = entry[len(head) :].partition("-")
      if sep and rest and pid.isdigit() and not pid_alive(int(pid)):
        found.append((os.path.join(directory, entry), int(pid), rest))
      break
  return found


def remove_stale_temps(directory: str, kinds: Sequence[str] = ("tmp",)) -> list[str]:
  """Removes the temp files/dirs of `directory` named `owned_temp_prefix(kind)...` whose
  writer (a process of this host) is gone: killed mid-write (SIGKILL, power loss).

  Returns:
    the removed paths (each logged with a warning).
  """
  removed = []
  for path, pid, _ in stale_temps(directory, kinds):
    try:
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      else:
        os.remove(path)
    except FileNotFoundError:
      continue
    logging.warning("%s: removed a partial write left by process %d (no longer running)", path, pid)
    removed.append(path)
  return removed


# --------------------------------------------------------------------------------- output paths


class OutputPathError(ValueError):
  """An output path that cannot be created or written; the message names it and the reason."""


def _first_existing(path: str) -> str:
  """`path` itself or its nearest existing ancestor (absolute)."""
  p = os.path.abspath(path)
  while not os.path.lexists(p):
    parent = os.path.dirname(p)
    if parent == p:
      break
    p = parent
  return p


def check_output_dir(path: str, what: str = "--out") -> None:
  """Checks, before any work, that directory `path` exists or can be created, and is writable.

  Raises:
    OutputPathError: `path` (or one of its ancestors) is a regular file, or the nearest
      existing directory is not writable. Nothing is created.
  """
  if not path:
    raise OutputPathError(f"{what}: no output directory given")
  existing = _first_existing(path)
  if not os.path.isdir(existing):
    if existing == os.path.abspath(path):
      raise OutputPathError(f"{what} {path}: is a file, not a directory")
    raise OutputPathError(f"{what} {path}: cannot create the directory, {existing} is a file")
  if not os.access(existing, os.W_OK | os.X_OK):
    raise OutputPathError(f"{what} {path}: directory {existing} is not writable")


def check_output_file(path: str, what: str = "--out") -> None:
  """Checks, before any work, that file `path` can be written (atomically, beside itself).

  Raises:
    OutputPathError: `path` is a directory, a parent is a regular file, or the directory
      that would hold it is not writable.
  """
  if not path:
    raise OutputPathError(f"{what}: no output file given")
  if os.path.isdir(path):
    raise OutputPathError(f"{what} {path}: is a directory, expected a file name")
  parent = os.path.dirname(os.path.abspath(path))
  existing = _first_existing(parent)
  if not os.path.isdir(existing):
    raise OutputPathError(f"{what} {path}: cannot create its directory, {existing} is a file")
  if not os.access(existing, os.W_OK | os.X_OK):
    raise OutputPathError(f"{what} {path}: directory {existing} is not writable")


# ------------------------------------------------------------------------------ content records


def content_record(path: str) -> dict[str, object] | None:
  """{'path', 'size', 'mtime_ns', 'sha256'} of a file, None when it does not exist.

  The stat is taken before hashing, so a file edited while it is hashed looks changed later.
  """
  try:
    st = os.stat(path)
  except FileNotFoundError:
    return None
  return {
    "path": os.path.abspath(path),
    "size": st.st_size,
    "mtime_ns": st.st_mtime_ns,
    "sha256": file_sha256(path),
  }


def content_unchanged(
  record: dict[str, object] | None, path: str | None
) -> tuple[bool, dict[str, object] | None]:
  """Whether file `path` still holds the content described by `record` (`content_record`).

  Fast path: same path, size and mtime means unchanged, without reading the file; when size
  or mtime differ the SHA-256 decides (a `touch` or a copy with the same bytes is unchanged).

  Returns:
    (unchanged, refreshed record): the refreshed record carries the current stat when only
    the stat changed (store it to keep the fast path fast), else `record` itself.
  """
  if record is None:  # the file did not exist when the record was taken
    return (path is None or not os.path.exists(path)), record
  if path is None:
    return False, record
  if record.get("path") != os.path.abspath(path):
    return False, record
  try:
    st = os.stat(path)
  except FileNotFoundError:
    return False, record
  if st.st_size == record.get("size") and st.st_mtime_ns == record.get("mtime_ns"):
    return True, record
  if st.st_size != record.get("size"):
    return False, record
  if file_sha256(path) != record.get("sha256"):
    return False, record
  return True, {**record, "mtime_ns": st.st_mtime_ns}


# ------------------------------------------------------------------------------- directory lock


class LockError(ValueError):
  """Another live process holds a conflicting lock; the message names the directory and holder."""


def _process_start_time(pid: int) -> str | None:
  """Start time of `pid` in clock ticks since boot (Linux /proc), None where unavailable."""
  try:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
      stat = f.read()
    return stat[stat.rindex(")") + 2 :].split()[19]
  except (OSError, ValueError, IndexError):
    return None


def pid_alive(pid: int) -> bool:
  """Whether process `pid` of this host is running (one of another user counts as running)."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    pass
  return True


def _holder_alive(holder: dict[str, object]) -> bool | None:
  """True/False for a holder on this host (pid alive and the same process), None for another
  host (cannot be checked from here)."""
  if holder.get("host") != socket.gethostname():
    return None
  pid = holder.get("pid")
  if not isinstance(pid, int) or pid <= 0 or not pid_alive(pid):
    return False
  started = holder.get("proc_start")
  return not (started and _process_start_time(pid) not in (None, started))


def describe_holder(holder: dict[str, object]) -> str:
  """'pid 123 on host h, started 2026-01-01T00:00:00Z' from a lock file's content."""
  when = holder.get("started", "?")
  return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started {when}"


class DirLock:
  """An advisory lock on an output directory: one file `<dir>/<prefix><name>` per holder.

  The lock file is created atomically with its content (JSON: pid, host, process start
  time, start date, `settings` digest, command line) by hard-linking a finished temp file,
  which fails when the name exists. A lock whose process is gone (same host, pid dead or
  reused) is stale: it is removed with a warning. Holders of *other* names under the same
  prefix may work beside this one only when their `settings` digest is equal (e.g. machine
  slices of one job); a live holder with other settings is refused, on both sides when two
  start at once.

  Use as a context manager or call `acquire()` / `release()`.
  """

  def __init__(self, directory: str, name: str, settings: str, prefix: str = ".lock-"):
    self.directory = directory
    self.prefix = prefix
    self.path = os.path.join(directory, prefix + name)
    self.settings = settings
    self.held = False

  def _read(self, path: str) -> dict[str, object] | None:
    try:
      with open(path, encoding="utf-8") as f:
        data = json.load(f)
      return data if isinstance(data, dict) else {}
    except FileNotFoundError:
      return None
    except (OSError, ValueError):
      return {}

  def _remove_if_stale(self, path: str, holder: dict[str, object]) -> bool:
    if _holder_alive(holder) is not False:
      return False
    logging.warning(
      "%s: removing a stale lock left by %s (that process is gone)", path, describe_holder(holder)
    )
    with contextlib.suppress(FileNotFoundError):
      os.remove(path)
    return True

  def acquire(self) -> "DirLock":
    """Takes the lock.

    Raises:
      LockError: a live process holds this lock, or another lock of the directory with
        different settings.
    """
    os.makedirs(self.directory, exist_ok=True)
    content = (
      json.dumps(
        {
          "pid": os.getpid(),
          "host": socket.gethostname(),
          "proc_start": _process_start_time(os.getpid()),
          "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
          "settings": self.settings,
          "command": " ".join(sys.argv),
        },
        indent=1,
      )
      + "\n"
    )
    fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-lock-")
    try:
      with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)
      for _ in range(2):
        try:
          os.link(tmp, self.path)
          break
        except FileExistsError:
          holder = self._read(self.path)
          if holder is None or self._remove_if_stale(self.path, holder):
            continue
          raise LockError(
            f"{self.directory}: another writer holds {self.path} ({describe_holder(holder)}); "
            f"wait for it to finish, or delete {self.path} if that process is no longer "
            "running"
          ) from None
      else:
        raise LockError(f"{self.directory}: could not take the lock {self.path}")
    finally:
      os.remove(tmp)
    self.held = True
    try:
      self._check_others()
    except BaseException:
      self.release()
      raise
    return self

  def _check_others(self) -> None:
    for entry in sorted(os.listdir(self.directory)):
      path = os.path.join(self.directory, entry)
      if not entry.startswith(self.prefix) or path == self.path:
        continue
      holder = self._read(path)
      if holder is None or self._remove_if_stale(path, holder):
        continue
      if holder.get("settings") != self.settings:
        raise LockError(
          f"{self.directory}: another writer with different settings is writing this "
          f"directory ({describe_holder(holder)}, lock {path}); two runs with different "
          "settings on one output directory would mix their outputs. Use another "
          f"directory, wait for it to finish, or delete {path} if that process is no "
          "longer running"
        )

  def others_alive(self) -> bool:
    """Whether any other holder of this directory's locks is (or may be) running."""
    for entry in os.listdir(self.directory):
      path = os.path.join(self.directory, entry)
      if entry.startswith(self.prefix) and path != self.path:
        holder = self._read(path)
        if holder is not None and _holder_alive(holder) is not False:
          return True
    return False

  def release(self) -> None:
    if self.held:
      self.held = False
      with contextlib.suppress(FileNotFoundError):
        os.remove(self.path)

  def __enter__(self) -> "DirLock":
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()
