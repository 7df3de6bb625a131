"""Layers of Sec. 3.2/3.3 against numpy references and serialization round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from emotion_tf.model.layers import (
  ConcatFusion,
  DisentangledAttentionFusion,
  PairAttention,
  ParalinguisticCNN,
)


def numpy_attention(x1, x2, q):
  s = np.stack([x1 @ q, x2 @ q], -1) / np.sqrt(q.shape[0])
  a = np.exp(s - s.max(-1, keepdims=True))
  a /= a.sum(-1, keepdims=True)
  return a[..., :1] * x1 + a[..., 1:] * x2, a


def test_pair_attention_matches_eq5_and_is_convex():
  rng = np.random.default_rng(0)
  x1 = rng.normal(size=(2, 5, 8)).astype(np.float32)
  x2 = rng.normal(size=(2, 5, 8)).astype(np.float32)
  layer = PairAttention()
  out, alpha = layer([x1, x2], return_weights=True)
  ref_out, ref_alpha = numpy_attention(x1, x2, layer.query.numpy())
  np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(alpha.numpy(), ref_alpha, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(alpha.numpy().sum(-1), 1.0, rtol=1e-6)
  assert np.all(alpha.numpy() >= 0)
  # Convex combination: each output coordinate lies between the inputs'.
  lo, hi = np.minimum(x1, x2), np.maximum(x1, x2)
  assert np.all(out.numpy() >= lo - 1e-5) and np.all(out.numpy() <= hi + 1e-5)


def test_pair_attention_rejects_mismatched_dims():
  with pytest.raises(ValueError, match="same known last dimension"):
    PairAttention()([np.zeros((1, 2, 3), np.float32), np.zeros((1, 2, 4), np.float32)])


def numpy_cnn(frames, layer):
  """Reference CNN: explicit 'same' convolutions and pooling in numpy."""
  h = frames[:, :, None].astype(np.float64)
  for conv, pool in zip(layer._convs, layer._pools, strict=False):
    kernel, bias = [w.numpy().astype(np.float64) for w in conv.weights]
    k = kernel.shape[0]
    pad = np.pad(h, [(0, 0), ((k - 1) // 2, k // 2), (0, 0)])
    out = sum(pad[:, i : i + h.shape[1]] @ kernel[i] for i in range(k)) + bias
    h = np.maximum(out, 0)
    p = pool.pool_size[0]
    n = h.shape[1] // p
    h = h[:, : n * p].reshape(h.shape[0], n, p, -1).max(2)
  return h.reshape(h.shape[0], -1)


def test_paralinguistic_cnn_table1_shapes_and_values():
  layer = ParalinguisticCNN()
  assert layer.output_dim == 8 * 125
  rng = np.random.default_rng(1)
  audio = rng.normal(size=(2, 3 * 2205)).astype(np.float32)
  out = layer(audio, training=False)
  assert out.shape == (2, 3, 1000)
  ref = numpy_cnn(audio.reshape(6, 2205), layer).reshape(2, 3, 1000)
  np.testing.assert_allclose(out.numpy(), ref, rtol=2e-4, atol=2e-5)
  # Frames are independent: frame 1 of sequence 0 alone gives the same features.
  alone = layer(audio[:1, 2205:4410], training=False).numpy()
  np.testing.assert_allclose(alone[0, 0], out.numpy()[0, 1], rtol=1e-5, atol=1e-6)
  # Dropout only in training.
  assert not np.allclose(layer(audio, training=True).numpy(), out.numpy())


def test_paralinguistic_cnn_inference_blocks_match_unblocked():
  rng = np.random.default_rng(7)
  audio = rng.normal(size=(2, 7 * 2205)).astype(np.float32)
  blocked = ParalinguisticCNN(filters=(4, 5, 6), inference_block_frames=3)
  whole = ParalinguisticCNN(filters=(4, 5, 6), inference_block_frames=0)
  blocked.build(audio.shape)
  whole.build(audio.shape)
  whole.set_weights(blocked.get_weights())
  np.testing.assert_allclose(
    blocked(audio, training=False).numpy(),
    whole(audio, training=False).numpy(),
    rtol=1e-5,
    atol=1e-6,
  )
  graph = tf.function(lambda a: blocked(a, training=False))
  np.testing.assert_allclose(
    graph(audio).numpy(), whole(audio, training=False).numpy(), rtol=1e-5, atol=1e-6
  )


def test_paralinguistic_cnn_rejects_partial_frames():
  with pytest.raises(ValueError, match="multiple of 2205.*got 3000"):
    ParalinguisticCNN()(np.zeros((1, 3000), np.float32))


def test_disentangled_fusion_follows_eq4_to_eq7():
  rng = np.random.default_rng(2)
  x_s = rng.normal(size=(2, 4, 6)).astype(np.float32)
  x_p = rng.normal(size=(2, 4, 10)).astype(np.float32)
  layer = DisentangledAttentionFusion(units=5)
  out, weights = layer([x_s, x_p], return_weights=True)
  assert out.shape == (2, 4, 5)

  def dense(lyr, x):
    w, b = [v.numpy() for v in lyr.weights]
    return x @ w + b

  s, p = dense(layer.project_s, x_s), dense(layer.project_p, x_p)
  sp, _ = numpy_attention(s, p, layer.attention_sp.query.numpy())
  a, v, l = (dense(d, sp) for d in (layer.dense_a, layer.dense_v, layer.dense_l))
  z, _ = numpy_attention(a, l, layer.attention_al.query.numpy())
  ref, ref_w = numpy_attention(z, v, layer.attention_zv.query.numpy())
  np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(weights["zv"].numpy(), ref_w, rtol=1e-4, atol=1e-6)
  for w in weights.values():
    np.testing.assert_allclose(w.numpy().sum(-1), 1.0, rtol=1e-6)


def test_concat_fusion():
  out = ConcatFusion()([np.ones((1, 2, 3), np.float32), np.zeros((1, 2, 4), np.float32)])
  np.testing.assert_array_equal(out.numpy()[0, 0], [1, 1, 1, 0, 0, 0, 0])


@pytest.mark.parametrize(
  "layer_fn,inputs",
  [
    (
      lambda: ParalinguisticCNN(filters=(4, 5, 6), dropout=0.2),
      lambda r: r.normal(size=(1, 2205 * 2)).astype(np.float32),
    ),
    (lambda: PairAttention(), lambda r: [r.normal(size=(1, 2, 3)).astype(np.float32)] * 2),
    (
      lambda: DisentangledAttentionFusion(units=7),
      lambda r: [
        r.normal(size=(1, 2, 3)).astype(np.float32),
        r.normal(size=(1, 2, 9)).astype(np.float32),
      ],
    ),
    (lambda: ConcatFusion(), lambda r: [r.normal(size=(1, 2, 3)).astype(np.float32)] * 2),
  ],
)
def test_layers_from_config_roundtrip(layer_fn, inputs):
  rng = np.random.default_rng(3)
  x = inputs(rng)
  layer = layer_fn()
  y = layer(x)
  config = keras.saving.serialize_keras_object(layer)
  clone = keras.saving.deserialize_keras_object(config)
  clone(x)
  clone.set_weights(layer.get_weights())
  np.testing.assert_allclose(clone(x).numpy(), y.numpy(), rtol=1e-6)
  assert clone.get_config() == layer.get_config()
