"""emotion_tf.util.fileio: output-path checks, content records, directory locks (no TensorFlow)."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

from emotion_tf.util import fileio


def test_check_output_dir_and_file(tmp_path):
  fileio.check_output_dir(str(tmp_path / "new" / "deeper"))  # creatable: fine
  blocker = tmp_path / "blocker"
  blocker.write_text("x")
  with pytest.raises(
    fileio.OutputPathError, match=f"{blocker}/a/b: cannot create the directory, {blocker} is a file"
  ):
    fileio.check_output_dir(str(blocker / "a" / "b"))
  with pytest.raises(fileio.OutputPathError, match="is a file, not a directory"):
    fileio.check_output_dir(str(blocker))
  fileio.check_output_file(str(tmp_path / "new" / "w.vec"))
  with pytest.raises(fileio.OutputPathError, match=f"{blocker} is a file"):
    fileio.check_output_file(str(blocker / "w.vec"))
  with pytest.raises(fileio.OutputPathError, match="is a directory, expected a file name"):
    fileio.check_output_file(str(tmp_path))
  assert not (tmp_path / "new").exists()  # checks create nothing


def test_content_record_fast_path_hash_path_and_changes(tmp_path, monkeypatch):
  path = tmp_path / "labels.csv"
  path.write_bytes(b"a;0.0;0.1;0.2;0.3\n")
  record = fileio.content_record(str(path))
  assert record["size"] == 18 and record["sha256"] == fileio.file_sha256(str(path))
  real_sha = fileio.file_sha256
  calls = []
  monkeypatch.setattr(fileio, "file_sha256", lambda p: calls.append(p) or real_sha(p))
  assert fileio.content_unchanged(record, str(path)) == (True, record)
  assert calls == []  # same size and mtime: the file is not read
  st = os.stat(path)
  os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, same bytes
  same, refreshed = fileio.content_unchanged(record, str(path))
  assert same and refreshed["mtime_ns"] == st.st_mtime_ns + 10**9 and len(calls) == 1
  path.write_bytes(b"a;0.0;0.9;0.2;0.3\n")  # same size, other bytes
  assert not fileio.content_unchanged(refreshed, str(path))[0]
  path.write_bytes(b"a;0.0;0.1;0.2;0.3;\n")  # other size: no hash needed
  assert not fileio.content_unchanged(record, str(path))[0]
  os.remove(path)
  assert not fileio.content_unchanged(record, str(path))[0]
  assert fileio.content_record(str(path)) is None
  assert fileio.content_unchanged(None, str(path)) == (True, None)  # still missing
  path.write_bytes(b"new")
  assert not fileio.content_unchanged(None, str(path))[0]  # appeared since


def _holder(directory, name, pid, settings, host=None, proc_start="auto"):
  path = os.path.join(directory, ".lock-" + name)
  start = fileio._process_start_time(pid) if proc_start == "auto" else proc_start
  with open(path, "w", encoding="utf-8") as f:
    json.dump(
      {
        "pid": pid,
        "host": host or socket.gethostname(),
        "proc_start": start,
        "started": "2026-01-01T00:00:00Z",
        "settings": settings,
      },
      f,
    )
  return path


@pytest.fixture()
def dead_pid():
  p = subprocess.Popen([sys.executable, "-c", "pass"])
  p.wait()
  return p.pid


def test_lock_acquire_release_and_conflicts(tmp_path, dead_pid):
  d = str(tmp_path)
  lock = fileio.DirLock(d, "a", "s1")
  with lock:
    content = json.loads(pathlib.Path(lock.path).read_text(encoding="utf-8"))
    assert content["pid"] == os.getpid() and content["settings"] == "s1"
    with pytest.raises(
      fileio.LockError, match=f"another writer holds {lock.path} \\(pid {os.getpid()} on host"
    ):
      fileio.DirLock(d, "a", "s1").acquire()
    with fileio.DirLock(d, "b", "s1"):  # another slice, same settings: allowed
      pass
    with pytest.raises(fileio.LockError, match="another writer with different settings"):
      fileio.DirLock(d, "c", "s2").acquire()
    assert sorted(os.listdir(d)) == [".lock-a"]  # the refused ones left nothing
  assert os.listdir(d) == []


def test_stale_locks_removed_live_or_remote_kept(tmp_path, dead_pid, caplog):
  d = str(tmp_path)
  _holder(d, "a", dead_pid, "other")
  _holder(d, "b", os.getpid(), "other", proc_start="1")  # pid reused by another process
  with caplog.at_level("WARNING"), fileio.DirLock(d, "a", "mine"):
    assert os.listdir(d) == [".lock-a"]
  assert f"pid {dead_pid}" in caplog.text and "stale lock" in caplog.text
  remote = _holder(d, "r", 12345, "other", host="elsewhere.example")
  with pytest.raises(fileio.LockError, match="pid 12345 on host elsewhere.example"):
    fileio.DirLock(d, "a", "mine").acquire()
  assert os.listdir(d) == [os.path.basename(remote)]  # cannot be checked from here: kept
