"""Attention over two feature vectors (paper Eq. 5)."""

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="emotion_tf")
class PairAttention(keras.layers.Layer):
  """Attention(x_1, x_2) = alpha_1 x_1 + alpha_2 x_2 (paper Eq. 5).

  alpha_i = softmax_i(x_i . q / sqrt(d)), the softmax taken over the two inputs,
  with q in R^d a learnable query vector. The output is a convex combination of the
  two inputs, frame by frame.

  Inputs:  [x_1, x_2], each [..., d] (e.g. [batch, frames, d]).
  Output:  [..., d]; with `return_weights=True` in call, also alpha [..., 2].
  """

  def __init__(self, **kwargs):
    super().__init__(**kwargs)

  def build(self, input_shape):
    shape_1, shape_2 = input_shape
    d1, d2 = shape_1[-1], shape_2[-1]
    if d1 is None or d1 != d2:
      raise ValueError(
        f"PairAttention needs two inputs of the same known last dimension, got {d1} and {d2}"
      )
    self.units = int(d1)
    self.query = self.add_weight(
      name="query", shape=(self.units,), initializer="glorot_uniform", trainable=True
    )
    self.built = True

  def call(self, inputs, return_weights=False):
    x1, x2 = inputs
    scale = 1.0 / math.sqrt(self.units)
    q = tf.cast(self.query, x1.dtype)
    scores = (
      tf.stack([tf.reduce_sum(x1 * q, axis=-1), tf.reduce_sum(x2 * q, axis=-1)], axis=-1) * scale
    )  # [..., 2]
    alpha = tf.nn.softmax(scores, axis=-1)  # [..., 2]
    out = alpha[..., 0:1] * x1 + alpha[..., 1:2] * x2  # [..., d]
    if return_weights:
      return out, alpha
    return out

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[0])
