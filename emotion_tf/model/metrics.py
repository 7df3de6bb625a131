"""Streaming concordance correlation (paper Eq. 8) with exact accumulation."""

from collections.abc import Sequence

import keras
import tensorflow as tf

from emotion_tf import LABEL_NAMES
from emotion_tf.model import ccc


@keras.saving.register_keras_serializable(package="emotion_tf")
class ConcordanceCorrelation(keras.metrics.Metric):
  """CCC over every frame seen so far, as if all batches were concatenated.

  Accumulates the exact sufficient statistics (count, sum x, sum y, sum x^2,
  sum y^2, sum xy) per dimension in float64, so `result()` equals the one-shot
  CCC of the concatenated partition (the AVEC convention), whatever the batch
  split. Under a strategy, reduce per-replica statistics with
  `strategy.reduce(SUM, ...)` and feed them with `update_from_statistics` in the
  cross-replica context (what `emotion_tf.training.train_lib` does); statistics from
  several replicas or workers add up exactly.

  update_state(y_true [batch, frames, dims], y_pred [same], sample_weight=mask
  [batch, frames]). result(): the mean CCC over dimensions when `index` is None,
  else the CCC of dimension `index`; `per_dimension()` gives [dims].
  """

  def __init__(
    self,
    num_dims: int = 3,
    index: int | None = None,
    name: str = "ccc",
    label_names: Sequence[str] = LABEL_NAMES,
    **kwargs,
  ):
    super().__init__(name=name, **kwargs)
    self.num_dims = int(num_dims)
    self.index = None if index is None else int(index)
    self.label_names = tuple(label_names)
    self.statistics = self.add_variable(
      shape=(ccc.NUM_STATISTICS, self.num_dims),
      initializer="zeros",
      dtype="float64",
      name="statistics",
    )

  def update_state(self, y_true, y_pred, sample_weight=None):
    stats = ccc.ccc_statistics(y_true, y_pred, sample_weight, dtype=tf.float64)
    self.update_from_statistics(stats)

  def update_from_statistics(self, stats):
    """Adds statistics [6, dims] (e.g. already summed over replicas)."""
    self.statistics.assign_add(tf.cast(stats, tf.float64))

  def per_dimension(self):
    """CCC per dimension [dims] (float64)."""
    return ccc.ccc_from_statistics(tf.convert_to_tensor(self.statistics))

  def result(self):
    values = self.per_dimension()
    if self.index is None:
      return tf.reduce_mean(values)
    return values[self.index]

  def reset_state(self):
    self.statistics.assign(tf.zeros_like(self.statistics))

  def get_config(self):
    config = super().get_config()
    config.update(num_dims=self.num_dims, index=self.index, label_names=list(self.label_names))
    return config
