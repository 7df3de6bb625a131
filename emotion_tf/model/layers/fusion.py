"""Fusion of the semantic and paralinguistic views (paper Sec. 3.3)."""

import keras
import tensorflow as tf

from emotion_tf.model.layers.attention import PairAttention


@keras.saving.register_keras_serializable(package="emotion_tf")
class ConcatFusion(keras.layers.Layer):
  """Feature-level fusion x_fusion = [x_s, x_p] (Sec. 3.3, "Concatenation").

  Inputs: [x_s [..., d_s], x_p [..., d_p]].  Output: [..., d_s + d_p].
  """

  def call(self, inputs):
    x_s, x_p = inputs
    return tf.concat([x_s, x_p], axis=-1)

  def compute_output_shape(self, input_shape):
    s, p = input_shape
    d = None if s[-1] is None or p[-1] is None else s[-1] + p[-1]
    return tuple(s[:-1]) + (d,)


@keras.saving.register_keras_serializable(package="emotion_tf")
class DisentangledAttentionFusion(keras.layers.Layer):
  """'Disentangled' attention fusion (paper Eq. 4, 5, 6, 7).

    x~_s = W_s x_s + b_s,  x~_p = W_p x_p + b_p                  (Eq. 4)
    x~_sp = Attention(x~_s, x~_p)                                 (Eq. 5)
    a = W_a x~_sp + b_a,  v = W_v x~_sp + b_v,  l = W_l x~_sp + b_l  (Eq. 6)
    z = Attention(a, l),  x_fusion = Attention(z, v)              (Eq. 7)

  Each Attention is a `PairAttention` with its own query vector.

  Options for the authors' TF1 graph (models.py `recurrent_model`/`attention_model`, the
  `original_code` preset): `projection_activation='relu'` (Eq. 4 through tf.contrib's
  fully_connected, ReLU by default) and `dimension_units=512, dimension_activation='relu'` (the
  three Eq. 6 layers as fully connected 512-unit ReLU layers instead of linear d_u -> d_u).
  Defaults (None, None, 'linear') keep the paper's linear layers.

  `paralinguistic_skip=True` (not in the paper; `ModelConfig.paralinguistic_skip`) also passes
  the projected paralinguistic features around the attentions: the output is
  [x_fusion, x~_p], so the convex mixing of Eq. 5 and 7 cannot dilute the prosody features
  the LSTM reads (a skip connection; x~_p is Eq. 4's, no new weights).

  Inputs: [x_s [..., d_s], x_p [..., d_p]].  Output: x_fusion [..., dimension_units or units]
  (with the skip [..., dimension_units + units]). `call(..., return_weights=True)` also
  returns the three attention weight tensors {'sp', 'al', 'zv'}, each [..., 2].
  """

  def __init__(
    self,
    units: int = 256,
    dimension_units: int = 0,
    dimension_activation: str = "linear",
    projection_activation: str = "linear",
    paralinguistic_skip: bool = False,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.units = int(units)
    if self.units <= 0:
      raise ValueError(f"units (d_u) must be positive, got {units}")
    self.dimension_units = int(dimension_units) or self.units  # 0 = d_u (Eq. 6)
    self.dimension_activation = dimension_activation
    self.projection_activation = projection_activation
    self.paralinguistic_skip = bool(paralinguistic_skip)

  @property
  def output_dim(self) -> int:
    """Last dimension of the output: dimension_units (+ units with the skip)."""
    return self.dimension_units + (self.units if self.paralinguistic_skip else 0)

  def build(self, input_shape):
    s_shape, p_shape = input_shape
    d = self.units
    self.project_s = keras.layers.Dense(
      d, activation=self.projection_activation, name="project_semantic"
    )
    self.project_p = keras.layers.Dense(
      d, activation=self.projection_activation, name="project_paralinguistic"
    )
    self.project_s.build(tuple(s_shape))
    self.project_p.build(tuple(p_shape))
    unified = tuple(s_shape[:-1]) + (d,)
    self.attention_sp = PairAttention(name="attention_sp")
    self.attention_sp.build([unified, unified])
    k, act = self.dimension_units, self.dimension_activation
    self.dense_a = keras.layers.Dense(k, activation=act, name="arousal_space")
    self.dense_v = keras.layers.Dense(k, activation=act, name="valence_space")
    self.dense_l = keras.layers.Dense(k, activation=act, name="liking_space")
    for layer in (self.dense_a, self.dense_v, self.dense_l):
      layer.build(unified)
    spaces = tuple(s_shape[:-1]) + (k,)
    self.attention_al = PairAttention(name="attention_al")
    self.attention_al.build([spaces, spaces])
    self.attention_zv = PairAttention(name="attention_zv")
    self.attention_zv.build([spaces, spaces])
    self.built = True

  def call(self, inputs, return_weights=False):
    x_s, x_p = inputs
    s = self.project_s(x_s)  # Eq. 4, [..., d_u]
    p = self.project_p(x_p)
    sp, w_sp = self.attention_sp([s, p], return_weights=True)  # Eq. 5
    a = self.dense_a(sp)  # Eq. 6
    v = self.dense_v(sp)
    l = self.dense_l(sp)
    z, w_al = self.attention_al([a, l], return_weights=True)  # Eq. 7
    fused, w_zv = self.attention_zv([z, v], return_weights=True)
    if self.paralinguistic_skip:
      fused = tf.concat([fused, p], axis=-1)  # [..., dimension_units + d_u]
    if return_weights:
      return fused, {"sp": w_sp, "al": w_al, "zv": w_zv}
    return fused

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[0][:-1]) + (self.output_dim,)

  def get_config(self):
    config = super().get_config()
    config.update(
      units=self.units,
      dimension_units=self.dimension_units,
      dimension_activation=self.dimension_activation,
      projection_activation=self.projection_activation,
      paralinguistic_skip=self.paralinguistic_skip,
    )
    return config
