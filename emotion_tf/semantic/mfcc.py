"""MFCC front end of Speech2Vec (Sec. 3.1; Chung & Glass 2018), built on `tf.signal`.

Defaults: 13 coefficients from 40 log-mel bands, 25 ms Hann window, 10 ms hop at
22 050 Hz (551 / 221 samples: `round half up` of 551.25 and 220.5), FFT 1024,
mel band 20 Hz - 8 kHz, optional first and second derivatives (deltas, regression
over +-2 frames) which give 39 features.

`segment_cmn` (default on) subtracts each segment's own mean MFCC vector (cepstral mean
normalisation per word segment, before deltas). It removes the static spectral offset of
a word instance -- speaker timbre, channel and loudness -- and keeps its spectral
trajectory, which identifies the word. Without it, Speech2Vec's skip-gram objective is
dominated by what neighbouring words share acoustically (the same voice and prosody)
rather than by which words they are.

`segment_cvn` (default on, needs `segment_cmn`) also divides each coefficient by its
standard deviation over the segment's frames (per-segment CMVN). Loudness and pitch
range, which carry arousal in the synthetic corpus, scale the cepstral trajectories; CVN
removes that scale too. `resample_frames` linearly resamples every segment's MFCC
sequence to a fixed number of frames, which removes speaking rate (Speech2Vec applies it
with `Speech2VecConfig.resample_frames`, to encoder inputs and decoder targets alike).

Framing is `pad_end=False`: a segment of `n` samples gives
`1 + (n - frame_length) // frame_step` frames, and none when it is shorter than one
window (such segments are skipped by the callers). Because frames never reach past
the segment, the MFCCs of a waveform padded with anything are identical, on the valid
frames, to those of the unpadded waveform; that is what lets the SavedModel take a
padded batch of waveforms plus their lengths.

Mean/variance normalisation statistics come from the training segments only
(`Normalizer.fit`) and are saved as JSON beside the model.
"""

import dataclasses
import json
import math

import numpy as np
import tensorflow as tf

from emotion_tf import SAMPLE_RATE
from emotion_tf.util import fileio


def _round_half_up(x: float) -> int:
  return int(math.floor(x + 0.5))


@dataclasses.dataclass(frozen=True)
class MfccConfig:
  """MFCC settings (all durations in seconds)."""

  sample_rate: int = SAMPLE_RATE
  num_mfcc: int = 13
  window_seconds: float = 0.025
  hop_seconds: float = 0.010
  num_mel_bins: int = 40
  lower_hz: float = 20.0
  upper_hz: float = 8000.0
  deltas: bool = False
  segment_cmn: bool = True
  segment_cvn: bool = True
  cvn_floor: float = 0.1
  log_offset: float = 1e-6

  @property
  def frame_length(self) -> int:
    """Window length in samples (551 at the defaults)."""
    return _round_half_up(self.window_seconds * self.sample_rate)

  @property
  def frame_step(self) -> int:
    """Hop in samples (221 at the defaults)."""
    return _round_half_up(self.hop_seconds * self.sample_rate)

  @property
  def fft_length(self) -> int:
    """Smallest power of two >= frame_length (1024 at the defaults)."""
    return int(2 ** math.ceil(math.log2(self.frame_length)))

  @property
  def num_features(self) -> int:
    """Features per frame: num_mfcc, or 3 * num_mfcc with deltas."""
    return self.num_mfcc * (3 if self.deltas else 1)

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict) -> "MfccConfig":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


def num_frames_for(num_samples, config: MfccConfig):
  """Frames of a segment of `num_samples` samples (0 if shorter than one window).

  Works on Python ints, numpy arrays and tensors (int), shape preserved.
  """
  if isinstance(num_samples, (tf.Tensor, tf.Variable)):
    n = tf.cast(num_samples, tf.int32)
    frames = 1 + (n - config.frame_length) // config.frame_step
    return tf.where(n >= config.frame_length, frames, tf.zeros_like(frames))
  n = np.asarray(num_samples, dtype=np.int64)
  frames = np.where(n >= config.frame_length, 1 + (n - config.frame_length) // config.frame_step, 0)
  return int(frames) if frames.ndim == 0 else frames.astype(np.int32)


def _deltas(features: tf.Tensor, lengths: tf.Tensor, width: int = 2) -> tf.Tensor:
  """Regression deltas over +-`width` frames, edges replicated at each valid end.

  d_t = sum_n n (c_{t+n} - c_{t-n}) / (2 sum_n n^2), with t+-n clipped to
  [0, length-1] per sequence so padding never leaks in.

  Args:
    features: [B, T, F] float32.
    lengths: [B] int32 valid frames.
  Returns:
    [B, T, F] float32.
  """
  t = tf.range(tf.shape(features)[1])[tf.newaxis, :]
  last = tf.maximum(lengths - 1, 0)[:, tf.newaxis]
  denom = 2.0 * sum(n * n for n in range(1, width + 1))
  out = tf.zeros_like(features)
  for n in range(1, width + 1):
    fwd = tf.gather(features, tf.minimum(tf.maximum(t + n, 0), last), batch_dims=1)
    bwd = tf.gather(features, tf.minimum(tf.maximum(t - n, 0), last), batch_dims=1)
    out += float(n) * (fwd - bwd)
  return out / denom


def compute_mfcc(
  waveforms: tf.Tensor, lengths: tf.Tensor, config: MfccConfig
) -> tuple[tf.Tensor, tf.Tensor]:
  """MFCCs of a padded batch of waveform segments.

  Args:
    waveforms: [B, S] float32, each row a segment zero- (or anything-) padded.
    lengths: [B] int valid samples per row.
    config: MfccConfig.
  Returns:
    (features, num_frames): features [B, T, F] float32 with T = frames of S samples
    (at least 1 row of zeros when S is shorter than a window) and F =
    config.num_features, zero beyond each row's valid frames; num_frames [B] int32.
  """
  waveforms = tf.convert_to_tensor(waveforms, tf.float32)
  lengths = tf.cast(lengths, tf.int32)
  batch = tf.shape(waveforms)[0]
  # Pad so that at least one frame exists; padded frames are masked below.
  short = tf.maximum(config.frame_length - tf.shape(waveforms)[1], 0)
  waveforms = tf.pad(waveforms, [[0, 0], [0, short]])
  stft = tf.signal.stft(
    waveforms,
    frame_length=config.frame_length,
    frame_step=config.frame_step,
    fft_length=config.fft_length,
    window_fn=tf.signal.hann_window,
    pad_end=False,
  )
  magnitude = tf.abs(stft)  # [B, T, fft/2+1]
  mel_matrix = tf.signal.linear_to_mel_weight_matrix(
    num_mel_bins=config.num_mel_bins,
    num_spectrogram_bins=config.fft_length // 2 + 1,
    sample_rate=config.sample_rate,
    lower_edge_hertz=config.lower_hz,
    upper_edge_hertz=config.upper_hz,
  )
  log_mel = tf.math.log(tf.tensordot(magnitude, mel_matrix, 1) + config.log_offset)
  mfcc = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., : config.num_mfcc]
  num_frames = num_frames_for(lengths, config)
  mask = tf.sequence_mask(num_frames, tf.shape(mfcc)[1], dtype=tf.float32)[:, :, tf.newaxis]
  if config.segment_cmn:
    count = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
    mfcc = mfcc - tf.reduce_sum(mfcc * mask, axis=1, keepdims=True) / count
    if config.segment_cvn:
      # Per-segment variance normalisation; the floor keeps near-constant (1-frame) segments finite.
      var = tf.reduce_sum(tf.square(mfcc) * mask, axis=1, keepdims=True) / count
      mfcc = mfcc / tf.maximum(tf.sqrt(var), config.cvn_floor)
  if config.deltas:
    d1 = _deltas(mfcc, num_frames)
    d2 = _deltas(d1, num_frames)
    mfcc = tf.concat([mfcc, d1, d2], axis=-1)
  mfcc = mfcc * mask
  mfcc = tf.reshape(mfcc, [batch, -1, config.num_features])
  return mfcc, num_frames


def resample_frames(features, lengths, num_frames: int):
  """Linear time normalisation: each segment's valid frames resampled to `num_frames`.

  Output frame j of a segment with L >= 1 valid frames samples the input at position
  p_j = clip((j + 0.5) * L / num_frames - 0.5, 0, L - 1) (frame centres mapped onto
  frame centres), linearly interpolating between frames floor(p_j) and floor(p_j) + 1.
  This removes speaking rate (duration) while keeping the spectral trajectory.

  Args:
    features: [B, T, F] float32 (tensor or numpy), valid frames first.
    lengths: [B] int valid frames (0 = empty segment).
    num_frames: R >= 1.
  Returns:
    (resampled [B, R, F] float32 tensor, zero rows for empty segments;
     new lengths [B] int32 = R where lengths > 0, else 0).
  """
  features = tf.convert_to_tensor(features, tf.float32)
  lengths = tf.cast(lengths, tf.int32)
  length_f = tf.cast(lengths, tf.float32)[:, tf.newaxis]  # [B, 1]
  j = tf.cast(tf.range(num_frames), tf.float32)[tf.newaxis, :]  # [1, R]
  pos = (j + 0.5) * length_f / float(num_frames) - 0.5
  pos = tf.clip_by_value(pos, 0.0, tf.maximum(length_f - 1.0, 0.0))
  lo = tf.cast(tf.floor(pos), tf.int32)
  hi = tf.minimum(lo + 1, tf.maximum(lengths - 1, 0)[:, tf.newaxis])
  frac = (pos - tf.cast(lo, tf.float32))[:, :, tf.newaxis]
  out = (1.0 - frac) * tf.gather(features, lo, batch_dims=1) + frac * tf.gather(
    features, hi, batch_dims=1
  )
  valid = lengths > 0
  out = tf.where(valid[:, tf.newaxis, tf.newaxis], out, tf.zeros_like(out))
  return out, tf.where(valid, tf.fill(tf.shape(lengths), num_frames), tf.zeros_like(lengths))


@dataclasses.dataclass(frozen=True)
class Normalizer:
  """Per-feature mean/std normalisation, fitted on training frames only.

  Attributes: mean, std: float32 [F]; count: frames used to fit.
  """

  mean: np.ndarray
  std: np.ndarray
  count: int

  @classmethod
  def fit(cls, features: np.ndarray, lengths: np.ndarray, min_std: float = 1e-5) -> "Normalizer":
    """Fits on the valid frames of `features` [N, T, F] with `lengths` [N]."""
    features = np.asarray(features, np.float64)
    mask = np.arange(features.shape[1])[None, :] < np.asarray(lengths)[:, None]
    frames = features[mask]
    if frames.shape[0] == 0:
      raise ValueError("cannot fit MFCC normalisation: no valid frames")
    mean = frames.mean(axis=0)
    std = np.maximum(frames.std(axis=0), min_std)
    return cls(mean.astype(np.float32), std.astype(np.float32), int(frames.shape[0]))

  def apply(self, features, lengths):
    """Normalises [N, T, F] (numpy or tensor); frames past `lengths` stay zero."""
    if isinstance(features, tf.Tensor):
      mask = tf.sequence_mask(lengths, tf.shape(features)[1], dtype=features.dtype)
      return (features - self.mean) / self.std * mask[:, :, tf.newaxis]
    mask = np.arange(features.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return ((features - self.mean) / self.std * mask[:, :, None]).astype(np.float32)

  def save(self, path: str) -> None:
    """Writes JSON {mean, std, count} atomically."""
    payload = {"mean": self.mean.tolist(), "std": self.std.tolist(), "count": self.count}
    fileio.write_json(path, payload, indent=1)

  @classmethod
  def load(cls, path: str) -> "Normalizer":
    try:
      with open(path, encoding="utf-8") as f:
        d = json.load(f)
      mean = np.asarray(d["mean"], np.float32)
      std = np.asarray(d["std"], np.float32)
      count = int(d["count"])
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise ValueError(f"{path}: not a valid MFCC normaliser file ({e})") from e
    if mean.shape != std.shape or mean.ndim != 1:
      raise ValueError(f"{path}: mean {mean.shape} and std {std.shape} must be equal 1-D shapes")
    return cls(mean, std, count)
