"""On-the-fly waveform augmentation of training chunks (tf.data, training only).

The paralinguistic CNN (paper Sec. 3.2, Table 1) reads the raw waveform, so it can learn the
Train voices, microphones and rooms instead of prosody. Each Train chunk is changed by a random
draw of the kinds below before batching; Devel/Test/evaluation never are (`make_dataset` applies
this only with training=True).

Per example, in this order (each with its own probability; all 0 = off, the default):
  speed   resample the chunk by a factor r (r > 1 faster), labels and semantic frames
          resampled by the same r so frame k of the output still carries the label of what is
          heard in it; `num_frames` becomes min(F, floor(num_frames / r)).
  reverb  convolution (FFT) with a synthetic room impulse response: white noise under an
          exponential decay that falls 60 dB in RT60 s (Schroeder), plus the direct path; the
          result is rescaled to the chunk's RMS.
  eq      a random smooth channel: |H(f)| in dB = sum_k a_k cos(k pi f / f_nyq), k = 1..4,
          |sum| <= eq_db, applied in the frequency domain (zero phase).
  noise   white or pink (1/f power) noise at an SNR drawn uniformly in dB, over the valid
          samples.
  gain    a gain drawn uniformly in dB.
Per batch (needs the other chunks): babble = the sum of `babble_talkers` other chunks of the
same batch, added at an SNR drawn uniformly in dB.

Determinism: every random number is a stateless op keyed by (seed, position of the chunk in the
epoch's shuffled order, recording id, chunk index). The training pipeline's order is a function
of its seed (train_lib: seed * 1000 + epoch) and a resumed epoch skips its finished batches, so
a resumed run sees the same augmented chunks as an uninterrupted one. Shapes: audio [L] per
example (L = F * samples_per_frame), labels [F, 3], semantic [F, d].
"""

import dataclasses
import math
from typing import Any

import numpy as np
import tensorflow as tf

NOISE_COLORS = ("white", "pink", "both")
EQ_ORDER = 4  # cosine terms of the random EQ curve
DECAY_60DB = 3.0 * math.log(10.0)  # amplitude exp(-DECAY_60DB t / RT60) = -60 dB at RT60
KEY = "augment_key"  # per-example stateless key carried to the batch stage
_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  """Augmentation settings; TrainConfig's `aug_<name>` fields (emotion_tf.training.train_lib)."""

  noise_prob: float = 0.0
  noise_color: str = "both"
  noise_snr_db: tuple[float, float] = (5.0, 30.0)
  babble_prob: float = 0.0
  babble_talkers: int = 3
  babble_snr_db: tuple[float, float] = (5.0, 25.0)
  reverb_prob: float = 0.0
  reverb_rt60: tuple[float, float] = (0.2, 0.8)
  eq_prob: float = 0.0
  eq_db: float = 6.0
  gain_prob: float = 0.0
  gain_db: tuple[float, float] = (-10.0, 10.0)
  speed_prob: float = 0.0
  speed_range: tuple[float, float] = (0.9, 1.1)

  def __post_init__(self):
    for name in ("noise", "babble", "reverb", "eq", "gain", "speed"):
      p = getattr(self, name + "_prob")
      if not 0.0 <= p <= 1.0:
        raise ValueError(f"aug_{name}_prob must be in [0, 1], got {p}")
    for name in ("noise_snr_db", "babble_snr_db", "reverb_rt60", "gain_db", "speed_range"):
      value = tuple(float(v) for v in getattr(self, name))
      if len(value) != 2 or value[0] > value[1]:
        raise ValueError(
          f"aug_{name} must be two numbers low,high with low <= high, got {getattr(self, name)}"
        )
      object.__setattr__(self, name, value)
    if self.noise_color not in NOISE_COLORS:
      raise ValueError(f"aug_noise_color must be one of {NOISE_COLORS}, got {self.noise_color!r}")
    if self.reverb_rt60[0] <= 0 or self.speed_range[0] <= 0:
      raise ValueError(
        "aug_reverb_rt60 and aug_speed_range must be positive, got "
        f"{self.reverb_rt60} and {self.speed_range}"
      )
    if self.babble_talkers < 1 or self.eq_db < 0:
      raise ValueError(
        f"aug_babble_talkers must be >= 1 and aug_eq_db >= 0, got "
        f"{self.babble_talkers} and {self.eq_db}"
      )

  @property
  def enabled(self) -> bool:
    return any(
      getattr(self, k + "_prob") > 0 for k in ("noise", "babble", "reverb", "eq", "gain", "speed")
    )

  @classmethod
  def from_train_config(cls, config: Any) -> "AugmentConfig":
    """From the `aug_<field>` attributes of a TrainConfig."""
    return cls(**{f.name: getattr(config, "aug_" + f.name) for f in dataclasses.fields(cls)})


# ----------------------------------------------------------------------------- transforms


def _valid_mask(length: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
  return tf.cast(tf.range(length) < tf.cast(valid, tf.int32), tf.float32)


def _power(x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
  """Mean square of x [L] over mask [L] (1 = valid)."""
  return tf.reduce_sum(tf.square(x) * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def white_noise(seed: tf.Tensor, length) -> tf.Tensor:
  """Unit-variance Gaussian noise [length] from a stateless seed [2]."""
  return tf.random.stateless_normal([length], seed)


def pink_noise(seed: tf.Tensor, length) -> tf.Tensor:
  """Pink noise [length]: white noise with rFFT magnitudes scaled by 1/sqrt(f) (power ~ 1/f),
  DC removed."""
  length = tf.convert_to_tensor(length, tf.int32)
  spectrum = tf.signal.rfft(white_noise(seed, length))
  bins = tf.cast(tf.range(tf.shape(spectrum)[0]), tf.float32)
  shape = tf.where(bins > 0, tf.math.rsqrt(tf.maximum(bins, 1.0)), 0.0)
  return tf.signal.irfft(spectrum * tf.cast(shape, tf.complex64), [length])


def add_at_snr(audio: tf.Tensor, noise: tf.Tensor, snr_db: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
  """audio + g * noise over the valid samples (mask [L]) with 10 log10(P_audio / P_{g noise})
  = snr_db, powers over the valid samples. A silent chunk stays silent."""
  noise = noise * mask
  p_signal = _power(audio, mask)
  p_noise = _power(noise, mask)
  scale = tf.sqrt(p_signal / (tf.maximum(p_noise, _EPS) * 10.0 ** (snr_db / 10.0)))
  return audio + scale * noise


def apply_gain(audio: tf.Tensor, gain_db: tf.Tensor) -> tf.Tensor:
  return audio * 10.0 ** (gain_db / 20.0)


def room_impulse_response(
  seed: tf.Tensor, rt60: tf.Tensor, sample_rate: int, length: int
) -> tf.Tensor:
  """Synthetic IR [length]: h[0] = 1 (direct path) + n[t] exp(-DECAY_60DB t / (rt60 fs)), n white;
  its energy decay (Schroeder integral) falls 60 dB in rt60 seconds."""
  t = tf.cast(tf.range(length), tf.float32) / float(sample_rate)
  tail = white_noise(seed, length) * tf.exp(-DECAY_60DB * t / rt60)
  return tf.tensor_scatter_nd_update(tail, [[0]], [1.0])


def fft_convolve(x: tf.Tensor, h: tf.Tensor) -> tf.Tensor:
  """Linear convolution of x [L] with h [M] by FFT, the first L samples (x * h)[:L]."""
  n_x, n_h = tf.shape(x)[0], tf.shape(h)[0]
  n = n_x + n_h - 1
  fft_len = tf.cast(
    2 ** tf.math.ceil(tf.math.log(tf.cast(n, tf.float32)) / math.log(2.0)), tf.int32
  )
  y = tf.signal.irfft(tf.signal.rfft(x, [fft_len]) * tf.signal.rfft(h, [fft_len]), [fft_len])
  return y[:n_x]


def reverberate(audio: tf.Tensor, ir: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
  """audio [L] convolved with ir, kept to the valid samples and rescaled to audio's RMS."""
  wet = fft_convolve(audio, ir) * mask
  return wet * tf.sqrt(_power(audio, mask) / tf.maximum(_power(wet, mask), _EPS))


def eq_curve_db(coefficients: tf.Tensor, num_bins) -> tf.Tensor:
  """Gain in dB [num_bins] over rFFT bins 0..f_nyq: sum_k a_k cos(k pi f / f_nyq)."""
  x = tf.cast(tf.range(num_bins), tf.float32) / tf.cast(tf.maximum(num_bins - 1, 1), tf.float32)
  k = tf.range(1, tf.shape(coefficients)[0] + 1, dtype=tf.float32)
  return tf.reduce_sum(coefficients[:, None] * tf.cos(math.pi * k[:, None] * x[None, :]), 0)


def equalize(audio: tf.Tensor, coefficients: tf.Tensor) -> tf.Tensor:
  """audio [L] through the zero-phase magnitude response 10^(eq_curve_db / 20)."""
  length = tf.shape(audio)[0]
  spectrum = tf.signal.rfft(audio)
  gain = 10.0 ** (eq_curve_db(coefficients, tf.shape(spectrum)[0]) / 20.0)
  return tf.signal.irfft(spectrum * tf.cast(gain, tf.complex64), [length])


def _interp_rows(values: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
  """Linear interpolation of values [N, ...] at fractional row positions [M] (clipped)."""
  n = tf.shape(values)[0]
  p = tf.clip_by_value(positions, 0.0, tf.cast(n - 1, tf.float32))
  i0 = tf.cast(tf.floor(p), tf.int32)
  i1 = tf.minimum(i0 + 1, n - 1)
  w = p - tf.cast(i0, tf.float32)
  w = tf.reshape(w, tf.concat([[-1], tf.ones([tf.rank(values) - 1], tf.int32)], 0))
  return tf.gather(values, i0) * (1.0 - w) + tf.gather(values, i1) * w


def speed_perturb(
  audio: tf.Tensor,
  labels: tf.Tensor,
  semantic: tf.Tensor,
  num_frames: tf.Tensor,
  rate: tf.Tensor,
  samples_per_frame: int,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
  """Plays the chunk `rate` times faster (linear-interpolation resampling), same shapes.

  Output sample n = input at n * rate; output frame j (samples j spf ... (j+1) spf) covers
  input frames j rate ... (j+1) rate, so its label (and semantic vector, nearest frame) is the
  input's at frame position (j + 0.5) rate - 0.5. Valid frames: min(F, floor(num_frames / rate));
  audio, labels and semantic beyond them are zero.

  Args: audio [F*spf], labels [F, 3], semantic [F, d], num_frames int scalar, rate float scalar.
  Returns: (audio [F*spf], labels [F, 3], semantic [F, d], num_frames int32).
  """
  length = tf.shape(audio)[0]
  frames = tf.shape(labels)[0]
  nf = tf.cast(num_frames, tf.float32)
  new_frames = tf.minimum(frames, tf.cast(tf.floor(nf / rate + 1e-4), tf.int32))
  valid_samples = nf * samples_per_frame
  src = tf.cast(tf.range(length), tf.float32) * rate
  out = _interp_rows(audio, src)
  sample_mask = _valid_mask(length, new_frames * samples_per_frame)
  out = out * sample_mask * tf.cast(src <= valid_samples - 1.0, tf.float32)
  frame_pos = (tf.cast(tf.range(frames), tf.float32) + 0.5) * rate - 0.5
  frame_pos = tf.minimum(frame_pos, nf - 1.0)
  frame_mask = _valid_mask(frames, new_frames)
  new_labels = _interp_rows(labels, frame_pos) * frame_mask[:, None]
  nearest = tf.clip_by_value(tf.cast(tf.round(frame_pos), tf.int32), 0, frames - 1)
  new_semantic = tf.gather(semantic, nearest) * tf.cast(frame_mask, semantic.dtype)[:, None]
  return out, new_labels, new_semantic, new_frames


# ----------------------------------------------------------------------------- pipeline stages


def example_key(
  seed: int, index: tf.Tensor, recording_id: tf.Tensor, chunk_index: tf.Tensor
) -> tf.Tensor:
  """Stateless key [2] int64 of one example: (seed, position, recording, chunk) folded in."""
  key = tf.constant([seed % (2**31), 0], tf.int64)
  for data in (index, tf.strings.to_hash_bucket_fast(recording_id, 2**31 - 1), chunk_index):
    key = tf.random.experimental.stateless_fold_in(key, tf.cast(data, tf.int64))
  return key


def _uniform(seed, low_high) -> tf.Tensor:
  low, high = low_high
  return tf.random.stateless_uniform([], seed, low, high)


def _maybe(seed, prob: float, fn, x):
  """fn(x) with probability prob (stateless draw), else x; no graph work when prob is 0 or 1."""
  if prob <= 0.0:
    return x
  if prob >= 1.0:
    return fn(x)
  return tf.cond(tf.random.stateless_uniform([], seed) < prob, lambda: fn(x), lambda: x)


def augment_example(
  cfg: AugmentConfig,
  key: tf.Tensor,
  inputs: dict[str, tf.Tensor],
  labels: tf.Tensor,
  samples_per_frame: int,
  sample_rate: int,
) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
  """One training example through speed -> reverb -> eq -> noise -> gain (module docstring).

  inputs: 'audio' [F*spf], 'semantic' [F, d], 'num_frames' int32 scalar (+ others, passed on);
  labels [F, 3]. Returns the same structure.
  """
  seeds = tf.random.experimental.stateless_split(key, 12)
  inputs = dict(inputs)
  if cfg.speed_prob > 0:

    def speed(state):
      a, y, s, n = speed_perturb(*state, _uniform(seeds[1], cfg.speed_range), samples_per_frame)
      return a, y, s, tf.cast(n, state[3].dtype)

    state = (inputs["audio"], labels, inputs["semantic"], inputs["num_frames"])
    state = _maybe(seeds[0], cfg.speed_prob, speed, state)
    inputs["audio"], labels, inputs["semantic"], inputs["num_frames"] = state
  audio = inputs["audio"]
  mask = _valid_mask(tf.shape(audio)[0], inputs["num_frames"] * samples_per_frame)
  ir_length = int(math.ceil(cfg.reverb_rt60[1] * sample_rate))
  audio = _maybe(
    seeds[2],
    cfg.reverb_prob,
    lambda a: reverberate(
      a,
      room_impulse_response(seeds[3], _uniform(seeds[4], cfg.reverb_rt60), sample_rate, ir_length),
      mask,
    ),
    audio,
  )
  audio = _maybe(
    seeds[5],
    cfg.eq_prob,
    lambda a: (
      equalize(
        a,
        tf.random.stateless_uniform(
          [EQ_ORDER], seeds[6], -cfg.eq_db / EQ_ORDER, cfg.eq_db / EQ_ORDER
        ),
      )
      * mask
    ),
    audio,
  )

  def noise(a):
    length = tf.shape(a)[0]
    if cfg.noise_color == "white":
      n = white_noise(seeds[8], length)
    elif cfg.noise_color == "pink":
      n = pink_noise(seeds[8], length)
    else:
      n = tf.cond(
        tf.random.stateless_uniform([], seeds[9]) < 0.5,
        lambda: white_noise(seeds[8], length),
        lambda: pink_noise(seeds[8], length),
      )
    return add_at_snr(a, n, _uniform(seeds[10], cfg.noise_snr_db), mask)

  audio = _maybe(seeds[7], cfg.noise_prob, noise, audio)
  audio = _maybe(
    seeds[11],
    cfg.gain_prob,
    lambda a: apply_gain(
      a, _uniform(tf.random.experimental.stateless_fold_in(seeds[11], 1), cfg.gain_db)
    ),
    audio,
  )
  inputs["audio"] = audio
  return inputs, labels


def add_babble(
  cfg: AugmentConfig,
  keys: tf.Tensor,
  audio: tf.Tensor,
  num_frames: tf.Tensor,
  samples_per_frame: int,
) -> tf.Tensor:
  """Babble across a batch: audio [B, L] -> [B, L], example i gets the sum of examples
  i+1 .. i+talkers (mod B) at an SNR drawn in babble_snr_db, with probability babble_prob.

  keys: [B, 2] per-example stateless keys. A batch of one is returned unchanged.
  """
  batch, length = tf.shape(audio)[0], tf.shape(audio)[1]
  talkers = tf.minimum(cfg.babble_talkers, batch - 1)
  babble = tf.zeros_like(audio)
  for t in range(1, cfg.babble_talkers + 1):
    babble += tf.roll(audio, -t, axis=0) * tf.cast(t <= talkers, audio.dtype)
  mask = tf.cast(
    tf.range(length)[None, :] < (tf.cast(num_frames, tf.int32) * samples_per_frame)[:, None],
    tf.float32,
  )

  def one(args):
    key, a, b, m = args
    seeds = tf.random.experimental.stateless_split(
      tf.random.experimental.stateless_fold_in(key, 7), 2
    )
    mixed = add_at_snr(a, b, _uniform(seeds[1], cfg.babble_snr_db), m)
    take = tf.random.stateless_uniform([], seeds[0]) < cfg.babble_prob
    return tf.where(take & (tf.reduce_sum(tf.abs(b * m)) > 0), mixed, a)

  return tf.map_fn(one, (keys, audio, babble, mask), fn_output_signature=tf.float32)


def active(
  cfg: AugmentConfig | None, training: bool, interlocutor_frames: bool, data_dir: str = ""
) -> AugmentConfig | None:
  """cfg when it augments anything and training is True, else None (evaluation never augments).

  Raises:
    ValueError: augmentation together with interlocutor_frames (not supported).
  """
  if not training or cfg is None or not cfg.enabled:
    return None
  if interlocutor_frames:
    raise ValueError(
      f"{data_dir}: waveform augmentation (--aug_*_prob) does not support "
      "interlocutor_frames; turn one of them off"
    )
  return cfg


def augment_dataset(
  ds: tf.data.Dataset,
  cfg: AugmentConfig | None,
  seed: int | None,
  frame_rate: tuple[int, int],
  keep_ids: bool = True,
) -> tf.data.Dataset:
  """Per-example stage on an unbatched training dataset of (inputs, labels) whose inputs carry
  'recording_id' and 'chunk_index' (dropped unless keep_ids); adds KEY [2] for
  `augment_batches` when babble is on. frame_rate: (samples per frame, sample rate).
  cfg None: ds unchanged."""
  if cfg is None:
    return ds
  if seed is None:
    seed = int(np.random.default_rng().integers(2**31))
  spf, sample_rate = frame_rate

  def fn(index, element):
    inputs, labels = element
    key = example_key(seed, index, inputs["recording_id"], inputs["chunk_index"])
    inputs, labels = augment_example(cfg, key, inputs, labels, spf, sample_rate)
    if cfg.babble_prob > 0:
      inputs[KEY] = key
    if not keep_ids:
      inputs = {k: v for k, v in inputs.items() if k not in ("recording_id", "chunk_index")}
    return inputs, labels

  return ds.enumerate().map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def augment_batches(
  ds: tf.data.Dataset, cfg: AugmentConfig | None, samples_per_frame: int
) -> tf.data.Dataset:
  """Batch stage (babble); removes KEY from the inputs. cfg None: ds unchanged."""
  if cfg is None or cfg.babble_prob <= 0:
    return ds

  def fn(inputs, labels):
    inputs = dict(inputs)
    keys = inputs.pop(KEY)
    inputs["audio"] = add_babble(
      cfg, keys, inputs["audio"], inputs["num_frames"], samples_per_frame
    )
    return inputs, labels

  return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
