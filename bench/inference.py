"""Inference speed of an exported SavedModel: real-time factor on a 3-minute recording.

  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/inference.py [--seconds 180] [--runs 5]
      [--variant disentangled_attention] [--semantic_dim 100] [--device cpu|gpu|auto]
      [--end_to_end]

Exports an untrained default-size model (weights do not change the cost) to a temp dir, loads
it with tf.saved_model.load, calls the serving signature once to warm up, then times `--runs`
calls on one recording of `--seconds` seconds (batch 1, one pass over all frames) and prints
the median / min wall time and the real-time factor RTF = wall seconds / audio seconds
(target <= 0.006 on 2 CPU cores). With --end_to_end it also times the whole prediction path
(emotion_tf.serving.predict_lib.predict_recording: decode + resample a 48 kHz stereo wav,
word timings -> per-frame vectors, model through the one inference path). It also times
`inference.predict_frames` on the export (the `stream` signature over 10 s chunks).
Figures are printed, never asserted.
"""

import os
import statistics
import sys
import tempfile
import time

from absl import app, flags, logging

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_float("seconds", 180.0, "Length of the benchmark recording in seconds.")
  flags.DEFINE_integer("runs", 5, "Timed calls after the warm-up call.", lower_bound=1)
  flags.DEFINE_string("variant", "disentangled_attention", "Model variant.")
  flags.DEFINE_integer("semantic_dim", 100, "Semantic vector dimension.")
  flags.DEFINE_enum(
    "device",
    "auto",
    ["auto", "cpu", "gpu"],
    "Where to run: auto = GPU when one is visible, else CPU.",
  )
  flags.DEFINE_boolean("end_to_end", True, "Also time wav decode/resample + word vectors + model.")


def timed(fn, runs):
  times = []
  for _ in range(runs):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return times


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  import numpy as np
  import tensorflow as tf
  from scipy.io import wavfile

  from emotion_tf.data.vectors import write_vec
  from emotion_tf.data.word_timings import (
    WordTiming,
    write_timings_csv,
  )
  from emotion_tf.model.models import build_model
  from emotion_tf.serving import export_lib, inference, predict_lib

  gpus = tf.config.list_physical_devices("GPU")
  use_gpu = FLAGS.device == "gpu" or (FLAGS.device == "auto" and gpus)
  if FLAGS.device == "gpu" and not gpus:
    print("error: --device gpu but no GPU is visible", file=sys.stderr)
    return 1
  device = "/GPU:0" if use_gpu else "/CPU:0"
  rng = np.random.default_rng(0)
  model = build_model(variant=FLAGS.variant, semantic_dim=FLAGS.semantic_dim)
  spf = model.config.samples_per_frame
  rate = model.config.sample_rate
  frames = int(round(FLAGS.seconds * rate)) // spf
  seconds = frames * spf / rate
  audio = (0.1 * rng.standard_normal((1, frames * spf))).astype(np.float32)
  semantic = rng.standard_normal((1, frames, FLAGS.semantic_dim)).astype(np.float32)

  with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
    export_dir = os.path.join(tmp, "export")
    export_lib.export_saved_model(model, export_dir)
    with tf.device(device):
      loaded = tf.saved_model.load(export_dir)
      serve = loaded.signatures[export_lib.SIGNATURE_KEY]
      a, s = tf.constant(audio), tf.constant(semantic)
      t0 = time.perf_counter()
      serve(audio=a, semantic=s)["arousal"].numpy()
      warm = time.perf_counter() - t0
      times = timed(lambda: serve(audio=a, semantic=s)["arousal"].numpy(), FLAGS.runs)
    med = statistics.median(times)
    exported = export_lib.ExportedModel(export_dir)
    with tf.device(device):
      inference.predict_frames(exported, audio, semantic)  # warm-up: traces the chunk shapes
      chunked = timed(lambda: inference.predict_frames(exported, audio, semantic), FLAGS.runs)
    cpu_count = os.cpu_count()
    print(
      f"device: {tf.config.list_logical_devices('GPU')[0].name if use_gpu else 'CPU'} "
      f"({cpu_count} CPU cores visible)"
    )
    print(
      f"model: {FLAGS.variant}, semantic_dim {FLAGS.semantic_dim}, untrained default size, "
      f"{model.count_params():,} parameters"
    )
    print(f"recording: {seconds:.1f} s = {frames} frames, batch 1, one pass")
    print(
      f"SavedModel serving signature: warm-up {warm:.3f} s; {FLAGS.runs} runs median "
      f"{med:.3f} s, min {min(times):.3f} s"
    )
    print(
      f"real-time factor (median): {med / seconds:.5f}  (min {min(times) / seconds:.5f}; "
      f"target <= 0.006 on 2 CPU cores); {frames / med:,.0f} frames/s, "
      f"{seconds / med:,.0f}x real time"
    )

    med_chunked = statistics.median(chunked)
    print(
      f"one inference path (inference.predict_frames: `stream` signature, 10 s chunks, "
      f"LSTM state carried; what predict and evaluate run): median {med_chunked:.3f} s, "
      f"RTF {med_chunked / seconds:.5f}"
    )

    if FLAGS.end_to_end:
      wav = os.path.join(tmp, "rec.wav")
      n48 = int(seconds * 48000)
      pcm = (np.clip(rng.normal(scale=0.1, size=(n48, 2)), -1, 1) * 32767).astype(np.int16)
      wavfile.write(wav, 48000, pcm)
      words = [f"w{i}" for i in range(500)]
      write_vec(
        os.path.join(tmp, "space.vec"),
        words,
        rng.standard_normal((len(words), FLAGS.semantic_dim)).astype(np.float32),
      )
      starts = np.arange(0.0, seconds - 0.4, 0.4)
      write_timings_csv(
        os.path.join(tmp, "rec.csv"),
        [WordTiming(float(t), float(t) + 0.3, words[i % len(words)]) for i, t in enumerate(starts)],
      )

      def run():
        with tf.device(device):
          predict_lib.predict_recording(
            exported, wav, os.path.join(tmp, "rec.csv"), os.path.join(tmp, "space.vec")
          )

      run()
      times = timed(run, max(1, FLAGS.runs // 2))
      med = statistics.median(times)
      print(
        f"end to end (48 kHz stereo wav decode + resample, {len(starts)} words -> vectors, "
        f"model): median {med:.3f} s, RTF {med / seconds:.5f}"
      )
  return 0


if __name__ == "__main__":
  define_flags()
  app.run(main)
