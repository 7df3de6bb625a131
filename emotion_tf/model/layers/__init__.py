"""Keras layers of the paper's model (Sec. 3.2, 3.3)."""

from emotion_tf.model.layers.attention import PairAttention
from emotion_tf.model.layers.fusion import ConcatFusion, DisentangledAttentionFusion
from emotion_tf.model.layers.paralinguistic import ParalinguisticCNN
from emotion_tf.model.layers.peephole_lstm import PeepholeLSTMCell

__all__ = [
  "ConcatFusion",
  "DisentangledAttentionFusion",
  "PairAttention",
  "ParalinguisticCNN",
  "PeepholeLSTMCell",
]
