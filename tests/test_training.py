"""Training loop: distribution equivalence, crash/resume, NaN stop, set-up errors, TensorBoard."""

import glob
import logging
import os
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from emotion_tf.data import pipeline
from emotion_tf.model.models import ModelConfig
from emotion_tf.training import train_lib

SMALL = ModelConfig(semantic_dim=8, cnn_filters=(4, 6, 8), fusion_units=8, lstm_units=8)


def config(data_dir, model_dir, **overrides):
  base = dict(
    data_dir=data_dir,
    model_dir=str(model_dir),
    epochs=1,
    batch_size=2,
    backup_every_steps=2,
    log_every_steps=1,
    seed=3,
  )
  base.update(overrides)
  return train_lib.TrainConfig(**base)


def weights_of(model_dir, name="last.keras"):
  return keras.models.load_model(os.path.join(model_dir, name)).get_weights()


def one_device():
  return tf.distribute.MirroredStrategy(["/cpu:0"])


def two_devices():
  return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.mark.parametrize("clip_norm", [0.0, 1e-3])
def test_two_replicas_match_one_device(tiny_tfrecords, tmp_path, clip_norm):
  """Same global batch, SGD: identical updates (loss from all-reduced CCC statistics,
  gradients summed, global-norm clip applied to the global gradient)."""
  data_dir = tiny_tfrecords[0]
  model_config = SMALL.replace(dropout=0.0, lstm_dropout=0.0)
  results = []
  for name, strategy in (("one", one_device()), ("two", two_devices())):
    cfg = config(
      data_dir,
      tmp_path / name,
      optimizer="sgd",
      learning_rate=0.5,
      clip_norm=clip_norm,
      steps_per_epoch=2,
      eval_partition="",
    )
    losses = []
    out = train_lib.train(
      cfg,
      model_config,
      strategy=strategy,
      step_callback=lambda step, loss, losses=losses: losses.append(loss),
    )
    assert out["num_replicas"] == strategy.num_replicas_in_sync
    results.append((losses, weights_of(cfg.model_dir)))
  (losses_1, w_1), (losses_2, w_2) = results
  np.testing.assert_allclose(losses_2, losses_1, rtol=1e-4, atol=1e-5)
  initial = build_initial_weights(model_config)
  moved = max(float(np.abs(a - b).max()) for a, b in zip(w_1, initial, strict=False))
  assert moved > 1e-4  # the steps did change the weights
  # atol: two half-batch gradients summed vs one full-batch gradient differ by float32
  # reduction order, which the CCC loss's division by small-batch variances amplifies; seen up
  # to 2.7e-5 on near-zero weights of one CPU. A wrong replica sum or scale moves weights by the
  # order of `moved` itself, 1 000 times this tolerance.
  for a, b in zip(w_2, w_1, strict=False):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3 * moved)


def build_initial_weights(model_config, seed=3):
  keras.utils.set_random_seed(seed)
  from emotion_tf.model.models import build_model

  return build_model(model_config).get_weights()


def test_batch_not_divisible_by_replicas(tiny_tfrecords, tmp_path):
  with pytest.raises(train_lib.TrainingSetupError, match="not divisible by the number of replicas"):
    train_lib.train(
      config(tiny_tfrecords[0], tmp_path / "m", batch_size=3), SMALL, strategy=two_devices()
    )


def test_crash_resumes_from_backup_and_matches_uninterrupted_run(tiny_tfrecords, tmp_path):
  data_dir = tiny_tfrecords[0]
  full_dir = tmp_path / "full"
  full = train_lib.train(config(data_dir, full_dir, epochs=2), SMALL, strategy=one_device())
  steps_per_epoch = full["global_step"] // 2
  assert full["epochs_completed"] == 2 and steps_per_epoch >= 3

  crash_at = steps_per_epoch + 2  # mid-epoch 1; last backup at an even step before it

  def crash(step, loss):
    if step == crash_at:
      raise KeyboardInterrupt("simulated crash")

  crash_dir = tmp_path / "crash"
  with pytest.raises(KeyboardInterrupt):
    train_lib.train(
      config(data_dir, crash_dir, epochs=2), SMALL, strategy=one_device(), step_callback=crash
    )
  resumed = train_lib.train(config(data_dir, crash_dir, epochs=2), SMALL, strategy=one_device())
  expected_backup = max(s for s in range(1, crash_at + 1) if s % 2 == 0 or s == steps_per_epoch)
  assert resumed["resumed_from_step"] == expected_backup
  assert resumed["global_step"] == full["global_step"]
  for a, b in zip(weights_of(crash_dir), weights_of(full_dir), strict=False):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  # A finished run restarted with the same command does nothing more.
  again = train_lib.train(config(data_dir, crash_dir, epochs=2), SMALL, strategy=one_device())
  assert again["global_step"] == full["global_step"] and again["history"] == []

  # What a user watches in TensorBoard (from the uninterrupted run).
  tags = set()
  for path in glob.glob(str(full_dir / "logs" / "*" / "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  for tag in (
    "loss",
    "steps_per_second",
    "ccc/arousal",
    "ccc/valence",
    "ccc/liking",
    "ccc/mean",
    "config",
    "devel_prediction_vs_gold",
  ):
    assert tag in tags, (tag, sorted(tags))
  for name in ("best.keras", "last.keras", "config.json", "model_config.json"):
    assert os.path.exists(full_dir / name)
  assert (
    ModelConfig.from_json(pathlib.Path(full_dir / "model_config.json").read_text(encoding="utf-8"))
    == SMALL
  )


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_tfrecords, tmp_path):
  data_dir = tiny_tfrecords[0]

  def poisoned(partition, training_mode, seed):
    ds = pipeline.make_dataset(data_dir, partition, 2, training_mode, seed=seed)

    def poison(i, batch):
      inputs, labels = batch
      return inputs, tf.where(i >= 2, tf.fill(tf.shape(labels), np.nan), labels)

    return ds.enumerate().map(poison)

  model_dir = tmp_path / "m"
  with pytest.raises(
    train_lib.TrainingDivergedError, match=r"non-finite loss.*step 3.*last good checkpoint is kept"
  ):
    train_lib.train(
      config(data_dir, model_dir, backup_every_steps=1),
      SMALL,
      strategy=one_device(),
      dataset_fn=poisoned,
    )
  latest = tf.train.latest_checkpoint(str(model_dir / "backup"))
  assert latest is not None and latest.endswith("-2")
  reader = tf.train.load_checkpoint(latest)
  for name, _ in tf.train.list_variables(latest):
    value = reader.get_tensor(name)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
      assert np.all(np.isfinite(value)), name


def test_setup_errors_fail_before_training(tiny_tfrecords, tmp_path):
  data_dir = tiny_tfrecords[0]
  blocker = tmp_path / "file"
  blocker.write_text("x")
  with pytest.raises(train_lib.TrainingSetupError, match="model directory is not writable"):
    train_lib.train(config(data_dir, blocker / "model"), SMALL, strategy=one_device())
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(train_lib.TrainingSetupError, match="metadata.json: missing"):
    train_lib.train(config(str(empty), tmp_path / "m1"), SMALL, strategy=one_device())
  with pytest.raises(train_lib.TrainingSetupError, match="model expects 16, the data .* has 8"):
    train_lib.train(
      config(data_dir, tmp_path / "m2"), SMALL.replace(semantic_dim=16), strategy=one_device()
    )
  with pytest.raises(train_lib.TrainingSetupError, match="no shards"):
    train_lib.train(
      config(data_dir, tmp_path / "m3", eval_partition="Dev"), SMALL, strategy=one_device()
    )
  assert not os.path.exists(tmp_path / "m2" / "backup")


class _Messages(logging.Handler):
  """Collects the messages of the absl logger (caplog misses them under xdist workers, where
  absl's handler does not propagate to the root logger)."""

  def __init__(self):
    super().__init__(logging.INFO)
    self.messages = []

  def emit(self, record):
    self.messages.append(record.getMessage())


def test_resume_after_the_last_step_of_an_epoch_reports_the_true_epoch_loss(
  tiny_tfrecords, tmp_path
):
  """A backup taken at an epoch's last step, then a crash (kill -9) before
  the epoch end: the resumed run must report the epoch's real loss and CCC, not NaN."""
  data_dir = tiny_tfrecords[0]
  losses = []
  absl_logger, handler = logging.getLogger("absl"), _Messages()
  level = absl_logger.level
  absl_logger.addHandler(handler)
  absl_logger.setLevel(logging.INFO)
  try:
    full = train_lib.train(
      config(data_dir, tmp_path / "full"),
      SMALL,
      strategy=one_device(),
      step_callback=lambda step, loss: losses.append(loss),
    )
  finally:
    absl_logger.removeHandler(handler)
    absl_logger.setLevel(level)
  steps = full["global_step"]
  (reference,) = full["history"]
  np.testing.assert_allclose(reference["train_loss"], np.mean(losses), rtol=1e-6)
  # Progress lines: 1-based epoch, step s/S, loss, ETA (log_every_steps=1).
  assert any(f"epoch 1/1, step {steps}/" in m and "ETA" in m for m in handler.messages), (
    handler.messages[-5:]
  )

  def crash(step, loss):
    if step == steps:
      raise KeyboardInterrupt("simulated kill -9 after the backup of the last step")

  crash_config = config(data_dir, tmp_path / "crash", backup_every_steps=steps)
  with pytest.raises(KeyboardInterrupt):
    train_lib.train(crash_config, SMALL, strategy=one_device(), step_callback=crash)
  resumed = train_lib.train(crash_config, SMALL, strategy=one_device())
  assert resumed["resumed_from_step"] == steps
  (record,) = resumed["history"]
  assert np.isfinite(record["train_loss"])
  np.testing.assert_allclose(record["train_loss"], np.mean(losses), rtol=1e-6)
  for name in reference["train_ccc"]:
    np.testing.assert_allclose(
      record["train_ccc"][name], reference["train_ccc"][name], rtol=1e-4, atol=1e-6
    )


def test_train_steps_governs_training_and_repeats_the_data(tiny_tfrecords, tmp_path):
  """--train_steps: exactly that many updates, the data repeated to fill --steps_per_epoch,
  one evaluation per epoch; a rerun with more steps resumes and continues."""
  data_dir = tiny_tfrecords[0]
  one_pass = train_lib.train(config(data_dir, tmp_path / "pass"), SMALL, strategy=one_device())
  per_pass = one_pass["global_step"]
  per_epoch = per_pass + 2  # longer than one pass: the data must repeat
  steps = 2 * per_epoch + 1
  result = train_lib.train(
    config(data_dir, tmp_path / "steps", epochs=1, train_steps=steps, steps_per_epoch=per_epoch),
    SMALL,
    strategy=one_device(),
  )
  assert result["global_step"] == steps  # --epochs 1 ignored
  assert [r["global_step"] for r in result["history"]] == [per_epoch, 2 * per_epoch, steps]
  assert all("eval_ccc" in r for r in result["history"])
  more = train_lib.train(
    config(
      data_dir, tmp_path / "steps", epochs=1, train_steps=steps + 2, steps_per_epoch=per_epoch
    ),
    SMALL,
    strategy=one_device(),
  )
  assert more["resumed_from_step"] == steps and more["global_step"] == steps + 2
  # Without --steps_per_epoch an epoch is one pass; the last one is cut at train_steps.
  cut = train_lib.train(
    config(data_dir, tmp_path / "cut", train_steps=per_pass + 1), SMALL, strategy=one_device()
  )
  assert [r["global_step"] for r in cut["history"]] == [per_pass, per_pass + 1]


def test_non_finite_devel_ccc_stops_training_without_saving_best(tiny_tfrecords, tmp_path):
  """A finite training loss whose update leaves the model predicting NaN shows up first as a
  non-finite Devel CCC: training must stop (TrainingDivergedError, exit 1 in the binary), not
  go on ranking NaN evaluations and report a table of nan."""
  data_dir = tiny_tfrecords[0]

  def nan_on_eval(partition, training_mode, seed):
    ds = pipeline.make_dataset(data_dir, partition, 2, training_mode, seed=seed)
    if training_mode:
      return ds

    def poison(inputs, labels):
      inputs = dict(inputs, audio=inputs["audio"] * np.nan)
      return inputs, labels

    return ds.map(poison)

  model_dir = tmp_path / "m"
  with pytest.raises(train_lib.TrainingDivergedError, match=r"Devel CCC is not finite.*nan"):
    train_lib.train(
      config(data_dir, model_dir), SMALL, strategy=one_device(), dataset_fn=nan_on_eval
    )
  assert not (model_dir / "best.keras").exists()
