"""Benchmark: TFRecord writer throughput in audio-seconds written per wall-second.

Builds a temporary SEWA-layout corpus of 48 kHz stereo 16-bit wavs (so decoding AND resampling
to 22 050 Hz mono are exercised), labels at 0.1 s, transcripts and a 100-d `.vec`, then times
`data_prep.write_tfrecords_lib.write_tfrecords` end to end (process start-up, decode, resample, word
lookup, serialisation, shard assembly). Also prints the single-process decode+resample rate.
Target: >= 200x real time on 2 cores.

  python bench/write_tfrecords.py [--recordings 8] [--seconds 180] [--workers 2]
"""

import argparse
import os
import shutil
import tempfile
import time
import wave

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from data_prep import write_tfrecords_lib  # noqa: E402
from emotion_tf.data import corpus  # noqa: E402
from emotion_tf.data import vectors as vec_io  # noqa: E402

RATE = 48000
WORDS = [f"word{i}" for i in range(300)]


def make_corpus(root, recordings, seconds, seed=0):
  rng = np.random.default_rng(seed)
  for sub in ("audio", "labels", "transcriptions"):
    os.makedirs(os.path.join(root, sub), exist_ok=True)
  n = int(seconds * RATE)
  t = np.arange(n) / RATE
  for r in range(recordings):
    rid = (
      f"Train_{r + 1:02d}"
      if r % 4 < 2
      else (f"Devel_{r + 1:02d}" if r % 4 == 2 else f"Test_{r + 1:02d}")
    )
    left = 0.3 * np.sin(2 * np.pi * (150 + 10 * r) * t) + 0.05 * rng.standard_normal(n)
    right = 0.2 * np.sin(2 * np.pi * 310 * t) + 0.05 * rng.standard_normal(n)
    pcm = np.clip(np.stack([left, right], 1) * 32767, -32768, 32767).astype("<i2")
    with wave.open(os.path.join(root, "audio", rid + ".wav"), "wb") as w:
      w.setnchannels(2)
      w.setsampwidth(2)
      w.setframerate(RATE)
      w.writeframes(pcm.tobytes())
    frames = int(round(seconds * 10))
    lab = np.tanh(rng.standard_normal((frames, 3)).cumsum(0) * 0.05)
    with open(os.path.join(root, "labels", rid + ".csv"), "w", encoding="utf-8") as f:
      f.writelines(
        f"{rid};{k / 10:.1f};{a:.6f};{v:.6f};{l:.6f}\n" for k, (a, v, l) in enumerate(lab)
      )
    with open(os.path.join(root, "transcriptions", rid + ".csv"), "w", encoding="utf-8") as f:
      for s in np.arange(0.5, seconds - 3, 3.0):
        words = " ".join(rng.choice(WORDS, 6))
        f.write(f"{s:.2f};{s + 2.4:.2f};'{words}'\n")
  vec_io.write_vec(
    os.path.join(root, "words.vec"),
    WORDS,
    rng.standard_normal((len(WORDS), 100)).astype(np.float32),
  )


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--recordings", type=int, default=8)
  parser.add_argument("--seconds", type=float, default=180.0)
  parser.add_argument("--workers", type=int, default=2)
  args = parser.parse_args()
  root = tempfile.mkdtemp(prefix="bench_write_")
  try:
    make_corpus(root, args.recordings, args.seconds)
    audio_s = args.recordings * args.seconds
    wav = sorted(os.listdir(os.path.join(root, "audio")))[0]
    t0 = time.perf_counter()
    x = corpus.load_audio(os.path.join(root, "audio", wav))
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    x = corpus.load_audio(os.path.join(root, "audio", wav))
    t_load = min(t_load, time.perf_counter() - t0)
    print(
      f"decode+resample (48 kHz stereo -> 22 050 Hz mono, 1 process): "
      f"{args.seconds / t_load:.0f}x real time ({len(x)} samples)"
    )
    out = os.path.join(root, "tfrecords")
    t0 = time.perf_counter()
    rep = write_tfrecords_lib.write_tfrecords(
      write_tfrecords_lib.WriteJobConfig(
        corpus=root,
        embeddings=os.path.join(root, "words.vec"),
        out=out,
        num_workers=args.workers,
        records_per_shard=2,
        word_timings="uniform",
      )
    )
    wall = time.perf_counter() - t0
    assert rep["ok"], rep["errors"]
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(
      f"write_tfrecords: {audio_s:.0f} s of audio ({args.recordings} x {args.seconds:.0f} s) "
      f"in {wall:.2f} s wall with {args.workers} workers = {audio_s / wall:.0f}x real time "
      f"(target >= 200x); {size / 2**20:.0f} MiB written"
    )
  finally:
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
  main()
