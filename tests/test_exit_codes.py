"""One exit-code convention for every binary (emotion_tf/util/cli.py, README "Exit codes").

Each binary is run in a subprocess twice: with an unknown flag (exit 2, the flag named) and with
a required input missing (exit 2, the flag or file named). The subprocesses run a few at a time
(each one pays the TensorFlow import), all started by one module fixture.
"""

import concurrent.futures
import os

import binary_runner
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXIT_BAD_INPUT = 2
MISSING = "/nonexistent_emotion_tf_input"

BINARIES = (
  "emotion_tf.train",
  "emotion_tf.evaluate",
  "emotion_tf.export",
  "emotion_tf.predict",
  "emotion_tf.ablate",
  "data_prep.synthesize",
  "data_prep.write_tfrecords",
  "data_prep.train_word2vec",
  "data_prep.train_speech2vec",
  "data_prep.align_embeddings",
  "data_prep.align_words",
  "emotion_tf.baseline",
  "data_prep.speak_text",
)


def missing_input_cases(tmp):
  """binary -> (args with a required input missing, text the message must contain)."""
  return {
    "emotion_tf.train": (["--model_dir", f"{tmp}/m"], "--data_dir"),
    "emotion_tf.evaluate": (["--model_dir", f"{tmp}/m"], "--data_dir"),
    "emotion_tf.export": ([], "--model_dir"),
    "emotion_tf.predict": (["--model", f"{tmp}/e"], "--audio"),
    "emotion_tf.ablate": (["--run_dir", MISSING], f"{MISSING}/tfrecords/metadata.json"),
    "data_prep.synthesize": (["--recordings", "0", "--out", f"{tmp}/corpus"], "--recordings"),
    "data_prep.write_tfrecords": (
      ["--corpus", f"{tmp}/c", "--embeddings", f"{MISSING}.vec", "--out", f"{tmp}/tfr"],
      f"{MISSING}.vec",
    ),
    "data_prep.train_word2vec": (
      ["--text", f"{MISSING}.txt", "--out", f"{tmp}/w.vec"],
      f"{MISSING}.txt",
    ),
    "data_prep.train_speech2vec": (["--corpus", MISSING, "--out", f"{tmp}/s2v"], MISSING),
    "data_prep.align_embeddings": (
      ["--speech", f"{MISSING}.vec", "--text", f"{MISSING}.vec", "--out", f"{tmp}/al"],
      f"{MISSING}.vec",
    ),
    "data_prep.align_words": (["--corpus", MISSING], MISSING),
    "emotion_tf.baseline": (["--corpus", MISSING, "--out", f"{tmp}/base"], MISSING),
    "data_prep.speak_text": (
      ["--text", f"{MISSING}.txt", "--out", f"{tmp}/spoken"],
      f"{MISSING}.txt",
    ),
  }


def run_binary(module, args, timeout=240):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  return binary_runner.run_module(module, args, cwd=ROOT, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  """{(binary, case): (CompletedProcess, text to find)} for every binary and case."""
  tmp = str(tmp_path_factory.mktemp("exit_codes"))
  jobs = {}
  for module, (args, needle) in missing_input_cases(tmp).items():
    jobs[(module, "missing_input")] = (args, needle)
    jobs[(module, "unknown_flag")] = (["--no_such_flag_xyz=1"], "no_such_flag_xyz")
  with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    futures = {key: pool.submit(run_binary, key[0], args) for key, (args, _) in jobs.items()}
    return {key: (f.result(), jobs[key][1]) for key, f in futures.items()}


def cases():
  for module in BINARIES:
    for case in ("unknown_flag", "missing_input"):
      yield pytest.param(module, case, id=f"{module}-{case}")


@pytest.mark.parametrize("module,case", list(cases()))
def test_bad_usage_exits_2_and_names_the_problem(results, module, case):
  proc, needle = results[(module, case)]
  output = proc.stdout + proc.stderr
  assert proc.returncode == EXIT_BAD_INPUT, (proc.returncode, output[-2000:])
  assert needle in output, output[-2000:]
  assert "Traceback" not in output, output[-2000:]
