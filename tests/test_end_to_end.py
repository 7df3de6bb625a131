"""One tiny epoch from TFRecords -> best.keras -> SavedModel -> predict CLI in a fresh process."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from emotion_tf.data import corpus, pipeline
from emotion_tf.data import frames as frames_lib
from emotion_tf.data import word_timings as wt
from emotion_tf.model.models import ModelConfig
from emotion_tf.serving import export_lib
from emotion_tf.training import evaluate_lib, train_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_tiny_epoch_export_and_predict(tiny_corpus, tiny_vec, tiny_tfrecords, tmp_path):
  data_dir = tiny_tfrecords[0]
  model_dir = str(tmp_path / "model")
  model_config = ModelConfig(semantic_dim=8, cnn_filters=(4, 6, 8), fusion_units=8, lstm_units=8)
  result = train_lib.train(
    train_lib.TrainConfig(data_dir=data_dir, model_dir=model_dir, epochs=1, batch_size=2),
    model_config,
    strategy=tf.distribute.MirroredStrategy(["/cpu:0"]),
  )
  assert result["epochs_completed"] == 1
  # the reported best Devel CCC is that of best.keras, recomputed by the evaluator (numpy CCC of
  # the stitched whole recordings) -- not merely a finite number
  best_model = keras.models.load_model(os.path.join(model_dir, "best.keras"))
  devel = evaluate_lib.evaluate_partition(best_model, data_dir, "devel", batch_size=2)
  assert result["best_eval_ccc"] == pytest.approx(devel["ccc_mean"], abs=1e-4)
  assert result["history"][0]["eval_ccc"]["mean"] == result["best_eval_ccc"]

  export_dir = str(tmp_path / "export")
  export_lib.export_from_model_dir(model_dir, export_dir)
  out_csv = str(tmp_path / "Test_01.csv")
  wav = os.path.join(tiny_corpus, "audio", "Test_01.wav")
  timings = os.path.join(tiny_corpus, "word_timings", "Test_01.csv")
  run = subprocess.run(
    [
      sys.executable,
      "-m",
      "emotion_tf.predict",
      f"--model={export_dir}",
      f"--audio={wav}",
      f"--word_timings={timings}",
      f"--embeddings={tiny_vec[0]}",
      f"--out={out_csv}",
    ],
    cwd=ROOT,
    env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
    capture_output=True,
    text=True,
    timeout=180,
  )
  assert run.returncode == 0, run.stderr[-3000:]
  rows = [
    line.split(";") for line in pathlib.Path(out_csv).read_text(encoding="utf-8").splitlines()
  ]
  predicted = np.array([[float(v) for v in r[2:]] for r in rows])
  times = np.array([float(r[1]) for r in rows])

  # The in-memory Keras model over the whole recording gives the same curves.
  model = keras.models.load_model(os.path.join(model_dir, "best.keras"))
  audio = corpus.load_audio(wav)
  frames = audio.shape[0] // 2205
  semantic, _ = frames_lib.semantic_frames(
    wt.read_timings_csv(timings), frames, tiny_vec[1], tiny_vec[2], 0.1, "zeros"
  )
  expected = model(
    {"audio": audio[None, : frames * 2205], "semantic": semantic[None]}, training=False
  ).numpy()[0]
  assert predicted.shape == (frames, 3)
  np.testing.assert_allclose(times, np.arange(frames) * 0.1, atol=1e-9)
  np.testing.assert_allclose(predicted, expected, atol=2e-5)

  # The prediction path's per-frame vectors equal what the TFRecords hold for that recording.
  stored = []
  for inputs, _ in pipeline.make_dataset(data_dir, "test", 4, False, include_ids=True):
    for rid, sem, nf in zip(
      inputs["recording_id"].numpy(),
      inputs["semantic"].numpy(),
      inputs["num_frames"].numpy(),
      strict=False,
    ):
      if rid == b"Test_01":
        stored.append(sem[:nf])
  stored = np.concatenate(stored)
  n = min(len(stored), frames)
  np.testing.assert_allclose(semantic[:n], stored[:n], atol=1e-6)
