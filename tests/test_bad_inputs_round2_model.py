"""Bad-input catalogue, round two, model side (locks, leftovers, full disk, fail-open guards).

A lock per model directory (train) and per output (export, evaluate); staging directories of
killed exports removed by the next export; a full disk or an unwritable path as one line with
exit 1 and a rerun that resumes; NaN/inf config values refused before anything is created; the
notebook API's shape / sampling-rate / file checks; a corrupt config.json refused instead of
skipping the embedding-space checks. Every case asserts the exit code (or the exception), the
named file/flag/problem, and that nothing good was lost. Cases that need root-only tricks (a
small tmpfs, `setpriv` to drop privileges) skip when those are not available.
"""

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from data_fixtures import (
  tiny_corpus,  # noqa: F401
  tiny_tfrecords,  # noqa: F401
  tiny_vec,  # noqa: F401
)
from test_bad_inputs_model import (
  env,  # noqa: F401
  latest_backup_step,
  run_binary,
  tree,
)

from emotion_tf.util import fileio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--lstm_units", "8", "--fusion_units", "8"]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def dead_pid():
  """The pid of a process that has exited (as a killed writer's)."""
  proc = subprocess.run(
    [sys.executable, "-c", "import os; print(os.getpid())"],
    capture_output=True,
    text=True,
    check=True,
  )
  return int(proc.stdout)


def train_args(data_dir, model_dir, *extra):
  return [
    "--data_dir",
    data_dir,
    "--model_dir",
    model_dir,
    "--batch_size",
    "2",
    "--eval_partition",
    "",
    "--semantic_dim",
    "8",
    "--seed",
    "3",
    *SMALL,
    *extra,
  ]


def one_line_error(proc, needle):
  """The stderr line starting with 'error: ' that contains `needle`; asserts no traceback."""
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ") and needle in ln]
  assert lines, proc.stderr[-3000:]
  return lines[0]


@contextlib.contextmanager
def small_tmpfs(path, size="2m"):
  """Mounts a tmpfs of `size` at `path` (root only), unmounted at exit; skips when mount is
  not permitted."""
  os.makedirs(path, exist_ok=True)
  mounted = subprocess.run(
    ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
    capture_output=True,
    text=True,
    check=False,
  )
  if mounted.returncode != 0:
    pytest.skip(f"cannot mount a tmpfs ({mounted.stderr.strip()[:200]})")
  try:
    yield path
  finally:
    subprocess.run(["umount", "-l", path], check=False)


def world_readable_dir():
  """A new directory under /tmp that an unprivileged user can read (pytest's are 0700)."""
  path = tempfile.mkdtemp(prefix="emotion_tf_nobody_", dir="/tmp")
  os.chmod(path, 0o755)
  return path


def can_drop_privileges():
  if os.geteuid() != 0 or not shutil.which("setpriv"):
    return False
  probe = subprocess.run(
    NOBODY + [sys.executable, "-c", "import emotion_tf"],
    cwd=ROOT,
    env=dict(os.environ, PYTHONPATH=ROOT),
    capture_output=True,
    check=False,
  )
  return probe.returncode == 0


# --------------------------------------------------------------------- one writer per model dir

HOLD_LOCK = """
import sys, time
from emotion_tf.util import fileio
fileio.DirLock(sys.argv[1], sys.argv[2], sys.argv[3], prefix=sys.argv[4]).acquire()
print("held", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def lock_held_by_helper(directory, name, settings, prefix):
  """A live helper process holding `DirLock(directory, name, settings, prefix)`."""
  proc = subprocess.Popen(
    [sys.executable, "-c", HOLD_LOCK, directory, name, settings, prefix],
    cwd=ROOT,
    env=dict(os.environ, PYTHONPATH=ROOT),
    stdout=subprocess.PIPE,
    text=True,
  )
  try:
    assert proc.stdout.readline().strip() == "held"
    yield proc
  finally:
    proc.kill()
    proc.wait()


def test_second_train_on_a_locked_model_dir_exits_2_then_stale_lock_is_removed(env, tmp_path):  # noqa: F811
  """A live run holds the model dir: `train` exits 2 naming the holder (pid, host, start) and
  changes nothing; once that process is gone its lock is stale and the next run takes it."""
  from emotion_tf.training import train_lib

  model_dir = str(tmp_path / "model")
  shutil.copytree(env["model_dir"], model_dir)
  before = tree(model_dir)
  with lock_held_by_helper(model_dir, "local", "train", ".lock-train.") as holder:
    proc = run_binary(
      "emotion_tf.train",
      train_args(env["data_dir"], model_dir, "--epochs", "2", "--steps_per_epoch", "1"),
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = one_line_error(proc, f"pid {holder.pid} on host {socket.gethostname()}, started ")
    assert f"{model_dir}/.lock-train.local" in line and "another `emotion_tf.train`" in line
    lock = os.path.join(model_dir, ".lock-train.local")
    assert {k: v for k, v in tree(model_dir).items() if k != ".lock-train.local"} == before
  assert os.path.exists(lock)  # SIGKILLed holder: its lock is left behind
  import tensorflow as tf

  strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
  with contextlib.ExitStack() as stack:
    taken = train_lib.model_dir_lock(model_dir, strategy)  # stale: removed, then taken
    stack.callback(taken.release)
    with open(lock, encoding="utf-8") as f:
      assert json.load(f)["pid"] == os.getpid()
    with pytest.raises(train_lib.TrainingSetupError, match=f"pid {os.getpid()} on host"):
      train_lib.model_dir_lock(model_dir, strategy)  # and it is live now
  assert not os.path.exists(lock)
  assert tree(model_dir) == before


def test_resumed_training_removes_partial_saves_of_a_killed_run(env, tmp_path):  # noqa: F811
  """What a run killed mid-save leaves in the model dir (TensorFlow's `ckpt-<n>_temp/`, a
  `.tmp-<host>-<pid>-` Keras/JSON temp of a dead process) is removed by the resumed run; a
  live process's temp stays; the finished checkpoints are resumed from."""
  import tensorflow as tf

  from emotion_tf.training import train_lib

  model_dir = str(tmp_path / "model")
  shutil.copytree(env["model_dir"], model_dir)
  step = latest_backup_step(model_dir)
  host, dead = socket.gethostname(), dead_pid()
  # saves the rerun does not repeat (it stops earlier): TensorFlow would never remove them
  partial = [
    os.path.join(model_dir, "backup", f"ckpt-{step + 5}_temp"),
    os.path.join(model_dir, "checkpoints", f"epoch-{step + 5}_temp"),
  ]
  for d in partial:
    os.makedirs(d)
    with open(os.path.join(d, "part-00000-of-00001.data-00000-of-00001"), "wb") as f:
      f.write(b"x" * 4096)
  stale = os.path.join(model_dir, f".tmp-{host}-{dead}-last.keras")
  live = os.path.join(model_dir, f".tmp-{host}-{os.getpid()}-best.keras")
  for path in (stale, live):
    with open(path, "wb") as f:
      f.write(b"partial zip")
  config = train_lib.TrainConfig(
    data_dir=env["data_dir"],
    model_dir=model_dir,
    epochs=2,
    batch_size=2,
    steps_per_epoch=1,
    eval_partition="devel",
    seed=1,
  )
  result = train_lib.train(
    config, env["small"], strategy=tf.distribute.MirroredStrategy(["/cpu:0"])
  )
  assert result["resumed_from_step"] == step and result["global_step"] == step + 1
  assert not [p for p in partial + [stale] if os.path.exists(p)]
  assert os.path.exists(live)
  assert latest_backup_step(model_dir) == step + 1


def test_export_and_evaluate_refuse_a_live_writer_of_their_output(env, tmp_path):  # noqa: F811
  from emotion_tf.serving import export_lib
  from emotion_tf.training import evaluate_lib

  out = str(tmp_path / "export")
  shutil.copytree(env["export_dir"], out)
  with (
    export_lib.export_lock(out),
    pytest.raises(
      export_lib.ExportError, match=f"another writer holds .*pid {os.getpid()} on host"
    ),
  ):
    export_lib.export_from_model_dir(env["model_dir"], out, force=True)
  assert tree(out) == env["export_tree"]
  assert sorted(os.listdir(tmp_path)) == ["export"]  # lock released, no staging left
  ev_out = str(tmp_path / "evaluation")
  with (
    fileio.DirLock(ev_out, "run", "evaluate", prefix=".lock-evaluate."),
    pytest.raises(ValueError, match="another `emotion_tf.evaluate` is writing this --out"),
  ):
    evaluate_lib.run_evaluation(
      env["model_dir"], env["data_dir"], ["devel"], out_dir=ev_out, plots=False
    )
  assert os.listdir(ev_out) == []
  summary = evaluate_lib.run_evaluation(
    env["model_dir"], env["data_dir"], ["devel"], out_dir=ev_out, plots=False
  )
  assert summary["partitions"]["devel"]["ccc_mean"] is not None
  assert not [n for n in os.listdir(ev_out) if n.startswith(".lock")]


# --------------------------------------------------------------- staging of killed exports


def test_next_export_removes_staging_of_killed_exports(env, tmp_path):  # noqa: F811
  """Staging dirs named `.new|.old|.tmp-<host>-<pid>-<out>-*` of a dead process are removed by
  the next export to that --out; a live process's, another --out's and another host's stay;
  a previous export stranded in a killed swap's `.old-` dir is put back first."""
  from emotion_tf.serving import export_lib

  out = str(tmp_path / "export")
  host, dead = socket.gethostname(), dead_pid()
  stale = [f".new-{host}-{dead}-export-k1l2m3", f".tmp-{host}-{dead}-export-x_9y8z"]
  kept = [
    f".new-{host}-{os.getpid()}-export-live12",
    f".new-{host}-{dead}-export-2-other1",
    f".new-{host}x-{dead}-export-other2",
  ]
  for name in stale + kept:
    os.makedirs(tmp_path / name / "export" / "variables")
    (tmp_path / name / "export" / "variables" / "variables.data").write_bytes(b"x" * 1000)
  stranded = tmp_path / f".old-{host}-{dead}-export-abc123"
  os.makedirs(stranded)
  shutil.copytree(env["export_dir"], stranded / "export")  # --out itself is missing
  meta, exported = export_lib.export_from_model_dir(env["model_dir"], out)
  assert not exported  # the restored export is already the model's: kept
  assert tree(out) == env["export_tree"]
  assert sorted(os.listdir(tmp_path)) == sorted(kept + ["export"])
  assert meta["source"]["sha256"] == fileio.file_sha256(
    os.path.join(env["model_dir"], "best.keras")
  )


def test_export_staging_names_carry_host_and_pid(tmp_path):
  """What the cleanup relies on: every staging prefix of an export is the owned-temp prefix
  of this process (`fileio.owned_temp_prefix`) plus the --out's name."""
  from emotion_tf.serving import export_lib

  for kind in ("new", "old", "tmp"):
    prefix = export_lib._staging_prefix(kind, str(tmp_path / "out"))
    assert prefix == f".{kind}-{socket.gethostname()}-{os.getpid()}-out-"
    made = tempfile.mkdtemp(dir=tmp_path, prefix=prefix)
    assert fileio.stale_temps(str(tmp_path), (kind,)) == []  # this process: alive
    os.rmdir(made)


# --------------------------------------------------------------- full disk, unwritable paths


def test_train_on_a_full_disk_is_one_line_exit_1_and_the_rerun_resumes(env, tmp_path):  # noqa: F811
  """Training into a 2 MiB tmpfs: exit 1, one line naming a path on it and the space left, no
  traceback; the checkpoints written before are intact and, with room, the rerun resumes."""
  mount = str(tmp_path / "small")
  with small_tmpfs(mount, "2m"):
    model_dir = os.path.join(mount, "model")
    args = train_args(
      env["data_dir"],
      model_dir,
      "--epochs",
      "400",
      "--steps_per_epoch",
      "1",
      "--backup_every_steps",
      "1",
    )
    full = run_binary("emotion_tf.train", args)
    assert full.returncode == 1, full.stderr[-3000:]
    line = one_line_error(full, "no space left on device")
    assert f"{mount}/" in line and "free of 2.0 MiB on that file system" in line, line
    assert "rerun the same command" in line
    step = latest_backup_step(model_dir)
    assert step >= 1
    subprocess.run(["mount", "-o", "remount,size=64m", mount], check=True)
    resumed = run_binary("emotion_tf.train", [a if a != "400" else str(step + 2) for a in args])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr
    assert latest_backup_step(model_dir) == step + 2


def test_writer_on_a_full_disk_is_one_line_exit_1_and_the_rerun_resumes(
  tiny_corpus,  # noqa: F811
  tiny_vec,  # noqa: F811
  tiny_tfrecords,  # noqa: F811
  tmp_path,
):
  """`data_prep.write_tfrecords` into a 2 MiB tmpfs (one recording is ~2 MiB): exit 1, one
  'error:' line naming the path and the space left; with room the rerun writes the same
  shards as a writer that never ran out of space."""
  mount = str(tmp_path / "small")
  with small_tmpfs(mount, "2m"):
    out = os.path.join(mount, "tfr")
    args = [
      "--corpus",
      tiny_corpus,
      "--embeddings",
      tiny_vec[0],
      "--out",
      out,
      "--word_timings",
      os.path.join(tiny_corpus, "word_timings"),
      "--num_workers",
      "1",
      "--records_per_shard",
      "1",
    ]
    full = run_binary("data_prep.write_tfrecords", args)
    assert full.returncode == 1, full.stderr[-3000:]
    line = one_line_error(full, "no space left on device")
    assert f"{out}/" in line and "free of 2.0 MiB on that file system" in line, line
    subprocess.run(["mount", "-o", "remount,size=64m", mount], check=True)
    again = run_binary("data_prep.write_tfrecords", args)
    assert again.returncode == 0, again.stderr[-3000:]
    shards = sorted(n for n in os.listdir(tiny_tfrecords[0]) if n.endswith(".tfrecord"))
    assert sorted(n for n in os.listdir(out) if n.endswith(".tfrecord")) == shards
    for name in shards:
      assert fileio.file_sha256(os.path.join(out, name)) == fileio.file_sha256(
        os.path.join(tiny_tfrecords[0], name)
      ), name


def test_predict_into_a_full_disk_is_one_line_exit_1(env, tmp_path):  # noqa: F811
  """`predict --out` on a full tmpfs: exit 1 with one line naming the CSV and the space left
  (not one 'failed' line per file); with room again the same command writes it."""
  mount = str(tmp_path / "small")
  with small_tmpfs(mount, "1m"):
    filler = os.path.join(mount, "filler")
    with open(filler, "wb") as f, pytest.raises(OSError):
      while True:
        f.write(b"x" * 65536)
        f.flush()
    out = os.path.join(mount, "Rec_01.csv")
    args = ["--model", env["export_dir"], "--audio", env["wav"], "--out", out]
    full = run_binary("emotion_tf.predict", args)
    assert full.returncode == 1, full.stderr[-3000:]
    line = one_line_error(full, "no space left on device")
    assert line.startswith(f"error: {mount}/") and "free of 1.0 MiB" in line, line
    assert os.listdir(mount) == ["filler"]  # no partial CSV, no temp
    os.remove(filler)
    again = run_binary("emotion_tf.predict", args)
    assert again.returncode == 0, again.stderr[-3000:]
    with open(out, encoding="utf-8") as f:
      assert len(f.read().splitlines()) == 15  # 1.5 s: 15 frames


@pytest.mark.skipif(not can_drop_privileges(), reason="needs root and setpriv")
def test_unwritable_checkpoint_dir_is_one_line_exit_1_unreadable_wav_names_the_file(env):  # noqa: F811
  """Run as an unprivileged user (setpriv): training whose backup/ directory it may not write
  exits 1 with one line naming that directory; the rerun by its owner finishes. `predict` of
  a wav it may not read exits 2 naming the file and the reason."""
  scratch = world_readable_dir()
  try:
    data = os.path.join(scratch, "data")
    shutil.copytree(env["data_dir"], data)
    export = os.path.join(scratch, "export")
    shutil.copytree(env["export_dir"], export)
    for d, _, _ in os.walk(scratch):
      os.chmod(d, 0o755)
    home = os.path.join(scratch, "home")
    model_dir = os.path.join(scratch, "model")
    for d in (home, model_dir):
      os.makedirs(d)
      os.chmod(d, 0o777)
    os.makedirs(os.path.join(model_dir, "backup"))  # root's, 0755: not writable for nobody
    env_vars = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT, HOME=home)
    args = ["-m", "emotion_tf.train"] + train_args(
      data, model_dir, "--epochs", "2", "--steps_per_epoch", "1"
    )
    denied = subprocess.run(
      NOBODY + [sys.executable] + args,
      cwd=ROOT,
      env=env_vars,
      capture_output=True,
      text=True,
      timeout=300,
      check=False,
    )
    assert denied.returncode == 1, denied.stderr[-3000:]
    line = one_line_error(denied, "permission denied")
    assert f"{model_dir}/backup" in line and "make it accessible" in line, line
    owner = subprocess.run(
      [sys.executable] + args,
      cwd=ROOT,
      env=env_vars,
      capture_output=True,
      text=True,
      timeout=300,
      check=False,
    )
    assert owner.returncode == 0, owner.stderr[-3000:]
    assert latest_backup_step(model_dir) == 2
    locked = os.path.join(scratch, "locked.wav")
    shutil.copyfile(env["wav"], locked)
    os.chmod(locked, 0)
    unreadable = subprocess.run(
      NOBODY
      + [
        sys.executable,
        "-m",
        "emotion_tf.predict",
        "--model",
        export,
        "--audio",
        locked,
        "--out",
        os.path.join(home, "out.csv"),
      ],
      cwd=ROOT,
      env=env_vars,
      capture_output=True,
      text=True,
      timeout=300,
      check=False,
    )
    assert unreadable.returncode == 2, unreadable.stderr[-3000:]
    one_line_error(unreadable, f"{locked}: cannot read the audio file (Permission denied)")
    assert not os.path.exists(os.path.join(home, "out.csv"))
  finally:
    shutil.rmtree(scratch, ignore_errors=True)


def test_write_failure_messages_of_tensorflow_errors(tmp_path):
  """TensorFlow's file errors carry no errno: the words and the path of their message decide
  (a checkpoint save's ResourceExhaustedError, a summary writer's PermissionDeniedError)."""
  import tensorflow as tf

  from emotion_tf.util import cli

  path = str(tmp_path / "backup" / "ckpt-3_temp" / "part-00000")
  node = (
    "{{function_node __wrapped__SaveV2_dtypes_8_device_/job:localhost/replica:0/task:0/"
    "device:CPU:0}}"
  )  # device names look like paths: not named
  full = tf.errors.ResourceExhaustedError(
    None, None, f"{node} {path}; No space left on device [Op:SaveV2]"
  )
  line = cli.write_failure(full)
  assert line.startswith(f"{path}: no space left on device (")
  assert "MiB free of" in line
  denied = tf.errors.PermissionDeniedError(None, None, f"{path}; Permission denied")
  assert cli.write_failure(denied).startswith(f"{path}: permission denied; make it accessible")
  wrapped = RuntimeError("saving failed")
  wrapped.__cause__ = OSError(28, "No space left on device", str(tmp_path / "x"))
  assert cli.write_failure(wrapped).startswith(f"{tmp_path}/x: no space left on device")
  assert cli.write_failure(ValueError("bad value")) is None
  assert cli.write_failure(FileNotFoundError(2, "No such file", "/x")) is None


# ------------------------------------------------------------------ NaN/inf config values


def test_nan_learning_rate_is_refused_before_the_model_dir_exists(env, tmp_path):  # noqa: F811
  model_dir = str(tmp_path / "model")
  proc = run_binary(
    "emotion_tf.train", train_args(env["data_dir"], model_dir, "--learning_rate", "nan")
  )
  assert proc.returncode == 2, proc.stderr[-3000:]
  one_line_error(proc, "--learning_rate: nan is not a finite number (TrainConfig.learning_rate)")
  assert not os.path.exists(model_dir)


@pytest.mark.parametrize(
  "cls_name,layers,needle",
  [
    ("TrainConfig", [{"learning_rate": float("inf")}], "--learning_rate: inf"),
    ("TrainConfig", [{}, {"clip_norm": "-inf"}], "--clip_norm: -inf"),  # an override string
    ("ModelConfig", [{"dropout": float("nan")}], "--dropout: nan"),
    ("EvalConfig", [{}], None),
  ],
)
def test_every_float_config_field_must_be_finite(cls_name, layers, needle):
  from emotion_tf.model.models import ModelConfig
  from emotion_tf.training import evaluate_lib, train_lib
  from emotion_tf.util import config as config_lib

  cls = {
    "TrainConfig": train_lib.TrainConfig,
    "ModelConfig": ModelConfig,
    "EvalConfig": evaluate_lib.EvalConfig,
  }[cls_name]
  if needle is None:
    assert config_lib.build(cls, *layers) == cls()
    return
  with pytest.raises(config_lib.ConfigError, match=f"^{needle} is not a finite number"):
    config_lib.build(cls, *layers)
  finite = {k: 0.25 for layer in layers for k in layer}
  assert getattr(config_lib.build(cls, finite), next(iter(finite))) == 0.25


# --------------------------------------------------------------- corrupt model-dir config.json


@pytest.mark.parametrize("content", ['{"model": {', "[1, 2]", "directory"])
def test_corrupt_config_json_is_an_error_not_a_skipped_check(env, tmp_path, content):  # noqa: F811
  """An unreadable or corrupt config.json made the embedding-space checks of resume
  and export pass silently; now both refuse it, naming the file, and change nothing."""
  from emotion_tf.serving import export_lib
  from emotion_tf.training import train_lib

  model_dir = str(tmp_path / "model")
  shutil.copytree(env["model_dir"], model_dir)
  config = os.path.join(model_dir, "config.json")
  os.remove(config)
  if content == "directory":
    os.makedirs(config)
  else:
    with open(config, "w", encoding="utf-8") as f:
      f.write(content)
  before = tree(model_dir)
  with open(os.path.join(env["model_dir"], "config.json"), encoding="utf-8") as f:
    recorded = json.load(f)["embeddings"]
  with pytest.raises(train_lib.TrainingSetupError, match=f"^{config}"):
    train_lib.check_same_embeddings(model_dir, recorded)
  with pytest.raises(export_lib.ExportError, match=f"^{config}"):
    export_lib.model_dir_embeddings(model_dir)
  if content == "[1, 2]":  # the binary: exit 2, nothing exported
    out = str(tmp_path / "export")
    proc = run_binary("emotion_tf.export", ["--model_dir", model_dir, "--out", out])
    assert proc.returncode == 2, proc.stderr[-3000:]
    one_line_error(proc, f"{config}: the model directory's run config is not a JSON object")
    assert not os.path.exists(out)
  assert tree(model_dir) == before
  assert sorted(os.listdir(tmp_path)) == ["model"]


# ------------------------------------------------------------- predict: signal, rate, files


@pytest.fixture(scope="module")
def predictor(env):  # noqa: F811
  from emotion_tf.serving import predict_api

  return predict_api.load(env["export_dir"])


def test_notebook_api_refuses_many_channels_and_bad_sampling_rates(predictor):
  from emotion_tf.serving import predict_api

  with pytest.raises(
    ValueError,
    match=r"signal of shape \(3000, 4000\): a 2-D signal is "
    r"\[samples, channels\] .* at most 16 channels",
  ):
    predictor.predict(np.zeros((3000, 4000), np.float32), 16000)
  with pytest.raises(ValueError, match="at most 16 channels"):
    predict_api.to_mono_float32(np.zeros((4000, 17), np.float32))
  rng = np.random.default_rng(1)
  many = rng.normal(scale=0.1, size=(16000, 16)).astype(np.float32)  # 16 channels: allowed
  np.testing.assert_allclose(predict_api.to_mono_float32(many), many.mean(axis=1), atol=1e-7)
  for rate in (float("nan"), float("inf"), 0, -16000, 22050.5, "fast", None):
    with pytest.raises(
      ValueError, match=f"sampling_rate must be a positive whole number of Hz, got {rate!r}"
    ):
      predictor.predict(many, rate)
  assert predict_api.check_sampling_rate(16000.0) == 16000
  assert len(predictor.predict(many, 16000.0)["time"]) == 10


def test_predict_warns_when_every_word_lies_after_the_audio(predictor, caplog):
  from emotion_tf.data.word_timings import WordTiming

  words = ["w1", "w2"]
  vectors = np.ones((2, 8), np.float32)
  audio = np.zeros(16000, np.float32)  # 1.0 s: 10 frames
  late = [WordTiming(1.0, 1.4, "w1"), WordTiming(3.0, 3.5, "w2")]
  with caplog.at_level(logging.WARNING):
    predictor.predict(audio, 16000, word_timings=late, embeddings=(words, vectors))
  assert (
    "signal: all 2 of 2 word timings start at or after the end of the audio (1.00 s); "
    "they are ignored and no frame has a word"
  ) in caplog.text
  assert predictor.last_info["frames_with_word"] == 0
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    predictor.predict(
      audio,
      16000,
      word_timings=[WordTiming(0.2, 0.5, "w1")] + late[1:],
      embeddings=(words, vectors),
    )
  assert "1 of 2 word timings start at or after the end" in caplog.text
  assert "all " not in caplog.text and predictor.last_info["frames_with_word"] == 3


def test_predict_names_a_directory_called_x_wav(env, tmp_path):  # noqa: F811
  """A directory named x.wav among the inputs: one line naming it (exit 1, the other file is
  written); timings lying after the audio warn on the CLI as well."""
  audio = tmp_path / "audio"
  os.makedirs(audio / "x.wav")
  shutil.copyfile(env["wav"], audio / "a.wav")
  timings = tmp_path / "timings"
  os.makedirs(timings)
  for stem in ("a", "x"):
    (timings / f"{stem}.csv").write_text("s0w0;5.0;5.5;hello\n")
  out = tmp_path / "out"
  proc = run_binary(
    "emotion_tf.predict",
    [
      "--model",
      env["export_dir"],
      "--audio",
      str(audio),
      "--word_timings",
      str(timings),
      "--embeddings",
      env["vec"],
      "--out",
      str(out),
    ],
  )
  assert proc.returncode == 1, proc.stderr[-3000:]
  one_line_error(proc, f"{audio}/x.wav: is a directory, not an audio file")
  assert "all 1 of 1 word timings start at or after the end of the audio (1.50 s)" in proc.stderr
  assert os.listdir(out) == ["a.csv"]
  from emotion_tf.serving import predict_api, predict_lib

  with pytest.raises(
    predict_lib.PredictionInputError,
    match=r"x.wav: directory \(a directory named like an audio file\) holds "
    r"no .wav files",
  ):
    predict_api.audio_inputs(str(audio / "x.wav"))  # --audio x.wav itself
