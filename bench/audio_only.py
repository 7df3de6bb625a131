"""The `audio_only` signature (wav-only frontend inside the SavedModel): equality, speed, TFLite.

  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/audio_only.py [--export_dir E] [--wav X.wav]
      [--seconds 30] [--runs 3] [--snap_to_types]

Without --export_dir, builds an untrained default-size model (semantic_dim 100) and a
random-weight default-size Speech2Vec encoder (128 units, d_s 100, 100 max frames, resampled to
24) with a random orthogonal W, and exports them as `emotion_tf.export --speech2vec_dir
--alignment_dir` does. Without --wav, the real-speech fixtures of tests/data/real_speech are
concatenated and tiled to --seconds. Prints the CPU model and a numpy float32 matmul GFLOP/s,
then: max |audio_only - predict --audio| (the Python path, which runs the same frontend graph),
max |audio_only - the numpy path| (numpy segmenter + tokens.token_vectors + serving_default,
the implementation before the graph), segments, median seconds per call of each, and whether
TFLiteConverter (TFLITE_BUILTINS + SELECT_TF_OPS) converts `audio_only` (in a child process).
Figures are printed, never asserted.
"""

import glob
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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_model, matmul_gflops  # noqa: E402

FLAGS = flags.FLAGS
SR = 22050


def define_flags():
  flags.DEFINE_string(
    "export_dir",
    "",
    "Export carrying a semantic frontend and audio_only; "
    "empty = untrained default-size model and random frontend.",
  )
  flags.DEFINE_string("wav", "", "Recording; empty = the real-speech fixtures tiled.")
  flags.DEFINE_float("seconds", 30.0, "Length of the tiled fixture recording.")
  flags.DEFINE_integer("runs", 3, "Timed calls per path.", lower_bound=1)
  flags.DEFINE_boolean("snap_to_types", False, "Random export: snap to a 500-type codebook.")


def random_export(root, snap):
  """An export as `emotion_tf.export --speech2vec_dir --alignment_dir` writes it."""
  import keras
  import numpy as np

  from emotion_tf.data import vectors as vec_io
  from emotion_tf.model.models import build_model
  from emotion_tf.semantic import mfcc as mfcc_lib
  from emotion_tf.semantic import speech2vec
  from emotion_tf.serving import export_lib

  keras.utils.set_random_seed(0)
  rng = np.random.default_rng(0)
  s2v, align, model_dir = (os.path.join(root, n) for n in ("speech2vec", "alignment", "model"))
  for d in (s2v, align, model_dir):
    os.makedirs(d)
  cfg = mfcc_lib.MfccConfig()
  encoder = speech2vec.Speech2VecEncoder(128, 100, name="encoder")
  encoder.build((None, None, cfg.num_features))
  normalizer = mfcc_lib.Normalizer(np.zeros(13, np.float32), np.ones(13, np.float32) * 5, 1)
  normalizer.save(os.path.join(s2v, "normalizer.json"))
  with open(os.path.join(s2v, "config.json"), "w", encoding="utf-8") as f:
    json.dump({"mfcc": cfg.to_dict(), "speech2vec": {"max_frames": 100, "resample_frames": 24}}, f)
  speech2vec.export_encoder(encoder, normalizer, cfg, 100, os.path.join(s2v, "encoder"), 24)
  np.save(os.path.join(align, "W.npy"), np.linalg.qr(rng.normal(size=(100, 100)))[0])
  np.save(os.path.join(align, "speech_mean.npy"), rng.normal(size=100) * 0.1)
  book = rng.normal(size=(500, 100))
  vec_io.write_vec(
    os.path.join(align, "aligned_speech2vec.vec"),
    [f"w{i}" for i in range(500)],
    (book / np.linalg.norm(book, axis=1, keepdims=True)).astype(np.float32),
  )
  model = build_model(semantic_dim=100)
  model.save(os.path.join(model_dir, "best.keras"))
  with open(os.path.join(model_dir, "model_config.json"), "w", encoding="utf-8") as f:
    f.write(model.config.to_json())
  export_dir = os.path.join(root, "export")
  export_lib.export_from_model_dir(model_dir, export_dir, frontend_dirs=(s2v, align, snap))
  export_lib.export_semantic_frontend(export_dir, s2v, align, snap_to_types=snap)
  return export_dir


def timed(fn, runs):
  fn()
  ts = []
  for _ in range(runs):
    t = time.perf_counter()
    fn()
    ts.append(time.perf_counter() - t)
  return statistics.median(ts)


def tflite_check(export_dir, audio_path):
  """Converts `audio_only` in a child process; its figures, or the error's last lines."""
  script = textwrap.dedent(f"""
      import json, time, numpy as np, tensorflow as tf
      t0 = time.perf_counter()
      conv = tf.lite.TFLiteConverter.from_saved_model({export_dir!r},
                                                       signature_keys=["audio_only"])
      conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                        tf.lite.OpsSet.SELECT_TF_OPS]
      blob = conv.convert()
      out = {{"tflite_bytes": len(blob), "convert_s": time.perf_counter() - t0}}
      print(json.dumps(out), flush=True)
      runner = tf.lite.Interpreter(model_content=blob).get_signature_runner("audio_only")
      audio = np.load({audio_path!r})
      y = runner(audio=audio)
      sm = tf.saved_model.load({export_dir!r}).signatures["audio_only"](audio=tf.constant(audio))
      out["max_diff_tflite_vs_saved_model"] = max(
          float(np.abs(y[k] - sm[k].numpy()).max()) for k in ("arousal", "valence", "liking"))
      print(json.dumps(out))
  """)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  r = subprocess.run(
    [sys.executable, "-c", script],
    capture_output=True,
    text=True,
    env=env,
    check=False,
    timeout=1200,
  )
  lines = [ln for ln in r.stdout.strip().splitlines() if ln.startswith("{")]
  figures = json.loads(lines[-1]) if lines else {}
  if r.returncode != 0:
    figures["tflite_error"] = (
      f"rc {r.returncode}: " + " | ".join(ln for ln in r.stderr.strip().splitlines()[-6:])[-1500:]
    )
  return figures


def recording():
  import numpy as np

  from emotion_tf.data import corpus

  if FLAGS.wav:
    return corpus.load_audio(FLAGS.wav, SR), FLAGS.wav
  parts = [
    corpus.load_audio(p, SR)
    for p in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "real_speech", "*.flac")))
  ]
  audio = np.concatenate(parts)
  audio = np.tile(audio, int(np.ceil(FLAGS.seconds * SR / audio.size)))[: int(FLAGS.seconds * SR)]
  return audio.astype(np.float32), "tests/data/real_speech/*.flac tiled"


def compare(export_dir, audio):
  """Figures of audio_only against predict and the numpy path on one recording."""
  import numpy as np
  import tensorflow as tf

  from emotion_tf.semantic import segmenter, tokens
  from emotion_tf.serving import predict_api

  predictor = predict_api.load(export_dir)
  model, frontend = predictor.model, predictor.frontend
  fn = tf.saved_model.load(export_dir).signatures["audio_only"]
  names = model.label_names
  frames = audio.size // model.samples_per_frame
  cut = audio[: frames * model.samples_per_frame]

  def signature():
    out = fn(audio=tf.constant(cut[None]))
    return np.stack([out[n].numpy()[0] for n in names], -1)

  def numpy_path():
    segs = segmenter.segment(cut, segmenter.SegmenterConfig(sample_rate=frontend.sample_rate))
    sem = tokens.speech_semantic_frames(frontend, cut, segs, frames, model.hop_seconds)
    return model(cut, sem), len(segs)

  y_sig, y_pred = signature(), predictor.predict_array(cut, SR)
  y_np, segments = numpy_path()
  return {
    "frames": frames,
    "samples": cut.size,
    "segments (numpy segmenter)": segments,
    "segments (graph)": predictor.last_info["segments"],
    "max_diff_audio_only_vs_predict": float(np.abs(y_sig - y_pred).max()),
    "max_diff_audio_only_vs_numpy_path": float(np.abs(y_sig - y_np).max()),
    "audio_only_call_s": timed(signature, FLAGS.runs),
    "predict_array_call_s": timed(lambda: predictor.predict_array(cut, SR), FLAGS.runs),
    "numpy_path_call_s": timed(numpy_path, FLAGS.runs),
  }


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  import numpy as np

  sys.stdout.write(f"CPU: {cpu_model()}; numpy float32 matmul {matmul_gflops():.1f} GFLOP/s\n")
  audio, source = recording()
  with tempfile.TemporaryDirectory() as tmp:
    export_dir = FLAGS.export_dir or random_export(tmp, FLAGS.snap_to_types)
    figures = {
      "export": FLAGS.export_dir
      or "untrained default model + random frontend"
      + (" (snap_to_types)" if FLAGS.snap_to_types else ""),
      "recording": f"{source}, {audio.size / SR:.1f} s",
    }
    figures.update(compare(export_dir, audio))
    audio_npy = os.path.join(tmp, "audio.npy")
    np.save(audio_npy, audio[None, : figures["samples"]])
    figures.update(tflite_check(export_dir, audio_npy))
  for key, value in figures.items():
    sys.stdout.write(
      f"{key:>36}: {value:.3g}\n" if isinstance(value, float) else f"{key:>36}: {value}\n"
    )
  return 0


if __name__ == "__main__":
  define_flags()
  app.run(main)
