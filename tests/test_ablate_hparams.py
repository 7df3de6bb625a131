"""Ablation runner's TensorBoard HParams: read back from the event files with the plugin protos."""

import glob
import os

import pytest

from emotion_tf.experiments import ablate_lib as ablate


def read_events(directory):
  import tensorflow as tf

  values = []
  for path in sorted(glob.glob(os.path.join(directory, "events.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      values.extend(event.summary.value)
  return values


def test_write_hparams_trial_and_experiment_config(tmp_path):
  import tensorflow as tf
  from tensorboard.plugins.hparams import plugin_data_pb2

  log_dir = str(tmp_path / "hparams")
  rows = [
    {
      "name": "Paralinguistic",
      "variant": "paralinguistic",
      "space": None,
      "ccc": {"arousal": 0.5, "valence": 0.1, "liking": 0.2},
      "ccc_mean": 0.8 / 3,
    },
    {
      "name": "Align Speech2Vec",
      "variant": "semantic",
      "space": "aligned",
      "ccc": {"arousal": 0.25, "valence": 0.45, "liking": 0.3},
      "ccc_mean": 1.0 / 3,
    },
  ]
  for row in rows:
    ablate.write_hparams(log_dir, row, epochs=3, learning_rate=1e-3, seed=7)

  config = [v for v in read_events(log_dir) if v.metadata.plugin_data.plugin_name == "hparams"]
  assert len(config) == 1  # written once for both rows
  data = plugin_data_pb2.HParamsPluginData.FromString(config[0].metadata.plugin_data.content)
  assert [h.name for h in data.experiment.hparam_infos] == [
    "variant",
    "semantic_space",
    "epochs",
    "learning_rate",
    "seed",
  ]
  assert [m.name.tag for m in data.experiment.metric_infos] == [
    "devel_ccc/arousal",
    "devel_ccc/valence",
    "devel_ccc/liking",
    "devel_ccc/mean",
  ]

  for row, key, space in (
    (rows[0], "paralinguistic", "none"),
    (rows[1], "align_speech2vec", "aligned"),
  ):
    values = read_events(os.path.join(log_dir, key))
    session = [v for v in values if v.metadata.plugin_data.plugin_name == "hparams"]
    start = plugin_data_pb2.HParamsPluginData.FromString(
      session[0].metadata.plugin_data.content
    ).session_start_info
    assert start.hparams["variant"].string_value == row["variant"]
    assert start.hparams["semantic_space"].string_value == space
    assert start.hparams["epochs"].number_value == 3 and start.hparams["seed"].number_value == 7
    assert start.hparams["learning_rate"].number_value == pytest.approx(1e-3)
    scalars = {
      v.tag: float(tf.make_ndarray(v.tensor))
      for v in values
      if v.metadata.plugin_data.plugin_name == "scalars"
    }
    want = {f"devel_ccc/{n}": row["ccc"][n] for n in ("arousal", "valence", "liking")}
    want["devel_ccc/mean"] = row["ccc_mean"]
    assert scalars == pytest.approx(want)
