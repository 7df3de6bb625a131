"""Wav decoding speed: tensorflow-io AudioIOTensor vs soundfile (libsndfile), and whether
soundfile decodes every wav format the corpus reader supports to the same samples.

    python bench/wav_decode.py [--seconds 180] [--rate 48000] [--channels 2] [--repeats 5]

Writes one 16-bit PCM wav of the given shape to a temp directory and prints the median
decode time of each reader (file -> float32 [samples, channels] in memory) as seconds and
as a multiple of real time, then `corpus.load_audio` (decode + channel mean + resampling
to 22 050 Hz) for scale. Second part: 8/16/24/32-bit PCM, float32, 8 kHz mono and
6-channel 48 kHz files (1 s each) decoded by both readers; prints the largest difference.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

# The wav writers of the test catalogue (tests/ is not a package).
sys.path.insert(
  0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
)


def _write(path, x, rate, width):
  if width == "float":
    from test_bad_inputs_data import write_float_wav

    write_float_wav(path, x, rate)
  elif width == 3:
    from test_bad_inputs_data import write_wav24

    write_wav24(path, x, rate)
  else:
    from data_fixtures import write_wav

    write_wav(path, x, rate, width)


def _tfio(path, int32_pcm=False):
  """tensorflow-io decode to float32 [samples, channels] (as corpus.load_audio did up to
  this benchmark: 0.37 hands 32-bit integer PCM back as float32 bit patterns)."""
  import tensorflow_io as tfio

  x = tfio.audio.AudioIOTensor(path).to_tensor().numpy()
  if int32_pcm:
    return (x.view(np.int32).astype(np.float64) / 2147483648.0).astype(np.float32)
  if x.dtype == np.int16:
    return x.astype(np.float32) / 32768.0
  if x.dtype == np.int32:
    return (x.astype(np.float64) / 2147483648.0).astype(np.float32)
  if x.dtype == np.uint8:
    return (x.astype(np.float32) - 128.0) / 128.0
  return x.astype(np.float32)


def _soundfile(path):
  import soundfile

  x, _ = soundfile.read(path, dtype="float32", always_2d=True)
  return x


def _median_time(fn, path, repeats):
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn(path)
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--seconds", type=float, default=180.0)
  p.add_argument("--rate", type=int, default=48000)
  p.add_argument("--channels", type=int, default=2)
  p.add_argument("--repeats", type=int, default=5)
  a = p.parse_args()
  from emotion_tf.data import corpus

  rng = np.random.default_rng(0)
  with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "long.wav")
    x = 0.3 * rng.uniform(-1, 1, (int(a.seconds * a.rate), a.channels))
    _write(path, x, a.rate, 2)
    _tfio(path)  # load the tensorflow-io kernels once
    _soundfile(path)
    print(
      f"{a.seconds:.0f} s, {a.rate} Hz, {a.channels} ch, 16-bit: "
      f"{os.path.getsize(path) / 1e6:.1f} MB, median of {a.repeats}"
    )
    for name, fn in (
      ("tensorflow-io AudioIOTensor", _tfio),
      ("soundfile.read", _soundfile),
      ("corpus.load_audio (decode + mean + resample)", lambda q: corpus.load_audio(q)),
    ):
      s = _median_time(fn, path, a.repeats)
      print(f"  {name:<44} {s:7.3f} s  {a.seconds / s:8.0f}x real time")
    print("format agreement (max |tfio - soundfile| after channel mean):")
    for label, rate, ch, width in (
      ("8-bit", 22050, 1, 1),
      ("16-bit", 22050, 1, 2),
      ("24-bit", 22050, 1, 3),
      ("32-bit", 22050, 1, 4),
      ("float32", 22050, 1, "float"),
      ("8 kHz mono", 8000, 1, 2),
      ("48 kHz 6-ch", 48000, 6, 2),
    ):
      q = os.path.join(d, f"f{label}.wav".replace(" ", "_"))
      _write(q, 0.5 * rng.uniform(-1, 1, (rate, ch)), rate, width)
      try:
        sf = _soundfile(q).mean(axis=1)
        ok = "ok"
      except Exception as e:
        sf, ok = None, f"soundfile fails: {e}"
      ref = _tfio(q, int32_pcm=width == 4).mean(axis=1)
      diff = float(np.abs(ref - sf).max()) if sf is not None else float("nan")
      print(f"  {label:<12} {ok:<4} max diff {diff:.2e}")


if __name__ == "__main__":
  main()
