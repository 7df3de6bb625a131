"""Export figures: SavedModel (ExportArchive) and TFLite sizes, TFLite-vs-SavedModel difference.

  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/export_tflite.py [--model_dir DIR]
      [--variant disentangled_attention] [--semantic_dim 100] [--seconds 30] [--runs 3]

Exports `<model_dir>/best.keras` (or an untrained default-size model) with
emotion_tf.serving.export_lib.export_saved_model, converts it with
tf.lite.TFLiteConverter.from_saved_model (TFLITE_BUILTINS + SELECT_TF_OPS) in a child process
(a converter crash cannot take this script down), runs both on one random recording of
`--seconds` seconds (batch 1) and prints sizes, the max |TFLite - SavedModel| and
|SavedModel - Keras| differences, and median call times. Figures are printed, never asserted.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

from absl import app, flags, logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("model_dir", "", "Trained model dir (best.keras); empty = untrained model.")
  flags.DEFINE_string("variant", "disentangled_attention", "Variant of the untrained model.")
  flags.DEFINE_integer("semantic_dim", 100, "Semantic dimension of the untrained model.")
  flags.DEFINE_float("seconds", 30.0, "Length of the test recording.")
  flags.DEFINE_integer("runs", 3, "Timed calls per runtime.", lower_bound=1)


def dir_size(path):
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  import numpy as np

  from emotion_tf.model import model_dir as model_dir_lib
  from emotion_tf.model.models import build_model
  from emotion_tf.serving import export_lib

  if FLAGS.model_dir:
    model = model_dir_lib.load_trained_model(FLAGS.model_dir)
  else:
    model = build_model(variant=FLAGS.variant, semantic_dim=FLAGS.semantic_dim)
  c = model.config
  frames = int(FLAGS.seconds / 0.1)
  rng = np.random.default_rng(0)
  audio = rng.normal(scale=0.1, size=(1, frames * c.samples_per_frame)).astype(np.float32)
  semantic = rng.normal(size=(1, frames, c.semantic_dim)).astype(np.float32)
  keras_y = model({"audio": audio, "semantic": semantic}, training=False).numpy()
  with tempfile.TemporaryDirectory() as tmp:
    export_dir = os.path.join(tmp, "export")
    t0 = time.perf_counter()
    export_lib.export_saved_model(model, export_dir)
    export_s = time.perf_counter() - t0
    np.savez(os.path.join(tmp, "in.npz"), audio=audio, semantic=semantic)
    script = textwrap.dedent(f"""
        import json, statistics, time, numpy as np, tensorflow as tf
        x = np.load({os.path.join(tmp, "in.npz")!r})
        t0 = time.perf_counter()
        conv = tf.lite.TFLiteConverter.from_saved_model({export_dir!r},
                                                         signature_keys=["serving_default"])
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                          tf.lite.OpsSet.SELECT_TF_OPS]
        blob = conv.convert()
        convert_s = time.perf_counter() - t0
        runner = tf.lite.Interpreter(model_content=blob).get_signature_runner("serving_default")
        sm = tf.saved_model.load({export_dir!r}).signatures["serving_default"]
        names = {list(c.label_names)!r}
        def lite():
          out = runner(audio=x["audio"], semantic=x["semantic"])
          return np.stack([out[n] for n in names], -1)
        def saved():
          out = sm(audio=tf.constant(x["audio"]), semantic=tf.constant(x["semantic"]))
          return np.stack([out[n].numpy() for n in names], -1)
        def timed(fn):
          fn()
          ts = []
          for _ in range({FLAGS.runs}):
            t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
          return statistics.median(ts)
        y_lite, y_sm = lite(), saved()
        np.save({os.path.join(tmp, "sm.npy")!r}, y_sm)
        print(json.dumps({{"tflite_bytes": len(blob), "convert_s": convert_s,
                          "max_diff_tflite_vs_saved_model": float(np.abs(y_lite - y_sm).max()),
                          "tflite_call_s": timed(lite), "saved_model_call_s": timed(saved)}}))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    r = subprocess.run(
      [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    if r.returncode != 0:
      sys.stdout.write(f"TFLite conversion/run failed (rc {r.returncode}):\n{r.stderr[-2000:]}\n")
      return 1
    figures = json.loads(r.stdout.strip().splitlines()[-1])
    sm_y = np.load(os.path.join(tmp, "sm.npy"))
    figures.update(
      {
        "model": FLAGS.model_dir or f"untrained {c.variant}, semantic_dim {c.semantic_dim}",
        "keras_params": int(model.count_params()),
        "seconds": FLAGS.seconds,
        "export_s": export_s,
        "saved_model_bytes": dir_size(export_dir),
        "max_diff_saved_model_vs_keras": float(np.abs(sm_y - keras_y).max()),
      }
    )
  for key, value in figures.items():
    sys.stdout.write(
      f"{key:>32}: {value:.3g}\n" if isinstance(value, float) else f"{key:>32}: {value}\n"
    )
  return 0


if __name__ == "__main__":
  define_flags()
  app.run(main)
