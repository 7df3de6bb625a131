"""Concordance loss (paper Eq. 8 and Sec. 5.2)."""

import keras
import tensorflow as tf

from emotion_tf import ccc


@keras.saving.register_keras_serializable(package="emotion_tf")
class ConcordanceLoss(keras.losses.Loss):
  """L = mean over dimensions of (1 - rho_c), over all valid frames of the batch.

  Eq. 8 per dimension, then L = (L_a + L_v + L_l) / 3 (Sec. 5.2). CCC is a batch
  statistic, so the loss is formed from the sufficient statistics of the whole
  (global) batch: under a tf.distribute strategy the statistics are all-reduced
  across replicas first (see `ccc.cross_replica_statistics`), each replica's loss
  equals the global batch's loss, and the replicas' gradients SUM to the
  single-device gradient. Do not divide this loss by the number of replicas.

  Call: loss(y_true [batch, frames, dims], y_pred [batch, frames, dims],
             sample_weight=mask [batch, frames] of valid frames (optional)).
  Returns a scalar float32.
  """

  def __init__(self, name="concordance_loss", **kwargs):
    kwargs.pop("reduction", None)
    super().__init__(name=name, reduction="none", **kwargs)

  def __call__(self, y_true, y_pred, sample_weight=None):
    stats = ccc.ccc_statistics(y_true, y_pred, sample_weight, dtype=tf.float32)
    stats = ccc.cross_replica_statistics(stats)
    return tf.reduce_mean(1.0 - ccc.ccc_from_statistics(stats))

  def call(self, y_true, y_pred):
    return self.__call__(y_true, y_pred)
