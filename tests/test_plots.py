"""Gold-vs-prediction PNGs: evaluate writes one per recording, the TensorBoard image is the same."""

import io
import os

import numpy as np
import pytest
from test_evaluation import RECORDINGS, write_tiny_tfrecords
from test_export import make_model_dir

from emotion_tf.training import evaluate_lib, plots

WIDTH, HEIGHT = 1000, 700


def rgb(png_bytes):
  from PIL import Image

  with Image.open(io.BytesIO(png_bytes)) as im:
    return np.asarray(im.convert("RGB"))


def coloured_rows(image, colour, tol=60):
  """Row indices holding pixels within `tol` of `colour`."""
  near = np.abs(image.astype(int) - np.array(colour)).max(-1) < tol
  return np.flatnonzero(near.any(1))


def test_recording_png_draws_both_traces_in_each_panel():
  t = np.arange(80) * 0.1
  gold = np.stack([np.sin(t), np.cos(t), np.sin(2 * t)], 1) * 0.8
  pred = -gold
  image = rgb(plots.recording_png(gold, pred, title="Devel_07"))
  assert image.shape == (HEIGHT, WIDTH, 3)
  assert (image < 250).any(-1).mean() > 0.02  # not blank
  red_rows = coloured_rows(image, (214, 39, 40))  # tab:red prediction
  black_rows = coloured_rows(image, (0, 0, 0), tol=40)
  for panel in range(3):  # every third of the height has both
    lo, hi = panel * HEIGHT // 3, (panel + 1) * HEIGHT // 3
    assert ((red_rows >= lo) & (red_rows < hi)).sum() > 20
    assert ((black_rows >= lo) & (black_rows < hi)).sum() > 20
  with pytest.raises(ValueError, match=r"Devel_07: gold \(80, 3\) and prediction \(80, 2\)"):
    plots.recording_png(gold, pred[:, :2], title="Devel_07")


def test_evaluate_writes_one_png_per_recording_and_training_image_matches(tmp_path):
  import matplotlib.image as mpimg

  data_dir = str(tmp_path / "tfrecords")
  write_tiny_tfrecords(data_dir, seed=1)
  model_dir = str(tmp_path / "model")
  model = make_model_dir(model_dir, seed=2)
  out = str(tmp_path / "eval")
  summary = evaluate_lib.run_evaluation(
    model_dir, data_dir, ["Devel", "Test"], out_dir=out, batch_size=4
  )
  for partition, recs in RECORDINGS.items():
    plot_dir = os.path.join(out, "plots", partition)
    assert summary["partitions"][partition]["plots_dir"] == plot_dir
    assert sorted(os.listdir(plot_dir)) == sorted(f"{rid}.png" for rid in recs)
    for rid in recs:
      image = mpimg.imread(os.path.join(plot_dir, f"{rid}.png"))  # float [H, W, 4] in [0, 1]
      assert image.shape[:2] == (HEIGHT, WIDTH)
      assert image[..., :3].std() > 0.05 and (image[..., :3] < 0.95).any(-1).mean() > 0.02
  # The PNG is exactly the shared function's figure of the stitched gold and prediction.
  preds, gold = evaluate_lib.predict_partition(model, data_dir, "devel", batch_size=4)
  with open(os.path.join(out, "plots", "devel", "Devel_01.png"), "rb") as f:
    written = rgb(f.read())
  np.testing.assert_array_equal(
    written, rgb(plots.recording_png(gold["Devel_01"], preds["Devel_01"], title="Devel_01 (devel)"))
  )
  # --noplots equivalent: no plots directory.
  evaluate_lib.run_evaluation(
    model_dir, data_dir, ["Devel"], out_dir=str(tmp_path / "np"), plots=False
  )
  assert not os.path.exists(tmp_path / "np" / "plots")

  # TensorBoard image of training: the same figure for the first Devel recording, decoded.
  from emotion_tf.training import train_lib

  config = train_lib.TrainConfig(
    data_dir=data_dir, model_dir=str(tmp_path / "m2"), eval_partition="devel", batch_size=4
  )
  image = train_lib._eval_curve_image(model, config, None)
  assert image.dtype == np.uint8 and image.shape == (HEIGHT, WIDTH, 3)
  np.testing.assert_array_equal(image, written)
