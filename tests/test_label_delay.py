"""Annotation-delay compensation (`ModelConfig.label_delay_frames`, models.delay_compensate).

With d > 0 the LSTM output of frame t + d is the prediction of frame t. References are
independent of the code under test: numpy slicing of the undelayed model's outputs (the same
weights with d = 0), and numpy float64 CCC sums over the frames that have an output.
"""

import keras
import numpy as np
import pytest
import soundfile
import tensorflow as tf
from test_export import SMALL, SPF

from emotion_tf.model.ccc import concordance_cc_numpy
from emotion_tf.model.models import ModelConfig, build_model
from emotion_tf.serving import export_lib, inference, stream
from emotion_tf.training import train_lib

DIM = SMALL["semantic_dim"]
D = 3


def pair(delay=D, **overrides):
  """(model with label_delay_frames=delay, the same weights with 0)."""
  keras.utils.set_random_seed(4)
  delayed = build_model(**dict(SMALL, label_delay_frames=delay, **overrides))
  plain = build_model(**dict(SMALL, **overrides))
  plain.set_weights(delayed.get_weights())
  return delayed, plain


def recording(frames, seed=0):
  rng = np.random.default_rng(seed)
  return (
    rng.normal(scale=0.2, size=frames * SPF).astype(np.float32),
    rng.normal(size=(frames, DIM)).astype(np.float32),
  )


def raw(model, audio, semantic):
  return model({"audio": audio[None], "semantic": semantic[None]}, training=False).numpy()[0]


def shifted(y, d):
  """numpy reference: out[t] = y[min(t + d, F - 1)]."""
  return y[np.minimum(np.arange(len(y)) + d, len(y) - 1)]


def test_call_and_stateful_inference_read_the_output_d_frames_later():
  delayed, plain = pair()
  audio, semantic = recording(23, seed=1)
  ref = shifted(raw(plain, audio, semantic), D)
  np.testing.assert_allclose(raw(delayed, audio, semantic), ref, rtol=0, atol=1e-6)
  assert np.abs(ref - raw(plain, audio, semantic)).max() > 1e-3  # the shift is visible
  for chunk in (1, 7, 100):
    y = inference.predict_frames(delayed, audio, semantic, chunk_frames=chunk)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5, err_msg=f"chunk {chunk}")
  # Padded batch: each sequence is compensated within its own valid frames.
  a2, s2 = recording(23, seed=2)
  s2[15:] = 0.0
  batch = {
    "audio": np.stack([audio, a2]),
    "semantic": np.stack([semantic, s2]),
    "num_frames": np.array([23, 15], np.int32),
  }
  y = delayed(batch, training=False).numpy()
  np.testing.assert_allclose(y[0], ref, atol=1e-6)
  ref2 = shifted(raw(plain, a2[: 15 * SPF], s2[:15]), D)
  np.testing.assert_allclose(y[1, :15], ref2, atol=1e-5)
  assert np.all(y[1, 15:] == 0)


def test_shorter_than_the_delay_repeats_the_last_output():
  delayed, plain = pair(delay=8)
  audio, semantic = recording(5, seed=3)
  y = inference.predict_frames(delayed, audio, semantic, chunk_frames=2)
  last = raw(plain, audio, semantic)[-1]
  np.testing.assert_allclose(y, np.tile(last, (5, 1)), atol=1e-5)


@pytest.mark.parametrize("chunk_samples", [SPF, 4 * SPF + 17, 50 * SPF])
def test_live_stream_rows_equal_the_whole_recording(chunk_samples):
  """stream_predictions (rows emitted d frames late, tail flushed) == predict_frames."""
  delayed, _ = pair()
  audio, semantic = recording(31, seed=5)
  ref = inference.predict_frames(delayed, audio, semantic)
  runner = inference.runner_for(delayed)
  blocks = (audio[i : i + chunk_samples] for i in range(0, len(audio), chunk_samples))
  got = list(stream.stream_predictions(runner, blocks, lambda s, e: semantic[s:e]))
  firsts = [f for f, _ in got]
  y = np.concatenate([r for _, r in got])
  assert firsts == sorted(firsts) and firsts[0] == 0
  assert all(f == g + len(r) for (g, r), (f, _) in zip(got, got[1:], strict=False))
  np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5)


def test_export_serves_the_compensated_outputs(tmp_path):
  delayed, plain = pair()
  export_dir = str(tmp_path / "export")
  export_lib.export_saved_model(delayed, export_dir)
  exported = export_lib.ExportedModel(export_dir)
  assert exported.label_delay_frames == D
  audio, semantic = recording(27, seed=6)
  ref = shifted(raw(plain, audio, semantic), D)
  np.testing.assert_allclose(exported(audio, semantic), ref, atol=1e-5)  # serving_default
  np.testing.assert_allclose(
    inference.predict_frames(exported, audio, semantic, chunk_frames=10), ref, atol=1e-5
  )  # the stream signature, stitched and compensated
  # predict --stream on a wav of the same samples, no words (semantic zeros).
  wav = str(tmp_path / "r.wav")
  soundfile.write(wav, audio, 22050, subtype="FLOAT")
  zeros = np.zeros_like(semantic)
  want = shifted(raw(plain, audio, zeros), D)
  with open(wav, "rb") as f:
    rate, blocks = stream.wav_blocks(f, 4 * SPF, name=wav)
    assert rate == 22050
    got = np.concatenate(
      [r for _, r in stream.stream_predictions(exported, blocks, lambda s, e: zeros[s:e])]
    )
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_train_and_eval_steps_score_each_label_against_the_output_d_frames_later():
  """The steps' CCC statistics == numpy sums of label[t] vs undelayed output[t + d] over the
  frames t < num_frames - d; the loss == 1 - mean CCC of those pairs (Eq. 8)."""
  delayed, plain = pair(variant="semantic", dropout=0.0, lstm_dropout=0.0)
  rng = np.random.default_rng(7)
  n = np.array([20, 13], np.int32)
  inputs = {"semantic": rng.normal(size=(2, 20, DIM)).astype(np.float32), "num_frames": n}
  labels = rng.uniform(-1, 1, (2, 20, 3)).astype(np.float32)
  out = plain({"semantic": inputs["semantic"]}, training=False).numpy().astype(np.float64)
  x = np.concatenate([labels[b, : n[b] - D] for b in range(2)]).astype(np.float64)
  y = np.concatenate([out[b, D : n[b]] for b in range(2)])
  want = np.stack(
    [np.full(3, len(x)), x.sum(0), y.sum(0), (x * x).sum(0), (y * y).sum(0), (x * y).sum(0)]
  )
  step, eval_step, _ = train_lib._step_functions(
    tf.distribute.get_strategy(), delayed, keras.optimizers.SGD(0.0), 0.0
  )
  np.testing.assert_allclose(eval_step(inputs, labels).numpy(), want, rtol=1e-6, atol=1e-6)
  train_out = step((inputs, labels))
  np.testing.assert_allclose(train_out["stats"].numpy(), want, rtol=1e-5, atol=1e-4)
  assert float(train_out["loss"]) == pytest.approx(1 - concordance_cc_numpy(x, y).mean(), 1e-4)


def test_config_round_trip_and_validation():
  c = ModelConfig(label_delay_frames=5)
  assert ModelConfig.from_json(c.to_json()).label_delay_frames == 5
  older = {k: v for k, v in c.to_dict().items() if k != "label_delay_frames"}
  assert ModelConfig.from_dict(older).label_delay_frames == 0  # model dirs written before it
  with pytest.raises(ValueError, match="label_delay_frames"):
    ModelConfig(label_delay_frames=-1)
