"""Concordance loss (paper Eq. 8 and Sec. 5.2)."""

from collections.abc import Sequence

import keras
import tensorflow as tf

from emotion_tf.model import ccc

# Per-dimension weights of L = sum_k w_k (1 - rho_c,k) (Eq. 8 per dimension k = a, v, l).
#   mean:     (L_a + L_v + L_l) / 3, the paper (Sec. 5.2);
#   original: L_a + L_v / 2 + L_l / 3, the authors' train.py (`add_loss(loss / count)` for
#             count = 1, 2, 3; its total loss is the sum of the added losses).
LOSS_WEIGHTINGS = {"mean": (1.0 / 3, 1.0 / 3, 1.0 / 3), "original": (1.0, 1.0 / 2, 1.0 / 3)}


def dimension_weights(weighting: str | Sequence[float]) -> tf.Tensor:
  """float32 [3] weights of a LOSS_WEIGHTINGS name or an explicit sequence."""
  if isinstance(weighting, str):
    if weighting not in LOSS_WEIGHTINGS:
      raise ValueError(
        f"loss weighting must be one of {sorted(LOSS_WEIGHTINGS)}, got {weighting!r}"
      )
    weighting = LOSS_WEIGHTINGS[weighting]
  return tf.constant([float(w) for w in weighting], tf.float32)


def ccc_loss_from_statistics(
  stats: tf.Tensor, weighting: str | Sequence[float] = "mean"
) -> tf.Tensor:
  """sum_k w_k (1 - rho_c,k) from CCC sufficient statistics [6, dims] (Eq. 8); scalar float32.

  The one place the training loss is formed (train_lib's step and `ConcordanceLoss`).
  """
  rho = tf.cast(ccc.ccc_from_statistics(stats), tf.float32)
  return tf.reduce_sum(dimension_weights(weighting) * (1.0 - rho))


@keras.saving.register_keras_serializable(package="emotion_tf")
class ConcordanceLoss(keras.losses.Loss):
  """L = mean over dimensions of (1 - rho_c), over all valid frames of the batch.

  Eq. 8 per dimension, then L = (L_a + L_v + L_l) / 3 (Sec. 5.2). CCC is a batch
  statistic, so the loss is formed from the sufficient statistics of the whole
  (global) batch: under a tf.distribute strategy the statistics are all-reduced
  across replicas first (see `ccc.cross_replica_statistics`), each replica's loss
  equals the global batch's loss, and the replicas' gradients SUM to the
  single-device gradient. Do not divide this loss by the number of replicas.

  `weighting`: 'mean' (the paper), 'original' (L_a + L_v/2 + L_l/3, the authors' code) or
  explicit per-dimension weights (see LOSS_WEIGHTINGS).

  Call: loss(y_true [batch, frames, dims], y_pred [batch, frames, dims],
             sample_weight=mask [batch, frames] of valid frames (optional)).
  Returns a scalar float32.
  """

  def __init__(self, name="concordance_loss", weighting="mean", **kwargs):
    kwargs.pop("reduction", None)
    super().__init__(name=name, reduction="none", **kwargs)
    dimension_weights(weighting)  # validates
    self.weighting = weighting if isinstance(weighting, str) else [float(w) for w in weighting]

  def __call__(self, y_true, y_pred, sample_weight=None):
    stats = ccc.ccc_statistics(y_true, y_pred, sample_weight, dtype=tf.float32)
    stats = ccc.cross_replica_statistics(stats)
    return ccc_loss_from_statistics(stats, self.weighting)

  def call(self, y_true, y_pred):
    return self.__call__(y_true, y_pred)

  def get_config(self):
    config = super().get_config()
    config.update(weighting=self.weighting)
    return config
