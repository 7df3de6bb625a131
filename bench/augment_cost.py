"""Cost of the waveform augmentation (emotion_tf.data.augment) against a training step.

    .venv/bin/python bench/augment_cost.py [--batch 8] [--frames 100] [--batches 6]

For each kind alone (probability 1) and all together: milliseconds per batch of the
augmentation stages of the tf.data pipeline (per-example map + babble batch map) on in-memory
10 s chunks at 22 050 Hz, and the same beside a full training step of the
disentangled-attention model (forward, CCC loss, backward, Adam) at the same batch. tf.data runs
the augmentation in parallel with the step when cores are free (prefetch); the ratio is the
added cost when they are not (the worst case). Prints the CPU model and a numpy float32 matmul
GFLOP/s measured in the same run. Prints figures only; asserts nothing.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_model, matmul_gflops  # noqa: E402

from emotion_tf.data import augment  # noqa: E402
from emotion_tf.model.losses import ConcordanceLoss  # noqa: E402
from emotion_tf.model.models import build_model  # noqa: E402

SR, SPF = 22050, 2205
KINDS = {
  "none": {},
  "noise (white/pink)": {"noise_prob": 1.0},
  "babble (3 talkers)": {"babble_prob": 1.0},
  "reverb (RT60 .2-.8 s)": {"reverb_prob": 1.0},
  "eq": {"eq_prob": 1.0},
  "gain": {"gain_prob": 1.0},
  "speed (.9-1.1)": {"speed_prob": 1.0},
  "all": {
    "noise_prob": 1.0,
    "babble_prob": 1.0,
    "reverb_prob": 1.0,
    "eq_prob": 1.0,
    "gain_prob": 1.0,
    "speed_prob": 1.0,
  },
}


def _examples(batch, frames, batches):
  rng = np.random.default_rng(0)
  n = batch * batches
  return (
    {
      "audio": rng.standard_normal((n, frames * SPF), dtype=np.float32) * 0.1,
      "semantic": rng.standard_normal((n, frames, 100), dtype=np.float32),
      "num_frames": np.full([n], frames, np.int32),
      "recording_id": np.array([b"Train_%02d" % i for i in range(n)]),
      "chunk_index": np.zeros([n], np.int64),
    },
    np.zeros((n, frames, 3), np.float32),
  )


def augmentation_ms(kind, batch, frames, batches):
  """Median ms per batch of iterating the augmentation stages (after a warm-up pass)."""
  cfg = augment.AugmentConfig(**KINDS[kind])
  meta = {"samples_per_frame": SPF, "sample_rate": SR}
  ds = tf.data.Dataset.from_tensor_slices(_examples(batch, frames, batches)).cache()
  ds = augment.augment_dataset(ds, cfg if cfg.enabled else None, 0, meta, keep_ids=False)
  ds = augment.augment_batches(ds.batch(batch), cfg if cfg.enabled else None, SPF)
  for _ in ds:  # warm-up: tracing, cache
    pass
  times = []
  for _ in range(2):
    t = time.perf_counter()
    for _ in ds:
      pass
    times.append((time.perf_counter() - t) / batches * 1e3)
  return min(times)


def train_step_ms(batch, frames, steps):
  keras.utils.set_random_seed(0)
  rng = np.random.default_rng(0)
  inputs = {
    "audio": tf.constant(rng.standard_normal((batch, frames * SPF), dtype=np.float32)),
    "semantic": tf.constant(rng.standard_normal((batch, frames, 100), dtype=np.float32)),
  }
  labels = tf.constant(np.tanh(rng.standard_normal((batch, frames, 3))).astype(np.float32))
  model = build_model(variant="disentangled_attention")
  optimizer = keras.optimizers.Adam(1e-3, global_clipnorm=5.0)
  loss_fn = ConcordanceLoss()

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, model(inputs, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=False))
    return loss

  step()
  times = []
  for _ in range(steps):
    t = time.perf_counter()
    step().numpy()
    times.append(time.perf_counter() - t)
  return statistics.median(times) * 1e3


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--batch", type=int, default=8, help="flags/demo_train.flags: 8")
  p.add_argument("--frames", type=int, default=100)
  p.add_argument("--batches", type=int, default=6, help="batches timed per kind")
  p.add_argument("--steps", type=int, default=4, help="training steps timed")
  a = p.parse_args()
  print(
    f"CPU: {cpu_model()} ({os.cpu_count()} cores); numpy float32 matmul 2048^2: "
    f"{matmul_gflops():.1f} GFLOP/s",
    flush=True,
  )
  step = train_step_ms(a.batch, a.frames, a.steps)
  print(
    f"training step (disentangled attention, batch {a.batch} x {a.frames / 10:g} s): {step:.0f} ms",
    flush=True,
  )
  print(f"{'augmentation':<24}{'ms/batch':>10}{'+ms vs none':>13}{'/ step':>9}")
  base = None
  for kind in KINDS:
    ms = augmentation_ms(kind, a.batch, a.frames, a.batches)
    base = ms if base is None else base
    print(f"{kind:<24}{ms:>10.1f}{ms - base:>13.1f}{(ms - base) / step:>9.2f}", flush=True)
  print(f"CPU after: numpy float32 matmul 2048^2: {matmul_gflops():.1f} GFLOP/s")


if __name__ == "__main__":
  main()
