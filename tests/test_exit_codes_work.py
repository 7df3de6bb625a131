"""Exit codes 1 (work failed or incomplete) and 130 (Ctrl-C) of the binaries with long work.

tests/test_exit_codes.py covers exit 2 for every binary; exits 1 and 130 already tested
elsewhere (binary run in a subprocess):

  exit 1    data_prep.write_tfrecords  tests/test_bad_inputs_data.py (a recording fails)
            emotion_tf.evaluate        tests/test_evaluation.py (a partition fails)
            emotion_tf.baseline        tests/test_baseline.py (a recording fails)
            emotion_tf.predict         tests/test_predict_api.py (one input fails)
            data_prep.align_words      tests/test_forced_alignment.py (a recording fails)
  exit 130  data_prep.write_tfrecords  tests/test_bad_inputs_data.py (SIGINT to the pool)
            emotion_tf.train           tests/test_bad_inputs_model.py (SIGINT after a backup)

Added here: exit 1 of emotion_tf.train and emotion_tf.ablate (training diverges) and of
data_prep.train_speech2vec (one unreadable recording among good ones; the rest is written);
exit 130 of emotion_tf.ablate and data_prep.train_speech2vec (SIGINT once work is under way).
The remaining binaries (export, synthesize, train_word2vec, align_embeddings) have no exit-1
path (any failure is a bad input, exit 2), and every binary's Ctrl-C goes through
emotion_tf.util.cli.run (checked below on the source of each binary).
"""

import ast
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import time

import binary_runner
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_TRAIN = ["--lstm_units", "8", "--fusion_units", "8", "--batch_size", "2"]
SMALL_S2V = [
  "--max_frames",
  "60",
  "--encoder_units",
  "8",
  "--embedding_dim",
  "8",
  "--decoder_units",
  "8",
  "--batch_size",
  "16",
  "--noprobe",
]


def env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)


def run_binary(module, args, timeout=300):
  return binary_runner.run_module(module, args, cwd=ROOT, env=env(), timeout=timeout)


def interrupt_when(module, args, ready, log_path, timeout=300):
  """Starts the binary, sends SIGINT once `ready()` is true; returns (returncode, output)."""
  with open(log_path, "w", encoding="utf-8") as log:
    proc = subprocess.Popen(
      [sys.executable, "-m", module] + list(args),
      cwd=ROOT,
      env=env(),
      stdout=log,
      stderr=log,
      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + timeout
    while not ready() and proc.poll() is None and time.time() < deadline:
      time.sleep(0.05)
    assert proc.poll() is None, "the binary finished before it could be interrupted"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=timeout)
  with open(log_path, encoding="utf-8") as f:
    return proc.returncode, f.read()


@pytest.fixture(scope="module")
def results(tiny_corpus, tiny_tfrecords, tmp_path_factory):
  """{case: (returncode, output, out path)}, the subprocesses run two at a time."""
  tmp = str(tmp_path_factory.mktemp("exit_work"))
  data = tiny_tfrecords[0]
  broken = os.path.join(tmp, "corpus_one_bad_wav")
  shutil.copytree(tiny_corpus, broken)
  with open(os.path.join(broken, "audio", "Devel_01.wav"), "wb") as f:
    f.write(b"RIFF\x00\x00\x00\x00not a wave file")
  diverge = ["--optimizer", "sgd", "--learning_rate", "1e30"]
  s2v_args = ["--corpus", broken, "--out", os.path.join(tmp, "s2v_bad"), "--epochs", "1"]
  jobs = {
    "train_diverges": lambda: run_binary(
      "emotion_tf.train",
      [
        "--data_dir",
        data,
        "--model_dir",
        os.path.join(tmp, "diverged"),
        "--epochs",
        "1",
        "--steps_per_epoch",
        "2",
      ]
      + SMALL_TRAIN
      + diverge,
    ),
    "ablate_diverges": lambda: run_binary(
      "emotion_tf.ablate",
      [
        "--data_dir",
        data,
        "--out",
        os.path.join(tmp, "ablate_diverged"),
        "--rows",
        "paralinguistic",
        "--epochs",
        "1",
        "--learning_rate",
        "1e30",
        "--seeds",
        "1",
        "--batch_size",
        "2",
      ],
    ),
    "speech2vec_bad_recording": lambda: run_binary(
      "data_prep.train_speech2vec", s2v_args + SMALL_S2V
    ),
    "speech2vec_sigint": lambda: interrupt_when(
      "data_prep.train_speech2vec",
      ["--corpus", tiny_corpus, "--out", os.path.join(tmp, "s2v_int"), "--epochs", "200"]
      + SMALL_S2V,
      lambda: os.path.exists(os.path.join(tmp, "s2v_int", "normalizer.json")),
      os.path.join(tmp, "s2v_int.log"),
    ),
    "ablate_sigint": lambda: interrupt_when(
      "emotion_tf.ablate",
      [
        "--data_dir",
        data,
        "--out",
        os.path.join(tmp, "ablate_int"),
        "--rows",
        "paralinguistic",
        "--epochs",
        "50",
        "--seeds",
        "1",
      ],
      lambda: os.path.exists(
        os.path.join(tmp, "ablate_int", "paralinguistic", "seed_0", "config.json")
      ),
      os.path.join(tmp, "ablate_int.log"),
    ),
  }
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    futures = {k: pool.submit(job) for k, job in jobs.items()}
    out = {}
    for k, f in futures.items():
      r = f.result()
      out[k] = (r.returncode, r.stdout + r.stderr) if hasattr(r, "returncode") else r
  return out, tmp


@pytest.mark.parametrize(
  "case,needle",
  [
    ("train_diverges", "non-finite loss"),
    ("ablate_diverges", "non-finite loss"),
    ("speech2vec_bad_recording", "1 recording(s) failed"),
  ],
)
def test_work_failed_exits_1(results, case, needle):
  code, output = results[0][case]
  assert code == 1, output[-3000:]
  assert needle in output and "Traceback" not in output, output[-3000:]


def test_speech2vec_writes_the_good_recordings_when_one_fails(results):
  out = os.path.join(results[1], "s2v_bad")
  assert os.path.getsize(os.path.join(out, "speech2vec.vec")) > 0


@pytest.mark.parametrize("case", ["speech2vec_sigint", "ablate_sigint"])
def test_ctrl_c_exits_130_with_one_line(results, case):
  code, output = results[0][case]
  assert code == 130, output[-3000:]
  assert "interrupted: finished outputs are kept" in output, output[-3000:]
  assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]


BINARY_FILES = (
  "emotion_tf/train.py",
  "emotion_tf/evaluate.py",
  "emotion_tf/export.py",
  "emotion_tf/predict.py",
  "emotion_tf/ablate.py",
  "emotion_tf/baseline.py",
  "data_prep/synthesize.py",
  "data_prep/write_tfrecords.py",
  "data_prep/train_word2vec.py",
  "data_prep/train_speech2vec.py",
  "data_prep/align_embeddings.py",
  "data_prep/align_words.py",
  "data_prep/speak_text.py",
)


@pytest.mark.parametrize("path", BINARY_FILES)
def test_every_binary_runs_main_through_cli_run_and_never_swallows_ctrl_c(path):
  """Ctrl-C -> 130 is emotion_tf.util.cli.run's; a binary keeps it only if its entry point calls
  cli.run(main) and every handler of KeyboardInterrupt / BaseException (or bare except) in it
  re-raises."""
  with open(os.path.join(ROOT, path), encoding="utf-8") as f:
    tree = ast.parse(f.read())
  calls = [
    n
    for n in ast.walk(tree)
    if isinstance(n, ast.Call)
    and ast.unparse(n.func) == "cli.run"
    and [ast.unparse(a) for a in n.args] == ["main"]
  ]
  assert calls, f"{path}: no cli.run(main)"
  for handler in (n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler)):
    caught = "" if handler.type is None else ast.unparse(handler.type)
    if handler.type is None or "KeyboardInterrupt" in caught or "BaseException" in caught:
      reraises = any(isinstance(n, ast.Raise) and n.exc is None for n in ast.walk(handler))
      assert reraises, f"{path}:{handler.lineno}: except {caught} does not re-raise"


def test_interrupt_traceback_filter_drops_only_keyboard_interrupts():
  import logging as pylogging

  from emotion_tf.util import cli

  def record(exc):
    try:
      raise exc
    except BaseException:
      info = sys.exc_info()
    return pylogging.LogRecord("tensorflow", pylogging.INFO, __file__, 1, "x", (), info)

  assert not cli.drop_interrupt_tracebacks(record(KeyboardInterrupt()))
  assert cli.drop_interrupt_tracebacks(record(ValueError("kept")))
  plain = pylogging.LogRecord("tensorflow", pylogging.INFO, __file__, 1, "x", (), None)
  assert cli.drop_interrupt_tracebacks(plain)
