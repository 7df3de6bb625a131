"""Streaming through the export's `stream` signature: equality with the whole recording, latency
per 1 s chunk, real-time factor, and the TFLite conversion of the signature.

  TF_CPP_MIN_LOG_LEVEL=2 nice -n 10 .venv/bin/python bench/streaming.py [--seconds 60]
      [--chunk_seconds 1] [--model_dir DIR] [--variant disentangled_attention] [--no_tflite]

Exports `<model_dir>/best.keras` (or an untrained default-size model: weights do not change
the cost) with emotion_tf.serving.export_lib, then on one random recording of `--seconds`
(batch 1):
  * whole: `serving_default` once over all frames;
  * streamed: `stream` chunk by chunk (`--chunk_seconds`, 1 s = 10 frames), the LSTM state
    carried (emotion_tf.serving.inference.predict_frames on the loaded export);
  * max |streamed - whole| (the contract: <= 1e-5), latency per chunk (median, p90) and the
    real-time factor = total streaming wall time / audio seconds;
  * TFLite: the `stream` signature converted (TFLITE_BUILTINS + SELECT_TF_OPS, as
    bench/export_tflite.py) in a child process, streamed the same way, max |TFLite - whole|.
Prints the CPU model and a numpy float32 matmul GFLOP/s of the same run. Never asserts.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

from absl import app, flags, logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_float("seconds", 60.0, "Length of the streamed recording.")
  flags.DEFINE_float("chunk_seconds", 1.0, "Audio per stream step.")
  flags.DEFINE_string("model_dir", "", "Trained model dir (best.keras); empty = untrained model.")
  flags.DEFINE_string("variant", "disentangled_attention", "Variant of the untrained model.")
  flags.DEFINE_integer("semantic_dim", 100, "Semantic dimension of the untrained model.")
  flags.DEFINE_boolean("tflite", True, "Also convert and stream the TFLite model.")


TFLITE_SCRIPT = """
import json, time, numpy as np, tensorflow as tf
x = np.load({inputs!r})
audio, semantic, whole = x["audio"], x["semantic"], x["whole"]
t0 = time.perf_counter()
conv = tf.lite.TFLiteConverter.from_saved_model({export_dir!r}, signature_keys=["stream"])
conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
blob = conv.convert()
convert_s = time.perf_counter() - t0
runner = tf.lite.Interpreter(model_content=blob).get_signature_runner("stream")
names, n, spf, units = {names!r}, {chunk}, {spf}, {units}
h = np.zeros((1, units), np.float32); c = h.copy(); ys = []; lat = []
for s in range(0, semantic.shape[1], n):
  e = min(s + n, semantic.shape[1])
  t = time.perf_counter()
  out = runner(audio=audio[:, s * spf:e * spf], semantic=semantic[:, s:e], state_h=h, state_c=c)
  lat.append(time.perf_counter() - t)
  h, c = out["state_h"], out["state_c"]
  ys.append(np.stack([out[k] for k in names], -1))
y = np.concatenate(ys, 1)
print(json.dumps({{"tflite_bytes": len(blob), "convert_s": convert_s,
                  "max_diff": float(np.abs(y - whole).max()),
                  "median_ms": 1e3 * float(np.median(lat)),
                  "p90_ms": 1e3 * float(np.percentile(lat, 90)), "total_s": float(sum(lat))}}))
"""


def tflite_figures(export_dir, tmp, audio, semantic, whole, names, chunk, spf, units):
  """Figures of the TFLite `stream` signature (child process), or {'error': ...}."""
  import numpy as np

  inputs = os.path.join(tmp, "stream_in.npz")
  np.savez(inputs, audio=audio, semantic=semantic, whole=whole)
  script = textwrap.dedent(TFLITE_SCRIPT).format(
    inputs=inputs, export_dir=export_dir, names=list(names), chunk=chunk, spf=spf, units=units
  )
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  r = subprocess.run(
    [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
  )
  if r.returncode != 0:
    return {"error": f"rc {r.returncode}: {r.stderr[-1500:]}"}
  return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  import numpy as np
  from machine import cpu_model, matmul_gflops

  from emotion_tf.model import model_dir as model_dir_lib
  from emotion_tf.model.models import build_model
  from emotion_tf.serving import export_lib, inference

  print(
    f"CPU: {cpu_model()}, {os.cpu_count()} cores visible; numpy float32 matmul "
    f"{matmul_gflops():.1f} GFLOP/s",
    flush=True,
  )
  model = (
    model_dir_lib.load_trained_model(FLAGS.model_dir)
    if FLAGS.model_dir
    else build_model(variant=FLAGS.variant, semantic_dim=FLAGS.semantic_dim)
  )
  c = model.config
  spf, hop = c.samples_per_frame, c.samples_per_frame / c.sample_rate
  frames = int(round(FLAGS.seconds / hop))
  chunk = max(1, int(round(FLAGS.chunk_seconds / hop)))
  rng = np.random.default_rng(0)
  audio = (0.1 * rng.standard_normal((1, frames * spf))).astype(np.float32)
  semantic = rng.standard_normal((1, frames, c.semantic_dim)).astype(np.float32)
  with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
    export_dir = os.path.join(tmp, "export")
    export_lib.export_saved_model(model, export_dir)
    exported = export_lib.ExportedModel(export_dir)
    whole = exported(audio, semantic)  # [1, F, 3]
    state = exported.initial_state(1)
    exported.step(audio[:, : chunk * spf], semantic[:, :chunk], state)  # warm-up (trace)
    latencies, outputs = [], []
    for s, e in inference.iter_chunks(frames, chunk):
      t0 = time.perf_counter()
      y, state = exported.step(audio[:, s * spf : e * spf], semantic[:, s:e], state)
      latencies.append(time.perf_counter() - t0)
      outputs.append(y)
    streamed = np.concatenate(outputs, axis=1)
    seconds = frames * hop
    print(
      f"model: {FLAGS.model_dir or 'untrained ' + c.variant}, {model.count_params():,} "
      f"parameters; recording {seconds:.1f} s = {frames} frames, chunks of {chunk} frames "
      f"({chunk * hop:.1f} s), batch 1"
    )
    print(
      f"max |streamed - whole| (SavedModel stream vs serving_default): "
      f"{float(np.abs(streamed - whole).max()):.2e}  (contract <= 1e-5)"
    )
    print(
      f"latency per {chunk * hop:.1f} s chunk: median {1e3 * statistics.median(latencies):.1f}"
      f" ms, p90 {1e3 * float(np.percentile(latencies, 90)):.1f} ms, max "
      f"{1e3 * max(latencies):.1f} ms"
    )
    print(f"real-time factor (streaming, SavedModel): {sum(latencies) / seconds:.4f}")
    if FLAGS.tflite:
      t = tflite_figures(
        export_dir, tmp, audio, semantic, whole, c.label_names, chunk, spf, c.lstm_units
      )
      if "error" in t:
        print(f"TFLite stream signature: conversion/run failed: {t['error']}")
      else:
        print(
          f"TFLite stream signature: {t['tflite_bytes']:,} bytes, converted in "
          f"{t['convert_s']:.1f} s; max |TFLite streamed - whole| {t['max_diff']:.2e}; "
          f"latency median {t['median_ms']:.1f} ms, p90 {t['p90_ms']:.1f} ms; RTF "
          f"{t['total_s'] / seconds:.4f}"
        )
  return 0


if __name__ == "__main__":
  define_flags()
  app.run(main)
