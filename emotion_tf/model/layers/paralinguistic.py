"""Paralinguistic feature extractor (paper Sec. 3.2, Table 1)."""

import math
from collections.abc import Sequence

import keras
import tensorflow as tf

from emotion_tf import SAMPLES_PER_FRAME

CNN_MODES = ("per_frame", "flat_stream")


@keras.saving.register_keras_serializable(package="emotion_tf")
class ParalinguisticCNN(keras.layers.Layer):
  """Raw-waveform CNN of Table 1, applied independently to each 0.1 s frame.

  Per frame of `samples_per_frame` samples (2 205 at 22 050 Hz):
  Conv1D(50, k8, s1, ReLU) -> MaxPool(10) -> Conv1D(125, k6, ReLU) -> MaxPool(5)
  -> Conv1D(125, k6, ReLU) -> MaxPool(5) -> flatten. Convolutions use 'same'
  padding and pooling 'valid' (non-overlapping windows, remainder dropped), so a
  2 205-sample frame gives 220 -> 44 -> 8 steps, i.e. 8 x 125 = 1 000 features. Dropout (rate
  `dropout`) is applied after each pooling stage in training (the paper's dropout 0.5 on all
  non-recurrent layers, Sec. 5.1).

  Input:  audio [batch, frames * samples_per_frame] float32 (raw waveform).
  Output: x_p   [batch, frames, output_dim] float32, output_dim = 8 * 125 for the
          defaults (see `output_dim`).

  All frames of the batch are folded into the convolution batch dimension
  ([batch * frames, samples_per_frame, 1]), so any number of frames works. Outside
  training, frames are processed in blocks of `inference_block_frames` (a
  sequential `tf.map_fn`), so scoring a whole recording needs memory for one block
  (the first convolution's output is ~0.44 MB per frame) instead of the whole
  recording; the result is the same as without blocking.

  `mode='flat_stream'` is the authors' TF1 graph (models.py `audio_model2`) instead: the
  [batch, frames * spf] signal is convolved as ONE stream per sequence (receptive fields cross
  frame edges), and the pooled [batch, L, filters[-1]] map is reshaped row-major to
  [batch, frames, output_dim] with output_dim = spf * filters[-1] / prod(pool_sizes) (2 205 x 250
  / 250 = 2 205 for the original's 250 last filters), so one frame's vector spans
  spf / prod(pool_sizes) pooled steps (8.82), not aligned with the frame. The reshape needs
  frames * spf divisible by prod(pool_sizes): other frame counts (whole recordings) are
  zero-padded at the end to the next multiple of `frame_multiple` frames and the extra frames'
  features dropped. No inference blocking in this mode.
  """

  def __init__(
    self,
    samples_per_frame: int = SAMPLES_PER_FRAME,
    filters: Sequence[int] = (50, 125, 125),
    kernel_sizes: Sequence[int] = (8, 6, 6),
    pool_sizes: Sequence[int] = (10, 5, 5),
    dropout: float = 0.5,
    inference_block_frames: int = 512,
    mode: str = "per_frame",
    **kwargs,
  ):
    super().__init__(**kwargs)
    if not len(filters) == len(kernel_sizes) == len(pool_sizes):
      raise ValueError(
        "filters, kernel_sizes and pool_sizes must have the same length, got "
        f"{len(filters)}, {len(kernel_sizes)}, {len(pool_sizes)}"
      )
    self.samples_per_frame = int(samples_per_frame)
    self.filters = tuple(int(f) for f in filters)
    self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
    self.pool_sizes = tuple(int(p) for p in pool_sizes)
    self.dropout = float(dropout)
    self.inference_block_frames = int(inference_block_frames)
    if mode not in CNN_MODES:
      raise ValueError(f"mode must be one of {CNN_MODES}, got {mode!r}")
    self.mode = mode
    length = self.samples_per_frame
    for p in self.pool_sizes:
      length //= p  # 'valid' pooling: floor.
    self.output_length = length
    self.output_dim = length * self.filters[-1]
    self.frame_multiple = 1
    if mode == "flat_stream":
      pool = math.prod(self.pool_sizes)
      if (self.samples_per_frame * self.filters[-1]) % pool:
        raise ValueError(
          f"flat_stream CNN: samples_per_frame {self.samples_per_frame} x last filters "
          f"{self.filters[-1]} is not divisible by the pooling product {pool}"
        )
      self.output_dim = self.samples_per_frame * self.filters[-1] // pool
      self.frame_multiple = pool // math.gcd(self.samples_per_frame, pool)

  def build(self, input_shape):
    self._convs = []
    self._pools = []
    self._dropouts = []
    channels = 1
    length = self.samples_per_frame
    for i, (f, k, p) in enumerate(
      zip(self.filters, self.kernel_sizes, self.pool_sizes, strict=False)
    ):
      conv = keras.layers.Conv1D(
        f, k, strides=1, padding="same", activation="relu", name=f"conv{i + 1}"
      )
      conv.build((None, length if self.mode == "per_frame" else None, channels))
      pool = keras.layers.MaxPool1D(p, strides=p, padding="valid", name=f"pool{i + 1}")
      self._convs.append(conv)
      self._pools.append(pool)
      self._dropouts.append(keras.layers.Dropout(self.dropout, name=f"dropout{i + 1}"))
      channels = f
      length //= p
    self.built = True

  def call(self, audio, training=None):
    audio = tf.convert_to_tensor(audio)
    static_len = audio.shape[-1]
    if static_len is not None and static_len % self.samples_per_frame:
      raise ValueError(
        f"audio length must be a multiple of {self.samples_per_frame} samples "
        f"(0.1 s frames), got {static_len} samples"
      )
    batch = tf.shape(audio)[0]
    if self.mode == "flat_stream":
      return self._flat_stream(audio, training)
    frames = tf.reshape(audio, [-1, self.samples_per_frame, 1])  # [batch*frames, spf, 1]
    block = self.inference_block_frames
    if training or block <= 0:
      h = self._frame_features(frames, training)
    else:
      h = tf.cond(
        tf.shape(frames)[0] <= block,
        lambda: self._frame_features(frames, False),
        lambda: self._blocked_features(frames, block),
      )
    return tf.reshape(h, [batch, -1, self.output_dim])  # [batch, frames, out]

  def _frame_features(self, frames, training):
    """[n, spf, 1] -> [n, output_dim]."""
    h = frames
    for conv, pool, drop in zip(self._convs, self._pools, self._dropouts, strict=False):
      h = drop(pool(conv(h)), training=training)
    return tf.reshape(h, [-1, self.output_dim])

  def _flat_stream(self, audio, training):
    """[batch, F * spf] -> [batch, F, output_dim], one stream per sequence (models.py)."""
    batch = tf.shape(audio)[0]
    num_frames = tf.shape(audio)[1] // self.samples_per_frame
    m = self.frame_multiple
    padded_frames = (num_frames + m - 1) // m * m
    pad = (padded_frames - num_frames) * self.samples_per_frame
    h = tf.pad(audio, [[0, 0], [0, pad]])[:, :, None]  # [batch, F' * spf, 1]
    for conv, pool, drop in zip(self._convs, self._pools, self._dropouts, strict=False):
      h = drop(pool(conv(h)), training=training)  # [batch, L, channels]
    h = tf.reshape(h, [batch, padded_frames, self.output_dim])  # row-major, as models.py
    return h[:, :num_frames]

  def _blocked_features(self, frames, block):
    """Inference in blocks of `block` frames: [n, spf, 1] -> [n, output_dim]."""
    n = tf.shape(frames)[0]
    blocks = (n + block - 1) // block
    padded = tf.pad(frames, [[0, blocks * block - n], [0, 0], [0, 0]])
    padded = tf.reshape(padded, [blocks, block, self.samples_per_frame, 1])
    out = tf.map_fn(
      lambda x: self._frame_features(x, False),
      padded,
      fn_output_signature=tf.TensorSpec([block, self.output_dim], self.compute_dtype),
      parallel_iterations=1,
    )
    return tf.reshape(out, [-1, self.output_dim])[:n]

  def compute_output_shape(self, input_shape):
    frames = None
    if input_shape[-1] is not None:
      frames = input_shape[-1] // self.samples_per_frame
    return (input_shape[0], frames, self.output_dim)

  def get_config(self):
    config = super().get_config()
    config.update(
      samples_per_frame=self.samples_per_frame,
      filters=list(self.filters),
      kernel_sizes=list(self.kernel_sizes),
      pool_sizes=list(self.pool_sizes),
      dropout=self.dropout,
      inference_block_frames=self.inference_block_frames,
      mode=self.mode,
    )
    return config
