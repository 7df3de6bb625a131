"""Why the forced aligner keeps its own numpy MFCC beside Speech2Vec's tf.signal one.

    python bench/mfcc_frontends.py [--seconds 10 --repeats 5]

Speech2Vec's front end (emotion_tf/semantic/mfcc.py, `compute_mfcc`) runs inside TensorFlow
graphs (training, the SavedModel encoder, the exported speech frontend), batched and masked.
The TTS + DTW aligner (data_prep/forced_alignment.py, `mfcc`) compares one sentence of the
user's audio with one espeak-ng rendering, per sentence, in `align_words` worker processes
that never import TensorFlow. Prints, on this machine: the start-up cost of a worker process
that imports numpy + scipy vs one that imports TensorFlow, the time of each front end on
`--seconds` of audio at 22 050 Hz, and the per-sentence figures they imply.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from machine import describe  # noqa: E402


def _startup(code: str, repeats: int) -> float:
  """Median wall seconds of a fresh interpreter running `code`."""
  times = []
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  for _ in range(repeats):
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def _median_time(fn, repeats: int) -> float:
  fn()  # warm-up (TF traces, scipy plans)
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seconds", type=float, default=10.0)
  parser.add_argument("--repeats", type=int, default=5)
  a = parser.parse_args()
  print(describe())
  numpy_start = _startup(
    "import numpy, scipy.fft; from data_prep import forced_alignment", a.repeats
  )
  tf_start = _startup("import tensorflow; from emotion_tf.semantic import mfcc", a.repeats)
  print(f"worker start-up, numpy + scipy + the aligner module  {numpy_start:.2f} s")
  print(f"worker start-up, TensorFlow + emotion_tf mfcc        {tf_start:.2f} s")

  from data_prep import forced_alignment as fa
  from emotion_tf.semantic import mfcc as mfcc_lib

  sr = 22050
  x = np.random.default_rng(0).standard_normal(int(a.seconds * sr)).astype(np.float32) * 0.1
  config = fa.AlignConfig()
  t_np = _median_time(lambda: fa.mfcc(x, sr, config), a.repeats)
  mcfg = mfcc_lib.MfccConfig(segment_cmn=False)
  wav, n = x[None, :], np.array([len(x)])
  t_tf = _median_time(lambda: mfcc_lib.compute_mfcc(wav, n, mcfg), a.repeats)
  print(f"MFCC of {a.seconds:.0f} s, numpy (aligner)                {t_np * 1e3:.1f} ms")
  print(f"MFCC of {a.seconds:.0f} s, tf.signal eager (Speech2Vec)    {t_tf * 1e3:.1f} ms")
  print(
    f"TensorFlow in the aligner would add {tf_start - numpy_start:.1f} s per worker process "
    f"and change the per-sentence MFCC time by {(t_tf - t_np) * 1e3:+.1f} ms per "
    f"{a.seconds:.0f} s of audio"
  )


if __name__ == "__main__":
  main()
