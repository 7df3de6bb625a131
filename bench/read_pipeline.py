"""Benchmark: tf.data reader throughput in examples/s.

Writes temporary shards of 10 s examples (220 500 float32 samples, 100 x 100 semantic,
labels) with emotion_tf.data.schema, then iterates `pipeline.make_dataset` (training mode:
interleave, parse, shuffle, batch 25, prefetch; and eval mode) and prints examples/s.
Target: >= 20x what bench/train_step.py consumes (~3 sequences/s), i.e. >= 60 examples/s.

  python bench/read_pipeline.py [--examples 100] [--batch 25] [--batches 40]
"""

import argparse
import os
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from emotion_tf.data import (
  pipeline,  # noqa: E402
  schema,  # noqa: E402
)

DIM = 100


def write_shards(root, examples, shards=4, audio_dtype="float32"):
  rng = np.random.default_rng(0)
  per = -(-examples // shards)
  for s in range(shards):
    with tf.io.TFRecordWriter(os.path.join(root, schema.shard_name("train", s, shards))) as w:
      for i in range(per):
        w.write(
          schema.serialize_example(
            f"Train_{s:02d}",
            i,
            100,
            rng.uniform(-1, 1, 220500).astype(np.float32),
            rng.standard_normal((100, DIM)).astype(np.float32),
            rng.integers(0, 50, 100),
            rng.uniform(-1, 1, (100, 3)).astype(np.float32),
            audio_dtype,
          )
        )
  schema.write_vocab(root, [f"w{i}" for i in range(49)])
  schema.write_metadata(
    root,
    {
      "sample_rate": 22050,
      "samples_per_frame": 2205,
      "frames_per_chunk": 100,
      "semantic_dim": DIM,
      "audio_dtype": audio_dtype,
      "vocab_size": 50,
    },
  )
  return per * shards


def rate(ds, batches):
  it = iter(ds)
  next(it)  # warm-up (graph building, first file opens)
  t0 = time.perf_counter()
  n = 0
  for _ in range(batches):
    x, _ = next(it)
    n += int(x["audio"].shape[0])
  return n / (time.perf_counter() - t0)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--examples", type=int, default=100)
  parser.add_argument("--batch", type=int, default=25)
  parser.add_argument("--batches", type=int, default=40)
  args = parser.parse_args()
  for audio_dtype in ("float32", "int16"):
    root = tempfile.mkdtemp(prefix="bench_read_")
    try:
      n = write_shards(root, args.examples, audio_dtype=audio_dtype)
      train = pipeline.make_dataset(root, "train", args.batch, True, repeat=True, seed=0)
      r = rate(train, args.batches)
      matrix = np.random.default_rng(1).standard_normal((50, DIM)).astype(np.float32)
      emb = pipeline.make_dataset(
        root, "train", args.batch, True, repeat=True, seed=0, embedding_matrix=matrix
      )
      r_emb = rate(emb, args.batches)
      ev = pipeline.make_dataset(root, "train", args.batch, False, include_ids=True)
      t0 = time.perf_counter()
      m = sum(int(x["audio"].shape[0]) for x, _ in ev)
      r_eval = m / (time.perf_counter() - t0)
      print(
        f"audio {audio_dtype}: training {r:.0f} examples/s, with embedding_matrix "
        f"{r_emb:.0f} examples/s, eval (one pass over {n}, incl. start-up) {r_eval:.0f} "
        f"examples/s (batch {args.batch}); target >= 20x what bench/train_step.py "
        f"consumes (21.9 sequences/s on the 2-core CPU -> >= 438 examples/s)"
      )
    finally:
      shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
  main()
