"""LSTM cell with peephole connections and cell clipping, as the original TF1 code used.

The authors' code (glam-imperial/semantic_speech_emotion_recognition, models.py) runs
`tf.contrib.rnn.LSTMCell(256, use_peepholes=True, cell_clip=100)`; Keras 3 has no such cell.
This one follows TF1's `LSTMCell.call` (rnn_cell_impl.py) step by step:

  i = sigma(W_i x + U_i h_prev + b_i + w_ci * c_prev)
  f = sigma(W_f x + U_f h_prev + b_f + forget_bias + w_cf * c_prev)
  c = f * c_prev + i * tanh(W_c x + U_c h_prev + b_c)
  c = clip(c, -cell_clip, cell_clip)                 (after the update, before the output gate)
  o = sigma(W_o x + U_o h_prev + b_o + w_co * c)      (the output peephole sees the new, clipped c)
  h = o * tanh(c)

with forget_bias = 1.0 added in the equation (TF1's default; the bias variable starts at zero),
and the peephole weights w_c* elementwise vectors. Gate blocks of the kernels are stored in
Keras' order [i, f, c, o] (TF1 stores [i, j, f, o]; the order is only a storage layout).

It is not cuDNN-eligible (the peepholes and the clip have no cuDNN kernel), so the default model
keeps `keras.layers.LSTM`; this cell is for the `original_code` preset (ModelConfig.lstm_cell).
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="emotion_tf")
class PeepholeLSTMCell(keras.layers.Layer):
  """One step of the peephole LSTM (see the module docstring for the equations).

  Call: cell(x [batch, input_dim], states [h [batch, units], c [batch, units]])
        -> (h [batch, units], [h, c]). Wrap it in `keras.layers.RNN` for sequences.
  """

  def __init__(self, units: int, forget_bias: float = 1.0, cell_clip: float = 100.0, **kwargs):
    super().__init__(**kwargs)
    self.units = int(units)
    if self.units <= 0:
      raise ValueError(f"units must be positive, got {units}")
    self.forget_bias = float(forget_bias)
    self.cell_clip = float(cell_clip)
    self.state_size = [self.units, self.units]
    self.output_size = self.units

  def build(self, input_shape):
    input_dim = int(input_shape[-1])
    n = self.units
    self.kernel = self.add_weight(
      name="kernel", shape=(input_dim, 4 * n), initializer="glorot_uniform"
    )
    self.recurrent_kernel = self.add_weight(
      name="recurrent_kernel", shape=(n, 4 * n), initializer="glorot_uniform"
    )
    self.bias = self.add_weight(name="bias", shape=(4 * n,), initializer="zeros")
    # Peephole weights w_ci, w_cf, w_co (TF1's w_i_diag, w_f_diag, w_o_diag).
    self.peephole_i = self.add_weight(name="peephole_i", shape=(n,), initializer="glorot_uniform")
    self.peephole_f = self.add_weight(name="peephole_f", shape=(n,), initializer="glorot_uniform")
    self.peephole_o = self.add_weight(name="peephole_o", shape=(n,), initializer="glorot_uniform")
    self.built = True

  def call(self, inputs, states, training=None):
    h_prev, c_prev = states[0], states[1]
    z = (
      tf.matmul(inputs, tf.cast(self.kernel, inputs.dtype))
      + tf.matmul(h_prev, tf.cast(self.recurrent_kernel, inputs.dtype))
      + tf.cast(self.bias, inputs.dtype)
    )  # [batch, 4 * units]
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
    w_i, w_f, w_o = (
      tf.cast(w, inputs.dtype) for w in (self.peephole_i, self.peephole_f, self.peephole_o)
    )
    i = tf.sigmoid(z_i + w_i * c_prev)
    f = tf.sigmoid(z_f + self.forget_bias + w_f * c_prev)
    c = f * c_prev + i * tf.tanh(z_c)
    if self.cell_clip > 0:
      c = tf.clip_by_value(c, -self.cell_clip, self.cell_clip)
    o = tf.sigmoid(z_o + w_o * c)
    h = o * tf.tanh(c)
    return h, [h, c]

  def get_config(self):
    config = super().get_config()
    config.update(units=self.units, forget_bias=self.forget_bias, cell_clip=self.cell_clip)
    return config


def peephole_lstm(
  units: int, cell_clip: float = 100.0, forget_bias: float = 1.0, name: str = "lstm"
) -> keras.layers.RNN:
  """keras.layers.RNN over `PeepholeLSTMCell`: [batch, frames, d] -> [batch, frames, units]."""
  cell = PeepholeLSTMCell(
    units, forget_bias=forget_bias, cell_clip=cell_clip, name="peephole_lstm_cell"
  )
  return keras.layers.RNN(cell, return_sequences=True, name=name)
