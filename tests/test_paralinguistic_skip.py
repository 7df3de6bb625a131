"""`ModelConfig.paralinguistic_skip`: the LSTM reads [x_fusion, x~_p] (not in the paper).

References: the same fusion layer without the skip (shared weights) and a numpy Eq. 4 of the
CNN features; a .keras round trip.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_export import SMALL, SPF

from emotion_tf.model.layers import DisentangledAttentionFusion
from emotion_tf.model.models import ModelConfig, build_model


def test_output_is_the_fusion_beside_the_eq4_projection():
  rng = np.random.default_rng(0)
  x_s = rng.normal(size=(2, 7, 4)).astype(np.float32)
  x_p = rng.normal(size=(2, 7, 9)).astype(np.float32)
  plain = DisentangledAttentionFusion(units=5)
  skip = DisentangledAttentionFusion(units=5, paralinguistic_skip=True)
  for layer in (plain, skip):
    layer.build([(None, None, 4), (None, None, 9)])
  skip.set_weights(plain.get_weights())
  assert skip.output_dim == 10 and plain.output_dim == 5
  y = skip([x_s, x_p]).numpy()
  assert y.shape == (2, 7, 10)
  np.testing.assert_allclose(y[..., :5], plain([x_s, x_p]).numpy(), atol=1e-6)
  kernel, bias = plain.project_p.get_weights()
  np.testing.assert_allclose(y[..., 5:], x_p @ kernel + bias, atol=1e-5)  # Eq. 4, numpy
  assert skip.compute_output_shape([(2, 7, 4), (2, 7, 9)]) == (2, 7, 10)


def test_model_with_the_skip_round_trips_and_its_lstm_reads_both(tmp_path):
  keras.utils.set_random_seed(1)
  model = build_model(**dict(SMALL, paralinguistic_skip=True))
  assert model.feature_dim == SMALL["fusion_units"] * 2
  rng = np.random.default_rng(2)
  x = {
    "audio": rng.normal(scale=0.2, size=(2, 6 * SPF)).astype(np.float32),
    "semantic": rng.normal(size=(2, 6, SMALL["semantic_dim"])).astype(np.float32),
  }
  y = model(x, training=False).numpy()
  path = str(tmp_path / "m.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert loaded.config.paralinguistic_skip
  np.testing.assert_array_equal(loaded(x, training=False).numpy(), y)
  # The LSTM's input kernel has a row per skip feature, and they carry gradient.
  kernel = next(
    v for v in model.trainable_variables if "lstm" in v.path and v.path.endswith("/kernel")
  )
  assert kernel.shape[0] == model.feature_dim
  with tf.GradientTape() as tape:
    total = tf.reduce_sum(model(x, training=True))
  grad = tape.gradient(total, [kernel])[0].numpy()  # [feature_dim, 4 * lstm_units]
  assert np.abs(grad[SMALL["fusion_units"] :]).sum() > 0


def test_only_disentangled_attention_takes_the_skip():
  for variant in ("paralinguistic", "semantic", "concat"):
    with pytest.raises(ValueError, match="paralinguistic_skip"):
      ModelConfig(variant=variant, paralinguistic_skip=True)
  old = {k: v for k, v in ModelConfig().to_dict().items() if k != "paralinguistic_skip"}
  assert ModelConfig.from_dict(old).paralinguistic_skip is False  # model dirs written before
