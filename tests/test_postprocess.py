"""emotion_tf.serving.postprocess: shift/smoothing against numpy and scipy references, Devel tuning
recovering a known lag, the file round trip, and `emotion_tf.evaluate --postprocess`."""

import json
import os

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from test_evaluation import (
  reference_ccc,
  reference_predictions,
  setup,  # noqa: F401  (module fixture: tiny TFRecords + model dir)
)

from emotion_tf.serving import postprocess
from emotion_tf.training import evaluate_lib


@pytest.mark.parametrize("sigma", [0.4, 1.0, 1.1, 2.5, 7.0, 40.0])
def test_gaussian_smooth_matches_scipy(sigma):
  x = np.random.default_rng(1).normal(size=(60, 3))
  np.testing.assert_allclose(
    postprocess.gaussian_smooth(x, sigma),
    gaussian_filter1d(x, sigma, axis=0, mode="nearest"),
    atol=1e-12,
  )
  np.testing.assert_array_equal(postprocess.gaussian_smooth(x, 0.0), x)


def test_shift_frames_repeats_the_edges():
  x = np.arange(6.0)
  np.testing.assert_array_equal(postprocess.shift_frames(x, 2), [2, 3, 4, 5, 5, 5])
  np.testing.assert_array_equal(postprocess.shift_frames(x, -3), [0, 0, 0, 0, 1, 2])
  np.testing.assert_array_equal(postprocess.shift_frames(x, 0), x)
  np.testing.assert_array_equal(postprocess.shift_frames(x, 99), [5] * 6)


def test_apply_is_shift_then_smooth_per_dimension():
  rng = np.random.default_rng(2)
  y = rng.normal(size=(80, 3))
  pp = postprocess.PostProcessing((0.5, -0.2, 0.0), (1.0, 0.0, 0.3))
  out = pp.apply(y)
  ref = np.stack(
    [
      gaussian_filter1d(y[np.minimum(np.arange(80) + 5, 79), 0], 10.0, mode="nearest"),
      y[np.maximum(np.arange(80) - 2, 0), 1],
      gaussian_filter1d(y[:, 2], 3.0, mode="nearest"),
    ],
    axis=1,
  )
  np.testing.assert_allclose(out, ref, atol=1e-6)
  assert out.dtype == np.float32
  with pytest.raises(postprocess.PostprocessError, match=r"\[frames, 3\]"):
    pp.apply(y[:, :2])


def test_fit_recovers_a_known_lag_and_smooths_noise():
  """Predictions = the gold curve 0.5 s late plus white noise: the fit chooses shift +0.5 s
  for every dimension, a non-zero smoothing, and raises the CCC (checked independently)."""
  rng = np.random.default_rng(3)
  labels, preds = {}, {}
  for i, n in enumerate((300, 420, 250)):
    gold = gaussian_filter1d(rng.normal(size=(n + 40, 3)), 15.0, axis=0) * 8
    labels[f"r{i}"] = gold[20 : 20 + n]
    late = gold[15 : 15 + n]  # value of t - 5 frames at t: 0.5 s late
    preds[f"r{i}"] = late + rng.normal(scale=0.5, size=late.shape)
  pp, report = postprocess.fit_postprocessing(preds, labels)
  assert pp.shift_s == (0.5, 0.5, 0.5)
  assert all(s > 0 for s in pp.sigma_s)
  ids = sorted(labels)
  gold = np.concatenate([labels[r] for r in ids])
  out = np.concatenate([pp.apply(preds[r]) for r in ids])
  raw = np.concatenate([preds[r] for r in ids])
  np.testing.assert_allclose(list(report["ccc"].values()), reference_ccc(gold, out), atol=1e-9)
  np.testing.assert_allclose(list(report["ccc_raw"].values()), reference_ccc(gold, raw), atol=1e-9)
  assert (reference_ccc(gold, out) > reference_ccc(gold, raw) + 0.05).all()
  assert report["grid"] == len(postprocess.DEFAULT_SHIFTS_S) * len(postprocess.DEFAULT_SIGMAS_S)


def test_fit_keeps_identity_when_nothing_helps():
  """Perfect predictions: no shift or smoothing can beat CCC 1; ties go to the neutral
  setting when it is listed first."""
  gold = {"r": np.random.default_rng(4).normal(size=(50, 3))}
  pp, report = postprocess.fit_postprocessing(
    gold, gold, shifts_s=(0.0, 0.5, -0.5), sigmas_s=(0.0, 0.5)
  )
  assert pp == postprocess.identity()
  assert report["ccc"] == pytest.approx({"arousal": 1.0, "valence": 1.0, "liking": 1.0})


def test_file_round_trip_and_bad_files(tmp_path):
  pp = postprocess.PostProcessing((0.2, 0.0, -1.0), (0.5, 2.0, 0.0))
  path = str(tmp_path / "pp.json")
  postprocess.write(path, pp, {"grid": 1})
  assert postprocess.read(path) == pp
  with pytest.raises(postprocess.PostprocessError, match="missing"):
    postprocess.read(str(tmp_path / "nope.json"))
  bad = tmp_path / "bad.json"
  bad.write_text("[1, 2]")
  with pytest.raises(postprocess.PostprocessError, match=f"{bad}: not a post-processing"):
    postprocess.read(str(bad))
  bad.write_text(
    json.dumps({"shift_s": [0], "sigma_s": [0, 0, 0], "hop_s": 0.1, "label_names": ["a", "b", "c"]})
  )
  with pytest.raises(postprocess.PostprocessError, match=f"{bad}: .*one entry per dimension"):
    postprocess.read(str(bad))


def test_evaluate_postprocess_devel_then_file(setup, tmp_path):  # noqa: F811
  """--postprocess devel: settings fitted on Devel's predictions (recomputed here from the
  model), applied to every partition; the CSVs and 'ccc' are post-processed, 'ccc_raw' is the
  model's; the written file applied to another run gives the same figures."""
  out = str(tmp_path / "pp")
  summary = evaluate_lib.run_evaluation(
    setup["model_dir"],
    setup["data_dir"],
    ["Devel", "Test"],
    out_dir=out,
    plots=False,
    postprocess="devel",
  )
  devel_ids = ["Devel_01", "Devel_02", "Devel_03"]
  ref = reference_predictions(setup["model"], setup["truth"], devel_ids + ["Test_01"])
  gold = {r: setup["truth"][r]["labels"][: setup["truth"][r]["frames"]] for r in ref}
  expected, _ = postprocess.fit_postprocessing(
    {r: ref[r] for r in devel_ids}, {r: gold[r] for r in devel_ids}
  )
  on_file = postprocess.read(os.path.join(out, postprocess.FILENAME))
  assert on_file.shift_s == expected.shift_s and on_file.sigma_s == expected.sigma_s
  for partition, ids in (("devel", devel_ids), ("test", ["Test_01"])):
    result = summary["partitions"][partition]
    g = np.concatenate([gold[r] for r in ids])
    np.testing.assert_allclose(
      list(result["ccc_raw"].values()),
      reference_ccc(g, np.concatenate([ref[r] for r in ids])),
      atol=1e-4,
    )
    post = np.concatenate([on_file.apply(ref[r]) for r in ids])
    np.testing.assert_allclose(list(result["ccc"].values()), reference_ccc(g, post), atol=1e-4)
    rows = np.loadtxt(
      os.path.join(out, "predictions", partition, ids[0] + ".csv"), delimiter=";", usecols=(2, 3, 4)
    )
    np.testing.assert_allclose(rows, on_file.apply(ref[ids[0]]), atol=2e-5)
  assert summary["postprocess"]["source"] == "devel"
  again = evaluate_lib.run_evaluation(
    setup["model_dir"],
    setup["data_dir"],
    ["Test"],
    out_dir=str(tmp_path / "again"),
    plots=False,
    postprocess=os.path.join(out, postprocess.FILENAME),
  )
  assert again["partitions"]["test"]["ccc"] == pytest.approx(summary["partitions"]["test"]["ccc"])


def test_evaluate_postprocess_file_for_other_labels_is_refused(setup, tmp_path):  # noqa: F811
  path = str(tmp_path / "other.json")
  postprocess.write(path, postprocess.PostProcessing((0.0,) * 3, (0.0,) * 3, 0.04), {})
  with pytest.raises(postprocess.PostprocessError, match=f"{path}: made for .* 0.04 s hop"):
    evaluate_lib.run_evaluation(
      setup["model_dir"], setup["data_dir"], ["Test"], out_dir=str(tmp_path / "x"), postprocess=path
    )
