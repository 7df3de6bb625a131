"""CCC of trained models evaluated the old way (LSTM state reset at every 10 s chunk) and the
new way (state carried from chunk to chunk, `emotion_tf.serving.inference`), no retraining.

  TF_CPP_MIN_LOG_LEVEL=2 nice -n 10 .venv/bin/python bench/stateful_eval.py \
      --model_dirs /work/runs/presets/demo_tfrecords/paper_s0,... [--partitions devel,test] \
      [--json out.json]

Each model dir's TFRecords are the `training.data_dir` of its config.json. Each recording is
read once (`inference.tfrecord_recordings`) and predicted twice by the same model step
(`EmotionRecognitionModel.step`): from a zero state at every chunk (what `evaluate` did before)
and with the state carried (what it does now, = `predict`). Prints per partition the
concatenated CCC per dimension before -> after, the CPU model and a numpy float32 matmul
GFLOP/s. Figures are printed, never asserted.
"""

import json
import os
import sys
import time

from absl import app, flags, logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_list("model_dirs", [], "Model directories (best.keras + config.json).")
  flags.DEFINE_list("partitions", ["devel", "test"], "Partitions to evaluate.")
  flags.DEFINE_integer("chunk_frames", 100, "Frames per chunk (10 s = the TFRecord chunk).")
  flags.DEFINE_string("json", "", "Also write the figures to this JSON file.")


def evaluate_both(model, data_dir, partition, chunk_frames):
  """(ccc_summary reset, ccc_summary carried, max |carried - reset|) of one partition."""
  import numpy as np

  from emotion_tf.serving import inference
  from emotion_tf.training import evaluate_lib

  recordings = inference.tfrecord_recordings(
    data_dir, partition, interlocutor_frames=model.config.interlocutor_frames
  )
  runner = inference.runner_for(model)
  spf = runner.samples_per_frame
  reset, carried, labels = {}, {}, {}
  for rid, (audio, semantic, gold) in recordings.items():
    carried[rid] = inference.predict_frames(runner, audio, semantic, chunk_frames)
    reset[rid] = np.concatenate(
      [
        inference.predict_frames(runner, audio[s * spf : e * spf], semantic[s:e], chunk_frames)
        for s, e in inference.iter_chunks(semantic.shape[0], chunk_frames)
      ]
    )
    labels[rid] = gold
  diff = max(float(np.abs(carried[r] - reset[r]).max()) for r in carried)
  names = model.config.label_names
  return (
    evaluate_lib.ccc_summary(labels, reset, names),
    evaluate_lib.ccc_summary(labels, carried, names),
    diff,
  )


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from machine import cpu_model, matmul_gflops

  from emotion_tf.model import model_dir as model_dir_lib

  print(
    f"CPU: {cpu_model()}, {os.cpu_count()} cores; numpy float32 matmul "
    f"{matmul_gflops():.1f} GFLOP/s",
    flush=True,
  )
  rows = []
  for model_dir in FLAGS.model_dirs:
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
      data_dir = json.load(f)["training"]["data_dir"]
    model = model_dir_lib.load_trained_model(model_dir, "best")
    for partition in FLAGS.partitions:
      t0 = time.perf_counter()
      before, after, diff = evaluate_both(model, data_dir, partition, FLAGS.chunk_frames)
      row = {
        "model_dir": model_dir,
        "data_dir": data_dir,
        "partition": partition,
        "recordings": before["num_recordings"],
        "frames": before["num_frames"],
        "ccc_reset": before["ccc"],
        "ccc_mean_reset": before["ccc_mean"],
        "ccc_carried": after["ccc"],
        "ccc_mean_carried": after["ccc_mean"],
        "max_abs_diff": diff,
        "seconds": time.perf_counter() - t0,
      }
      rows.append(row)
      cells = " ".join(
        f"{k[:1]} {row['ccc_reset'][k]:.4f}->{row['ccc_carried'][k]:.4f}" for k in row["ccc_reset"]
      )
      print(
        f"{model_dir} {partition:<5} ({row['recordings']} rec, {row['frames']} frames): "
        f"{cells} mean {row['ccc_mean_reset']:.4f}->{row['ccc_mean_carried']:.4f}; "
        f"max|diff| {diff:.3f} ({row['seconds']:.0f} s)",
        flush=True,
      )
      if FLAGS.json:
        with open(FLAGS.json + ".tmp", "w", encoding="utf-8") as f:
          json.dump(rows, f, indent=1)
        os.replace(FLAGS.json + ".tmp", FLAGS.json)
  return 0


if __name__ == "__main__":
  define_flags()
  app.run(main)
