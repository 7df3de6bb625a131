"""Benchmark: forward+backward of the full disentangled-attention model.

Prints, for batch 25 x 10 s (100 frames x 2 205 samples):
  * sequences/s of a full training step (forward, CCC loss, backward, Adam update);
  * the ParalinguisticCNN's effective GFLOP/s: its float32 FLOPs (forward + backward
    = 3 x forward multiply-adds x 2) divided by the time of a CNN-only forward+backward
    step, and the same FLOPs divided by the full step time (a lower bound);
  * a float32 numpy matmul (2048^2) GFLOP/s measured in the same run, and the ratios.
Runs on the GPU when TensorFlow sees one.

  python bench/train_step.py [--batch 25] [--frames 100] [--steps 5]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from machine import cpu_model, matmul_gflops  # noqa: E402

from emotion_tf.model.losses import ConcordanceLoss  # noqa: E402
from emotion_tf.model.models import build_model  # noqa: E402


def cnn_forward_flops(cnn, frames_total):
  """Multiply-add FLOPs (x2) of the convolutions for `frames_total` frames."""
  flops, length, channels = 0, cnn.samples_per_frame, 1
  for f, k, p in zip(cnn.filters, cnn.kernel_sizes, cnn.pool_sizes, strict=False):
    flops += 2 * length * k * channels * f
    channels, length = f, length // p
  return flops * frames_total


def time_interleaved(fns, steps):
  """Median and min seconds per call of each fn, calls interleaved (noisy machines)."""
  for fn in fns:  # trace + warm-up
    fn()
    fn()
  times = [[] for _ in fns]
  for _ in range(steps):
    for fn, ts in zip(fns, times, strict=False):
      t = time.perf_counter()
      fn()
      ts.append(time.perf_counter() - t)
  return [(statistics.median(ts), min(ts)) for ts in times]


def main():
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--batch", type=int, default=25)
  parser.add_argument("--frames", type=int, default=100)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--jit", action="store_true", help="XLA-compile the steps")
  args = parser.parse_args()

  gpus = tf.config.list_physical_devices("GPU")
  device = (
    "GPU: " + tf.config.experimental.get_device_details(gpus[0]).get("device_name", "?")
    if gpus
    else f"CPU ({os.cpu_count()} cores)"
  )
  keras.utils.set_random_seed(0)
  rng = np.random.default_rng(0)
  b, f = args.batch, args.frames
  audio = tf.constant(rng.standard_normal((b, f * 2205), dtype=np.float32) * 0.1)
  semantic = tf.constant(rng.standard_normal((b, f, 100), dtype=np.float32))
  labels = tf.constant(np.tanh(rng.standard_normal((b, f, 3))).astype(np.float32))
  inputs = {"audio": audio, "semantic": semantic}

  model = build_model(variant="disentangled_attention")
  optimizer = keras.optimizers.Adam(1e-4, global_clipnorm=5.0)
  loss_fn = ConcordanceLoss()

  @tf.function(jit_compile=args.jit)
  def train_step():
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, model(inputs, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=False))
    return loss

  cnn = model.cnn
  cnn_vars = cnn.trainable_variables

  @tf.function(jit_compile=args.jit)
  def cnn_step():
    with tf.GradientTape() as tape:
      out = cnn(audio, training=True)
      loss = tf.reduce_mean(tf.square(out))
    return tape.gradient(loss, cnn_vars)

  mm_before = matmul_gflops()
  (t_step, t_step_min), (t_cnn, t_cnn_min) = time_interleaved(
    [lambda: float(train_step()), lambda: [g.numpy() for g in cnn_step()[:1]]], args.steps
  )
  mm_after = matmul_gflops()
  mm = max(mm_before, mm_after)

  flops = 3 * cnn_forward_flops(cnn, b * f)
  cnn_gflops = flops / t_cnn / 1e9
  cnn_in_step_gflops = flops / t_step / 1e9
  print(f"cpu                          {cpu_model()}")
  print(f"device                       {device}  (XLA {'on' if args.jit else 'off'})")
  print(f"batch                        {b} x {f} frames ({b * f * 2205} samples)")
  print(
    f"full train step              {t_step:.3f} s (min {t_step_min:.3f})  ->  "
    f"{b / t_step:.2f} sequences/s"
  )
  print(
    f"CNN forward+backward         {t_cnn:.3f} s (min {t_cnn_min:.3f}), {flops / 1e9:.1f} GFLOP"
  )
  print(
    f"CNN effective                {cnn_gflops:.1f} GFLOP/s (best {flops / t_cnn_min / 1e9:.1f})"
  )
  print(f"CNN FLOPs / full step time   {cnn_in_step_gflops:.1f} GFLOP/s")
  print(
    f"numpy float32 matmul 2048^2  {mm:.1f} GFLOP/s (before {mm_before:.1f}, after {mm_after:.1f})"
  )
  print(f"ratio CNN / matmul           {cnn_gflops / mm:.2f}   (target >= 0.5)")
  print(f"ratio (full step) / matmul   {cnn_in_step_gflops / mm:.2f}")


if __name__ == "__main__":
  main()
