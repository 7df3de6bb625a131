"""`--help` of every binary lists that binary's own flags, in a subprocess."""

import os
import subprocess
import sys

import binary_runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# binary module -> flags it must list in --help
BINARIES = {
  "emotion_tf.train": [
    "--data_dir",
    "--model_dir",
    "--learning_rate",
    "--variant",
    "--config_file",
    "--params_override",
  ],
  "emotion_tf.evaluate": ["--model_dir", "--partitions", "--which"],
  "emotion_tf.export": ["--model_dir", "--force"],
  "emotion_tf.predict": ["--model", "--audio", "--word_timings"],
  "emotion_tf.ablate": ["--run_dir", "--rows"],
  "data_prep.synthesize": ["--out", "--recordings"],
  "data_prep.write_tfrecords": ["--corpus", "--embeddings", "--records_per_shard"],
  "data_prep.train_word2vec": ["--text", "--dim"],
  "data_prep.train_speech2vec": [
    "--corpus",
    "--embedding_dim",
    "--pretrain_corpus",
    "--segments_dir",
  ],
  "data_prep.align_embeddings": ["--speech", "--text"],
  "data_prep.speak_text": ["--text", "--hours", "--voices"],
}


def test_help_lists_the_binarys_own_flags():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  for module, own in BINARIES.items():
    proc = binary_runner.run_module(module, ["--help"], cwd=ROOT, env=env, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, (module, out[-2000:])
    missing = [f for f in own if f"{f}:" not in out and f"]{f[2:]}:" not in out]
    assert not missing, (module, missing, out[-2000:])


def test_console_script_entry_point_help_lists_the_flags():
  """A console script imports the binary as `emotion_tf.evaluate`, not `__main__`."""
  code = (
    "import sys; sys.argv = ['/venv/bin/emotion-tf-evaluate', '--help']; "
    "from emotion_tf.evaluate import console_main; console_main()"
  )
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  r = subprocess.run(
    [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
  )
  assert r.returncode == 0, r.stderr[-2000:]
  out = r.stdout + r.stderr
  for flag in BINARIES["emotion_tf.evaluate"]:
    assert f"{flag}:" in out, (flag, out[-2000:])
