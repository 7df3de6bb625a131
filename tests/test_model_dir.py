"""emotion_tf.model.model_dir: saving models into a model directory."""

import os
import socket
import subprocess
import sys

import keras
import numpy as np

from emotion_tf.model import model_dir as model_dir_lib

# --- model_dir.save_keras: partial saves of killed writers ------------------------------------


def test_save_keras_removes_partial_saves_of_dead_writers_only(tmp_path):
  """A `.tmp-<host>-<pid>-best.keras` of a process that no longer runs (killed mid-save) is
  removed by the next save; a live writer's temp and another host's are left alone."""
  dead = subprocess.run(
    [sys.executable, "-c", "import os; print(os.getpid())"],
    capture_output=True,
    text=True,
    check=True,
  )
  dead_pid = int(dead.stdout)
  host = socket.gethostname()
  stale = tmp_path / f".tmp-{host}-{dead_pid}-best.keras"
  live = tmp_path / f".tmp-{host}-{os.getpid()}-last.keras"
  other_host = tmp_path / f".tmp-{host}x-{dead_pid}-best.keras"
  for path in (stale, live, other_host):
    path.write_bytes(b"partial zip")
  model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
  model_dir_lib.save_keras(model, str(tmp_path), model_dir_lib.BEST)
  assert not stale.exists()
  assert live.exists() and other_host.exists()
  reloaded = keras.models.load_model(str(tmp_path / "best.keras"))
  x = np.ones((1, 3), np.float32)
  np.testing.assert_allclose(reloaded(x), model(x), rtol=1e-6)
  assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
    ["best.keras", live.name, other_host.name]
  )
