"""Concordance correlation coefficient (paper Eq. 8), in numpy and TensorFlow.

  rho_c = 2 sigma_xy / (sigma_x^2 + sigma_y^2 + (mu_x - mu_y)^2)

with population (biased) moments, as in AVEC 2017. The TensorFlow side works
through the sufficient statistics (count, sum x, sum y, sum x^2, sum y^2,
sum xy) per dimension, so that statistics from several batches, replicas or
workers can be summed first and turned into one exact CCC afterwards.
"""

import numpy as np
import tensorflow as tf

# Row order of the statistics tensor [NUM_STATISTICS, dims].
STAT_COUNT, STAT_X, STAT_Y, STAT_XX, STAT_YY, STAT_XY = range(6)
NUM_STATISTICS = 6
_EPS = 1e-12


def concordance_cc_numpy(x, y, axis: int = 0) -> np.ndarray:
  """CCC of `x` (gold) and `y` (prediction) along `axis` (Eq. 8), two-pass, float64.

  Args:
    x, y: arrays of the same shape, e.g. [frames] or [frames, 3].
    axis: the axis holding the frames.

  Returns:
    CCC with `axis` removed (a float for 1-D input).
  """
  x = np.asarray(x, dtype=np.float64)
  y = np.asarray(y, dtype=np.float64)
  if x.shape != y.shape:
    raise ValueError(f"gold and prediction shapes differ: {x.shape} vs {y.shape}")
  if x.shape[axis] == 0:
    raise ValueError("CCC of an empty sequence is undefined")
  mx, my = x.mean(axis=axis, keepdims=True), y.mean(axis=axis, keepdims=True)
  vx = ((x - mx) ** 2).mean(axis=axis)
  vy = ((y - my) ** 2).mean(axis=axis)
  cov = ((x - mx) * (y - my)).mean(axis=axis)
  denom = vx + vy + (np.squeeze(mx, axis) - np.squeeze(my, axis)) ** 2
  return 2.0 * cov / np.maximum(denom, _EPS)


def ccc_statistics(
  y_true: tf.Tensor, y_pred: tf.Tensor, mask: tf.Tensor | None = None, dtype: tf.DType = tf.float32
) -> tf.Tensor:
  """Sufficient statistics of Eq. 8 over all valid frames.

  Args:
    y_true, y_pred: [..., dims] (e.g. [batch, frames, 3]).
    mask: optional [...] (e.g. [batch, frames]) of 0/1 (or bool) marking valid
      frames; also accepted with a trailing singleton axis.
    dtype: dtype of the statistics (float64 for long accumulations).

  Returns:
    [6, dims]: rows count, sum x, sum y, sum x^2, sum y^2, sum xy (x = y_true).
  """
  x = tf.cast(y_true, dtype)
  y = tf.cast(y_pred, dtype)
  dims = tf.shape(x)[-1]
  x = tf.reshape(x, [-1, dims])
  y = tf.reshape(y, [-1, dims])
  w = tf.ones_like(x[:, :1]) if mask is None else tf.reshape(tf.cast(mask, dtype), [-1, 1])
  xw, yw = x * w, y * w
  count = tf.reduce_sum(w, axis=0) * tf.ones_like(x[0])
  return tf.stack(
    [
      count,
      tf.reduce_sum(xw, axis=0),
      tf.reduce_sum(yw, axis=0),
      tf.reduce_sum(xw * x, axis=0),
      tf.reduce_sum(yw * y, axis=0),
      tf.reduce_sum(xw * y, axis=0),
    ]
  )


def ccc_from_statistics(stats: tf.Tensor) -> tf.Tensor:
  """CCC per dimension [dims] from summed statistics [6, dims] (Eq. 8)."""
  n = tf.maximum(stats[STAT_COUNT], 1.0)
  mx = stats[STAT_X] / n
  my = stats[STAT_Y] / n
  vx = stats[STAT_XX] / n - mx * mx
  vy = stats[STAT_YY] / n - my * my
  cov = stats[STAT_XY] / n - mx * my
  denom = vx + vy + tf.square(mx - my)
  return 2.0 * cov / tf.maximum(denom, tf.cast(_EPS, stats.dtype))


def concordance_cc(
  y_true: tf.Tensor, y_pred: tf.Tensor, mask: tf.Tensor | None = None
) -> tf.Tensor:
  """CCC per dimension [dims] over all valid frames of a batch (Eq. 8).

  Args:
    y_true, y_pred: [..., dims]; mask: optional [...] of valid frames.
  """
  return ccc_from_statistics(ccc_statistics(y_true, y_pred, mask))


def cross_replica_statistics(stats: tf.Tensor) -> tf.Tensor:
  """Sums statistics over the replicas of the current tf.distribute strategy.

  In a replica context with more than one replica, returns a tensor whose value
  is the all-reduced sum and whose gradient w.r.t. the local `stats` is the
  identity (the other replicas' contributions enter as constants). Each replica
  then computes the global batch's loss, and the sum of the replicas' gradients
  equals the gradient of single-device training on the whole global batch —
  which is how tf.distribute / Keras aggregate gradients (SUM). Outside a
  replica context, or with one replica, returns `stats` unchanged.
  """
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return stats
  local = tf.stop_gradient(stats)
  total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, local)
  return stats + tf.stop_gradient(total - local)
