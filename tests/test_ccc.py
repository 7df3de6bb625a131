"""CCC (Eq. 8): numpy/TF against an independent formula, loss and streaming metric."""

import numpy as np
import pytest
import tensorflow as tf

from emotion_tf.model import ccc
from emotion_tf.model.losses import ConcordanceLoss
from emotion_tf.model.metrics import ConcordanceCorrelation


def reference_ccc(x, y):
  """Textbook CCC via np.cov (population moments), independent of the library."""
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.float64)
  cov = np.cov(x, y, bias=True)
  return 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (x.mean() - y.mean()) ** 2)


@pytest.fixture
def rng():
  return np.random.default_rng(0)


def test_numpy_and_tf_match_reference(rng):
  x = rng.uniform(-1, 1, size=(4, 7, 3))
  y = 0.6 * x + rng.normal(0, 0.3, size=x.shape)
  expected = [reference_ccc(x[..., d].ravel(), y[..., d].ravel()) for d in range(3)]
  np.testing.assert_allclose(
    ccc.concordance_cc_numpy(x.reshape(-1, 3), y.reshape(-1, 3)), expected, rtol=1e-10
  )
  np.testing.assert_allclose(ccc.concordance_cc(x, y).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_special_cases(rng):
  x = rng.normal(size=200)
  assert ccc.concordance_cc_numpy(x, x) == pytest.approx(1.0)
  assert ccc.concordance_cc_numpy(x, -x) == pytest.approx(reference_ccc(x, -x))
  assert ccc.concordance_cc_numpy(x, -x) < 0
  assert ccc.concordance_cc_numpy(x, np.full_like(x, 0.3)) == pytest.approx(0.0, abs=1e-12)
  shifted = ccc.concordance_cc_numpy(x, x + 0.5)
  # Bias shift: perfect correlation, CCC = 2 var / (2 var + 0.25).
  assert shifted == pytest.approx(2 * x.var() / (2 * x.var() + 0.25))
  assert shifted < 1.0
  for y in (x, -x, np.full_like(x, 0.3), x + 0.5):
    tf_value = ccc.concordance_cc(x[:, None], y[:, None]).numpy()[0]
    assert tf_value == pytest.approx(reference_ccc(x, y), abs=1e-5)


def test_loss_is_mean_one_minus_ccc_over_valid_frames(rng):
  y_true = rng.uniform(-1, 1, size=(3, 6, 3)).astype(np.float32)
  y_pred = rng.uniform(-1, 1, size=(3, 6, 3)).astype(np.float32)
  num_frames = np.array([6, 4, 2])
  mask = (np.arange(6)[None] < num_frames[:, None]).astype(np.float32)
  valid = mask.astype(bool)
  expected = np.mean(
    [1 - reference_ccc(y_true[..., d][valid], y_pred[..., d][valid]) for d in range(3)]
  )
  loss = ConcordanceLoss()(y_true, y_pred, sample_weight=mask)
  assert float(loss) == pytest.approx(expected, abs=1e-5)
  # Padded frames change nothing, whatever they hold.
  y_true2, y_pred2 = y_true.copy(), y_pred.copy()
  y_true2[~valid] = 0.9
  y_pred2[~valid] = -0.7
  loss2 = ConcordanceLoss()(y_true2, y_pred2, sample_weight=mask)
  assert float(loss2) == pytest.approx(float(loss), abs=1e-6)
  metrics = []
  for yt, yp in ((y_true, y_pred), (y_true2, y_pred2)):
    metric = ConcordanceCorrelation()
    metric.update_state(yt, yp, sample_weight=mask)
    metrics.append(metric.per_dimension().numpy())
  np.testing.assert_allclose(metrics[1], metrics[0], rtol=1e-9)
  np.testing.assert_allclose(1 - metrics[0].mean(), expected, atol=1e-5)


def test_streaming_metric_equals_one_shot_over_random_splits(rng):
  n = 57
  y_true = rng.uniform(-1, 1, size=(n, 5, 3))
  y_pred = 0.5 * y_true + rng.normal(0, 0.4, size=y_true.shape) + 0.1
  lengths = rng.integers(1, 6, size=n)
  mask = np.arange(5)[None] < lengths[:, None]
  expected = [reference_ccc(y_true[..., d][mask], y_pred[..., d][mask]) for d in range(3)]
  for trial in range(3):
    cuts = np.sort(rng.choice(np.arange(1, n), size=4 + trial, replace=False))
    metric = ConcordanceCorrelation()
    for part in np.split(np.arange(n), cuts):
      metric.update_state(y_true[part], y_pred[part], sample_weight=mask[part])
    np.testing.assert_allclose(metric.per_dimension().numpy(), expected, rtol=1e-9)
    assert float(metric.result()) == pytest.approx(np.mean(expected), rel=1e-9)
  # Statistics from several "replicas" add up exactly.
  metric = ConcordanceCorrelation(index=1)
  halves = np.array_split(np.arange(n), 2)
  total = sum(ccc.ccc_statistics(y_true[h], y_pred[h], mask[h], dtype=tf.float64) for h in halves)
  metric.update_from_statistics(total)
  assert float(metric.result()) == pytest.approx(expected[1], rel=1e-9)
  metric.reset_state()
  assert np.all(metric.statistics.numpy() == 0)


def test_cross_replica_statistics_gives_global_loss_and_gradients():
  """Two logical CPUs under MirroredStrategy: loss and summed gradients equal one device."""
  cpus = tf.config.list_physical_devices("CPU")
  if len(tf.config.list_logical_devices("CPU")) < 2:
    try:
      tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
      )
    except RuntimeError:
      pytest.skip("logical devices already initialised in this process")
  rng = np.random.default_rng(1)
  y_true = rng.uniform(-1, 1, size=(4, 5, 3)).astype(np.float32)
  x = rng.normal(size=(4, 5, 3)).astype(np.float32)
  w0 = np.array([0.3, -0.2, 0.5], np.float32)
  w = tf.Variable(w0)
  with tf.GradientTape() as tape:
    single = ConcordanceLoss()(y_true, tf.tanh(x * w))
  grad_single = tape.gradient(single, w).numpy()

  strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  with strategy.scope():
    wd = tf.Variable(w0)

  def step(inputs):
    xt, yt = inputs
    with tf.GradientTape() as tape:
      loss = ConcordanceLoss()(yt, tf.tanh(xt * wd))
    return loss, tape.gradient(loss, wd)

  dataset = tf.data.Dataset.from_tensor_slices((x, y_true)).batch(4)
  dist = strategy.experimental_distribute_dataset(dataset)
  batch = next(iter(dist))
  losses, grads = strategy.run(tf.function(step), args=(batch,))
  per_replica_losses = strategy.experimental_local_results(losses)
  for value in per_replica_losses:
    assert float(value) == pytest.approx(float(single), abs=1e-5)
  summed = strategy.reduce(tf.distribute.ReduceOp.SUM, grads, axis=None).numpy()
  np.testing.assert_allclose(summed, grad_single, rtol=1e-4, atol=1e-6)
