"""build_model: variants, shapes, masking, serialization, gradients and bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from emotion_tf.model.losses import ConcordanceLoss
from emotion_tf.model.models import VARIANTS, ModelConfig, build_model

SMALL = dict(semantic_dim=6, cnn_filters=(4, 6, 8), fusion_units=8, lstm_units=8)


def make_inputs(rng, batch=2, frames=3, dim=6):
  return {
    "audio": rng.normal(size=(batch, frames * 2205)).astype(np.float32),
    "semantic": rng.normal(size=(batch, frames, dim)).astype(np.float32),
  }


def numpy_lstm_head(x, lstm, head):
  """Keras LSTM (gates i, f, c, o; sigmoid / tanh) and the Dense+tanh head in numpy:
  x [B, F, D] -> [B, F, 3]."""
  kernel, recurrent, bias = (np.asarray(w, np.float64) for w in lstm.get_weights())
  w_out, b_out = (np.asarray(w, np.float64) for w in head.get_weights())
  units = recurrent.shape[0]
  sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
  h = np.zeros((x.shape[0], units))
  c = np.zeros_like(h)
  out = []
  for t in range(x.shape[1]):
    z = x[:, t] @ kernel + h @ recurrent + bias
    i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    out.append(np.tanh(h @ w_out + b_out))
  return np.stack(out, axis=1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_shape_and_lstm_head_against_numpy_for_any_frame_count(variant):
  rng = np.random.default_rng(0)
  model = build_model(variant=variant, **SMALL)
  for frames in (1, 4):
    inputs = make_inputs(rng, frames=frames)
    y = model(inputs, training=False).numpy()
    assert y.shape == (2, frames, 3)
    # the features entering the LSTM, from the model's own front end / fusion layers
    x_s = inputs["semantic"]
    x_p = model.cnn(inputs["audio"]).numpy() if model.cnn is not None else None
    x = {"paralinguistic": x_p, "semantic": x_s}.get(variant)
    if x is None:
      x = model.fusion([x_s, x_p]).numpy()
    np.testing.assert_allclose(
      y, numpy_lstm_head(np.asarray(x, np.float64), model.lstm, model.head), rtol=1e-4, atol=1e-5
    )


def test_padding_mask_zeroes_padded_frames_and_leaves_valid_ones():
  rng = np.random.default_rng(1)
  model = build_model(**SMALL)
  x = make_inputs(rng, frames=4)
  x["num_frames"] = np.array([4, 2])
  y = model(x, training=False).numpy()
  np.testing.assert_array_equal(y[1, 2:], 0.0)
  # Change the padded audio/semantic content: valid outputs are unchanged.
  x2 = {k: v.copy() for k, v in x.items()}
  x2["audio"][1, 2 * 2205 :] = 5.0
  x2["semantic"][1, 2:] = -3.0
  y2 = model(x2, training=False).numpy()
  np.testing.assert_allclose(y2, y, rtol=1e-5, atol=1e-6)


def test_config_json_roundtrip_and_defaults():
  config = ModelConfig()
  assert (config.cnn_filters, config.cnn_kernel_sizes, config.cnn_pool_sizes) == (
    (50, 125, 125),
    (8, 6, 6),
    (10, 5, 5),
  )
  assert (config.lstm_units, config.dropout, config.lstm_dropout) == (256, 0.5, 0.5)
  assert ModelConfig.from_json(config.to_json()) == config
  with pytest.raises(ValueError, match="unknown ModelConfig fields"):
    ModelConfig.from_dict({"variant": "concat", "colour": 1})


def test_from_config_and_keras_file_give_identical_outputs(tmp_path):
  rng = np.random.default_rng(2)
  model = build_model(**SMALL)
  x = make_inputs(rng)
  y = model(x, training=False).numpy()
  clone = model.__class__.from_config(model.get_config())
  clone.set_weights(model.get_weights())
  np.testing.assert_array_equal(clone(x, training=False).numpy(), y)
  path = str(tmp_path / "model.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  np.testing.assert_array_equal(loaded(x, training=False).numpy(), y)
  assert loaded.config == model.config


def test_gradients_reach_both_branches():
  rng = np.random.default_rng(3)
  for variant in ("concat", "disentangled_attention"):
    model = build_model(variant=variant, **SMALL)
    x = make_inputs(rng, batch=3)
    y_true = rng.uniform(-1, 1, size=(3, 3, 3)).astype(np.float32)
    with tf.GradientTape() as tape:
      loss = ConcordanceLoss()(y_true, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    by_name = {v.path: g for v, g in zip(model.trainable_variables, grads, strict=False)}
    cnn = [g for n, g in by_name.items() if "paralinguistic_cnn" in n]
    assert cnn and all(g is not None and float(tf.norm(g)) > 0 for g in cnn)
    # Semantic branch: the gradient w.r.t. the semantic input is non-zero.
    sem = tf.convert_to_tensor(x["semantic"])
    with tf.GradientTape() as tape:
      tape.watch(sem)
      loss = ConcordanceLoss()(
        y_true, model({"audio": x["audio"], "semantic": sem}, training=False)
      )
    assert float(tf.norm(tape.gradient(loss, sem))) > 0


def test_a_few_adam_steps_lower_the_loss():
  rng = np.random.default_rng(4)
  keras.utils.set_random_seed(4)
  model = build_model(**dict(SMALL, dropout=0.0, lstm_dropout=0.0))
  x = make_inputs(rng, batch=4, frames=5)
  y_true = np.tanh(rng.normal(size=(4, 5, 3))).astype(np.float32)
  optimizer = keras.optimizers.Adam(1e-2, global_clipnorm=5.0)
  loss_fn = ConcordanceLoss()

  def loss_value():
    return float(loss_fn(y_true, model(x, training=False)))

  before = loss_value()
  for _ in range(15):
    with tf.GradientTape() as tape:
      loss = loss_fn(y_true, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=False))
  assert loss_value() < before - 0.1


def test_bad_input_errors_state_expected_and_got():
  rng = np.random.default_rng(5)
  model = build_model(**SMALL)
  x = make_inputs(rng)
  with pytest.raises(ValueError, match=r"multiple of 2205.*got 6000"):
    model({"audio": np.zeros((2, 6000), np.float32), "semantic": x["semantic"]})
  with pytest.raises(ValueError, match=r"expected 6, got 5"):
    model({"audio": x["audio"], "semantic": np.zeros((2, 3, 5), np.float32)})
  with pytest.raises(ValueError, match=r"'audio' has 3 frames.*'semantic' has 4"):
    model({"audio": x["audio"], "semantic": np.zeros((2, 4, 6), np.float32)})
  with pytest.raises(ValueError, match=r"unknown model variant 'lstm_only'"):
    build_model(variant="lstm_only")
  with pytest.raises(ValueError, match=r"missing \['semantic'\]"):
    model({"audio": x["audio"]})
