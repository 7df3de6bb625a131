"""emotion_tf.model.layers.waveform_norm and the model's waveform_norm option."""

import os

import keras
import numpy as np
import pytest

from emotion_tf.model.layers import waveform_norm
from emotion_tf.model.models import ModelConfig, build_model

SPF = 40


def _audio(rng, batch=2, frames=6):
  gains = np.exp(rng.standard_normal((batch, frames, 1)))  # a loudness contour
  return (rng.standard_normal((batch, frames, SPF)) * gains).reshape(batch, -1).astype(np.float32)


def test_sequence_rms_against_numpy_and_padding_ignored():
  rng = np.random.default_rng(0)
  audio = _audio(rng)
  nf = np.array([6, 4])
  audio[1, 4 * SPF :] = 123.0  # padding garbage must not count and must come out zero
  out = waveform_norm.normalize_waveform(audio, nf, SPF, "sequence_rms").numpy()
  for b, n in enumerate(nf):
    valid = audio[b, : n * SPF]
    np.testing.assert_allclose(out[b, : n * SPF], valid / np.sqrt(np.mean(valid**2)), rtol=1e-5)
    assert not np.any(out[b, n * SPF :])
  # The loudness contour inside the sequence survives; the absolute level does not.
  again = waveform_norm.normalize_waveform(audio * 9.0, nf, SPF, "sequence_rms").numpy()
  np.testing.assert_allclose(again, out, rtol=1e-5, atol=1e-6)


def test_frame_rms_against_numpy():
  rng = np.random.default_rng(1)
  audio = _audio(rng)
  audio[0, :SPF] *= 1e-6  # a near-silent frame is floored, not blown up
  out = waveform_norm.normalize_waveform(audio, None, SPF, "frame_rms").numpy()
  frames = audio.reshape(2, -1, SPF).astype(np.float64)
  rms = np.maximum(np.sqrt(np.mean(frames**2, -1, keepdims=True)), waveform_norm.FRAME_FLOOR)
  np.testing.assert_allclose(out, (frames / rms).reshape(2, -1), rtol=1e-4, atol=1e-7)
  assert np.max(np.abs(out[0, :SPF])) < 1e-2
  with pytest.raises(ValueError, match="waveform_norm"):
    waveform_norm.normalize_waveform(audio, None, SPF, "peak")


@pytest.mark.parametrize("mode", ["sequence_rms", "frame_rms"])
def test_model_is_level_invariant_and_round_trips(mode, tmp_path):
  config = ModelConfig(
    variant="paralinguistic", cnn_filters=(4, 6, 8), lstm_units=8, waveform_norm=mode
  )
  model = build_model(config)
  rng = np.random.default_rng(2)
  audio = rng.standard_normal((2, 3 * 2205)).astype(np.float32) * 0.1
  inputs = {"audio": audio, "num_frames": np.array([3, 2], np.int32)}
  y = model(inputs, training=False).numpy()
  y_loud = model({**inputs, "audio": audio * 20.0}, training=False).numpy()
  np.testing.assert_allclose(y_loud, y, atol=1e-5)
  path = os.path.join(tmp_path, "m.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert loaded.config.waveform_norm == mode
  np.testing.assert_allclose(loaded(inputs, training=False).numpy(), y, atol=1e-6)
  plain = build_model(config.replace(waveform_norm="none"))
  plain.set_weights(model.get_weights())
  y_plain = plain(inputs, training=False).numpy()
  assert not np.allclose(
    plain({**inputs, "audio": audio * 20.0}, training=False).numpy(), y_plain, atol=1e-5
  )


def test_exported_model_applies_the_same_normalisation(tmp_path):
  from emotion_tf.serving import export_lib

  config = ModelConfig(
    semantic_dim=8,
    cnn_filters=(4, 6, 8),
    fusion_units=8,
    lstm_units=8,
    waveform_norm="sequence_rms",
  )
  model = build_model(config)
  export_dir = str(tmp_path / "export")
  export_lib.export_saved_model(model, export_dir, source={"path": "mem"})
  loaded = export_lib.ExportedModel(export_dir)
  rng = np.random.default_rng(3)
  audio = rng.normal(scale=0.1, size=(2, 4 * 2205)).astype(np.float32)
  semantic = rng.normal(size=(2, 4, 8)).astype(np.float32)
  expected = model({"audio": audio, "semantic": semantic}, training=False).numpy()
  np.testing.assert_allclose(loaded(audio, semantic), expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(loaded(audio * 30.0, semantic), expected, rtol=1e-4, atol=1e-5)
