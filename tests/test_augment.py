"""emotion_tf.data.augment: each transform against numpy, determinism, the pipeline hook."""

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from emotion_tf.data import augment, pipeline
from emotion_tf.training import train_lib
from emotion_tf.util import config as config_lib

SR = 22050


def _seed(a, b=0):
  return tf.constant([a, b], tf.int64)


def _db(x):
  return 10 * np.log10(x)


def _speechlike(n, rng):
  t = np.arange(n) / SR
  return (
    0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    + 0.05 * rng.standard_normal(n)
  ).astype(np.float32)


@pytest.mark.parametrize("make_noise", [augment.white_noise, augment.pink_noise])
def test_add_at_snr_measured_snr_equals_sampled(make_noise):
  rng = np.random.default_rng(0)
  n, valid = 22050, 18000
  audio = _speechlike(n, rng)
  audio[valid:] = 0
  mask = (np.arange(n) < valid).astype(np.float32)
  for snr in (0.0, 7.5, 20.0):
    noise = make_noise(_seed(3), n)
    out = augment.add_at_snr(audio, noise, tf.constant(snr), mask).numpy()
    added = out - audio
    measured = _db(np.mean(audio[:valid] ** 2) / np.mean(added[:valid] ** 2))
    assert abs(measured - snr) < 0.1
    assert not np.any(added[valid:])


def test_pink_noise_has_1_over_f_power():
  x = augment.pink_noise(_seed(1), 2**16).numpy().astype(np.float64)
  psd = np.abs(np.fft.rfft(x)) ** 2
  f = np.arange(len(psd))
  band = (f > 50) & (f < 20000)
  slope = np.polyfit(np.log(f[band]), np.log(psd[band] + 1e-30), 1)[0]
  assert abs(slope + 1.0) < 0.1
  w = augment.white_noise(_seed(1), 2**16).numpy().astype(np.float64)
  psd_w = np.abs(np.fft.rfft(w)) ** 2
  assert abs(np.polyfit(np.log(f[band]), np.log(psd_w[band]), 1)[0]) < 0.1


def test_gain_in_db():
  x = _speechlike(1000, np.random.default_rng(1))
  for g in (-12.0, 0.0, 6.0):
    y = augment.apply_gain(x, tf.constant(g)).numpy()
    assert abs(_db(np.sum(y**2) / np.sum(x**2)) - g) < 1e-3


@pytest.mark.parametrize("rt60", [0.25, 0.6])
def test_impulse_response_energy_decay_matches_rt60(rt60):
  ir = augment.room_impulse_response(_seed(5), tf.constant(rt60), SR, int(1.2 * rt60 * SR)).numpy()
  assert ir[0] == 1.0
  energy = np.cumsum((ir.astype(np.float64) ** 2)[::-1])[::-1]  # Schroeder integral
  edc = _db(energy / energy[0])
  t = np.arange(len(ir)) / SR
  fit = (edc < -5) & (edc > -35)  # T30
  slope = np.polyfit(t[fit], edc[fit], 1)[0]  # dB / s
  assert abs(-60.0 / slope - rt60) / rt60 < 0.05


def test_fft_convolve_and_reverberate_against_numpy():
  rng = np.random.default_rng(2)
  x = rng.standard_normal(3001).astype(np.float32)
  h = rng.standard_normal(700).astype(np.float32)
  np.testing.assert_allclose(
    augment.fft_convolve(x, h).numpy(), np.convolve(x, h)[:3001], atol=1e-3
  )
  mask = (np.arange(3001) < 2500).astype(np.float32)
  x[2500:] = 0
  wet = augment.reverberate(x, h, mask).numpy()
  ref = np.convolve(x, h)[:3001] * mask
  ref *= np.sqrt(np.mean(x[:2500] ** 2) / np.mean(ref[:2500] ** 2))
  np.testing.assert_allclose(wet, ref, atol=1e-3)


def test_equalize_transfer_is_the_cosine_curve():
  rng = np.random.default_rng(3)
  n = 8192
  x = rng.standard_normal(n).astype(np.float32)
  a = np.array([2.0, -1.5, 0.5, 1.0], np.float32)
  y = augment.equalize(x, a).numpy()
  ratio_db = 20 * np.log10(np.abs(np.fft.rfft(y)) / np.abs(np.fft.rfft(x)))
  frac = np.arange(n // 2 + 1) / (n // 2)
  curve = sum(a[k] * np.cos((k + 1) * np.pi * frac) for k in range(4))
  np.testing.assert_allclose(ratio_db, curve, atol=0.02)


@pytest.mark.parametrize("rate", [0.9, 1.12])
def test_speed_perturb_keeps_labels_aligned_with_audio(rate):
  """Frame k of a synthetic chunk is a tone of amplitude A_k and labels[k] = A_k; after the
  perturbation every output frame's measured amplitude must still equal its label."""
  spf, frames, nf = 441, 60, 52
  amp = 0.5 + 0.4 * np.sin(2 * np.pi * np.arange(frames) / 11.0)
  env = np.interp(np.arange(frames * spf), (np.arange(frames) + 0.5) * spf, amp)
  t = np.arange(frames * spf) / SR
  audio = (np.sqrt(2) * env * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
  audio[nf * spf :] = 0
  labels = np.stack([amp, -amp, amp * 0], 1).astype(np.float32)
  labels[nf:] = 0
  semantic = np.repeat(np.arange(frames, dtype=np.float32)[:, None], 2, 1)
  out, new_labels, new_sem, new_nf = augment.speed_perturb(
    audio, labels, semantic, tf.constant(nf), tf.constant(rate), spf
  )
  out, new_labels, new_sem = out.numpy(), new_labels.numpy(), new_sem.numpy()
  assert int(new_nf) == min(frames, int(np.floor(nf / rate)))
  rms = np.sqrt(np.mean(out.reshape(frames, spf) ** 2, axis=1))
  inner = slice(1, int(new_nf) - 1)
  np.testing.assert_allclose(rms[inner], new_labels[inner, 0], atol=0.03)
  np.testing.assert_allclose(new_labels[:, 1], -new_labels[:, 0])
  assert not np.any(new_labels[int(new_nf) :]) and not np.any(out[int(new_nf) * spf :])
  centre = (np.arange(int(new_nf)) + 0.5) * rate - 0.5
  assert np.all(np.abs(new_sem[: int(new_nf), 0] - centre) <= 0.5 + 1e-6)
  # The audio is really resampled: the tone's frequency is multiplied by the rate.
  spectrum = np.abs(np.fft.rfft(out[: int(new_nf) * spf]))
  peak_hz = np.argmax(spectrum) * SR / (int(new_nf) * spf)
  assert abs(peak_hz - 1000 * rate) < 15


def test_babble_adds_the_other_chunks_at_the_sampled_snr():
  rng = np.random.default_rng(4)
  audio = np.stack([_speechlike(4410, rng) * s for s in (1.0, 0.5, 2.0)])
  cfg = augment.AugmentConfig(babble_prob=1.0, babble_talkers=2, babble_snr_db=(10.0, 10.0))
  keys = tf.stack([_seed(i) for i in range(3)])
  out = augment.add_babble(cfg, keys, tf.constant(audio), tf.constant([10, 10, 10]), 441).numpy()
  for i in range(3):
    others = audio[(i + 1) % 3] + audio[(i + 2) % 3]
    added = out[i] - audio[i]
    g = np.dot(added, others) / np.dot(others, others)
    np.testing.assert_allclose(added, g * others, atol=1e-5)
    assert abs(_db(np.mean(audio[i] ** 2) / np.mean(added**2)) - 10.0) < 0.1


ALL_ON = dict(
  noise_prob=0.7, babble_prob=0.5, reverb_prob=0.5, eq_prob=0.5, gain_prob=0.7, speed_prob=0.5
)


def _batches(out, cfg, seed, training=True):
  ds = pipeline.make_dataset(
    out, "train", 2, training=training, seed=seed, include_ids=True, augmentation=cfg
  )
  return [
    (
      x["recording_id"].numpy().tolist(),
      x["chunk_index"].numpy().tolist(),
      x["audio"].numpy(),
      y.numpy(),
      x["num_frames"].numpy(),
    )
    for x, y in ds
  ]


def test_pipeline_augmentation_deterministic_and_eval_untouched(tiny_tfrecords):  # noqa: F811
  out, _ = tiny_tfrecords
  cfg = augment.AugmentConfig(**ALL_ON)
  plain = _batches(out, None, 1)
  a, b, c = _batches(out, cfg, 1), _batches(out, cfg, 1), _batches(out, cfg, 2)
  assert [x[:2] for x in a] == [x[:2] for x in plain]  # same data order as without
  for x, y in zip(a, b, strict=False):
    np.testing.assert_array_equal(x[2], y[2])
    np.testing.assert_array_equal(x[3], y[3])
  assert any(not np.array_equal(x[2], y[2]) for x, y in zip(a, plain, strict=False))
  changed = sum(
    not np.array_equal(x[2][i], y[2][i])
    for x, y in zip(a, c, strict=False)
    for i in range(2)
    if x[:2] == y[:2]
  )
  assert changed or [x[:2] for x in a] != [x[:2] for x in c]
  # Resuming an epoch (train_lib skips its finished batches) sees the same augmented data.
  ds = pipeline.make_dataset(out, "train", 2, training=True, seed=1, augmentation=cfg)
  tail = [x["audio"].numpy() for x, _ in ds.skip(1)]
  for x, y in zip(tail, a[1:], strict=False):
    np.testing.assert_array_equal(x, y[2])
  # Evaluation (training=False) ignores the augmentation.
  for x, y in zip(
    _batches(out, cfg, 1, training=False), _batches(out, None, 1, training=False), strict=False
  ):
    np.testing.assert_array_equal(x[2], y[2])
  x, _ = next(iter(pipeline.make_dataset(out, "train", 2, training=True, seed=1, augmentation=cfg)))
  assert set(x) == {"audio", "semantic", "num_frames"}


def test_different_seed_changes_the_augmentation(tiny_tfrecords):  # noqa: F811
  out, _ = tiny_tfrecords
  cfg = augment.AugmentConfig(noise_prob=1.0)
  plain = {
    (r, ch): audio
    for b in _batches(out, None, 1)
    for r, ch, audio in zip(b[0], b[1], b[2], strict=False)
  }
  seen = []
  for seed in (1, 2):
    got = {
      (r, ch): audio
      for b in _batches(out, cfg, seed)
      for r, ch, audio in zip(b[0], b[1], b[2], strict=False)
    }
    seen.append(got)
    assert all(not np.array_equal(got[k], plain[k]) for k in plain)
  assert all(not np.array_equal(seen[0][k], seen[1][k]) for k in plain)


def test_train_config_flags_and_validation():
  fv = flags.FlagValues()
  config_lib.define_flags_for(train_lib.TrainConfig, flag_values=fv)
  fv(["prog", "--aug_noise_prob=0.5", "--aug_gain_db=-3,4.5", "--aug_noise_color=pink"])
  cfg = config_lib.resolve(train_lib.TrainConfig, fv, override_section={"aug_speed_prob": 0.2})
  aug = augment.AugmentConfig.from_train_config(cfg)
  assert (aug.noise_prob, aug.gain_db, aug.noise_color, aug.speed_prob) == (
    0.5,
    (-3.0, 4.5),
    "pink",
    0.2,
  )
  assert not augment.AugmentConfig.from_train_config(train_lib.TrainConfig()).enabled
  with pytest.raises(train_lib.TrainingSetupError, match="aug_gain_db"):
    config_lib.build(train_lib.TrainConfig, {"aug_gain_db": [3, -3]})
  with pytest.raises(flags.IllegalFlagValueError):
    fv(["prog", "--aug_reverb_prob=1.5"])


def test_augment_dataset_same_order_seed_decides():
  """On a fixed order, the augmentation is a function of the seed alone (not of run state)."""
  rng = np.random.default_rng(5)
  n = 4
  inputs = {
    "audio": np.stack([_speechlike(4410, rng) for _ in range(n)]),
    "semantic": np.zeros((n, 10, 2), np.float32),
    "num_frames": np.full([n], 10, np.int32),
    "recording_id": np.array([b"Train_01"] * n),
    "chunk_index": np.arange(n),
  }
  ds = tf.data.Dataset.from_tensor_slices((inputs, np.zeros((n, 10, 3), np.float32)))
  cfg = augment.AugmentConfig(noise_prob=1.0, gain_prob=1.0, eq_prob=1.0)

  def run(seed):
    out = augment.augment_dataset(ds, cfg, seed, (441, SR))
    return np.stack([x["audio"].numpy() for x, _ in out])

  a, b, c = run(7), run(7), run(8)
  np.testing.assert_array_equal(a, b)
  assert all(not np.allclose(a[i], c[i]) for i in range(n))
  assert all(not np.allclose(a[i], inputs["audio"][i]) for i in range(n))


def test_training_with_augmentation_resumes_like_an_uninterrupted_run(tiny_tfrecords, tmp_path):
  import keras

  from emotion_tf.model.models import ModelConfig

  small = ModelConfig(semantic_dim=8, cnn_filters=(4, 6, 8), fusion_units=8, lstm_units=8)
  aug = dict(
    aug_noise_prob=0.7,
    aug_babble_prob=0.5,
    aug_reverb_prob=0.5,
    aug_speed_prob=0.5,
    aug_gain_prob=0.5,
    aug_eq_prob=0.5,
  )

  def cfg(name, **kw):
    return train_lib.TrainConfig(
      data_dir=tiny_tfrecords[0],
      model_dir=str(tmp_path / name),
      epochs=1,
      batch_size=2,
      backup_every_steps=2,
      seed=3,
      **kw,
    )

  def weights(name):
    return keras.models.load_model(str(tmp_path / name / "last.keras")).get_weights()

  strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
  full = train_lib.train(cfg("full", **aug), small, strategy=strategy)
  assert full["global_step"] == 3

  def crash(step, loss):
    if step == 3:
      raise KeyboardInterrupt("simulated crash")

  with pytest.raises(KeyboardInterrupt):
    train_lib.train(cfg("crash", **aug), small, strategy=strategy, step_callback=crash)
  resumed = train_lib.train(cfg("crash", **aug), small, strategy=strategy)
  assert resumed["resumed_from_step"] == 2
  for a, b in zip(weights("crash"), weights("full"), strict=False):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  train_lib.train(cfg("plain"), small, strategy=strategy)
  assert any(not np.allclose(a, b) for a, b in zip(weights("plain"), weights("full"), strict=False))
