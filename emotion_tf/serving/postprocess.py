"""Devel-tuned post-processing of 10 Hz predictions: a time shift and Gaussian smoothing.

The end-to-end systems this paper builds on post-process the network's frame-level output
with settings chosen on the development partition (Trigeorgis et al., ICASSP 2016, "Adieu
features?": median filtering, centring, scaling, time shifting; the AVEC 2017 baselines tune
a label delay). Here, per dimension d, the prediction of recording r is

  shifted(t) = y(clip(t + k_d, 0, T - 1))              k_d = shift_s[d] / hop (frames)
  out(t)     = sum_j g_d(j) shifted(clip(t + j, 0, T - 1)),
               g_d(j) proportional to exp(-j^2 / (2 s_d^2)), |j| <= int(4 s_d + 0.5)

with s_d = sigma_s[d] / hop frames (sigma 0: no smoothing; edges repeat the end values,
`scipy.ndimage.gaussian_filter1d(mode="nearest")`). A positive shift moves the prediction
earlier (output of t + k used at t). `fit_postprocessing` chooses (shift, sigma) per
dimension maximising the Devel CCC (Eq. 8) over the concatenated recordings; nothing else of
the model changes. Recordings are smoothed each on its own (no smoothing across recordings).
"""

import dataclasses
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from emotion_tf import FRAME_HOP_SECONDS, LABEL_NAMES
from emotion_tf.model.ccc import concordance_cc_numpy
from emotion_tf.util import fileio

FILENAME = "postprocess.json"
DEFAULT_SHIFTS_S = (-1.0, -0.5, -0.2, 0.0, 0.2, 0.5, 1.0)
DEFAULT_SIGMAS_S = (0.0, 0.1, 0.2, 0.5, 1.0, 2.0)


class PostprocessError(ValueError):
  """A post-processing file that cannot be used."""


def shift_frames(x: np.ndarray, frames: int) -> np.ndarray:
  """x [T, ...] -> [T, ...] with out[t] = x[clip(t + frames, 0, T - 1)]."""
  x = np.asarray(x)
  if frames == 0 or x.shape[0] == 0:
    return x.copy()
  idx = np.clip(np.arange(x.shape[0]) + int(frames), 0, x.shape[0] - 1)
  return x[idx]


def gaussian_smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
  """Gaussian smoothing along axis 0 with edge repetition; x [T, ...] -> float64 [T, ...].

  Kernel radius int(4 sigma + 0.5) (scipy's truncate=4), weights normalised to sum 1;
  sigma <= 0 returns x.
  """
  x = np.asarray(x, np.float64)
  if sigma_frames <= 0 or x.shape[0] == 0:
    return x.copy()
  radius = int(4.0 * sigma_frames + 0.5)
  offsets = np.arange(-radius, radius + 1)
  weights = np.exp(-0.5 * (offsets / sigma_frames) ** 2)
  weights /= weights.sum()
  idx = np.clip(np.arange(x.shape[0])[:, None] + offsets[None, :], 0, x.shape[0] - 1)  # [T, K]
  return np.tensordot(weights, x[idx.T], axes=(0, 0))  # [T, ...]


@dataclasses.dataclass(frozen=True)
class PostProcessing:
  """Per-dimension shift and smoothing (seconds); see the module docstring for the formula."""

  shift_s: tuple[float, ...]
  sigma_s: tuple[float, ...]
  hop_s: float = FRAME_HOP_SECONDS
  label_names: tuple[str, ...] = LABEL_NAMES

  def __post_init__(self):
    if not len(self.shift_s) == len(self.sigma_s) == len(self.label_names):
      raise PostprocessError(
        f"shift_s, sigma_s and label_names need one entry per dimension, "
        f"got {len(self.shift_s)}, {len(self.sigma_s)}, "
        f"{len(self.label_names)}"
      )
    if not self.hop_s > 0 or any(s < 0 for s in self.sigma_s):
      raise PostprocessError(
        f"hop_s must be > 0 and sigma_s >= 0, got {self.hop_s}, {self.sigma_s}"
      )

  def apply(self, predictions: np.ndarray) -> np.ndarray:
    """predictions float [T, D] of one recording -> float32 [T, D]."""
    predictions = np.asarray(predictions)
    if predictions.ndim != 2 or predictions.shape[1] != len(self.label_names):
      raise PostprocessError(
        f"predictions must be [frames, {len(self.label_names)}], got {predictions.shape}"
      )
    out = np.empty(predictions.shape, np.float32)
    for d, (shift, sigma) in enumerate(zip(self.shift_s, self.sigma_s, strict=False)):
      col = shift_frames(predictions[:, d], int(round(shift / self.hop_s)))
      out[:, d] = gaussian_smooth(col, sigma / self.hop_s)
    return out

  def apply_all(self, predictions: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{recording_id: [T, D]} -> the same ids, each recording processed on its own."""
    return {rid: self.apply(p) for rid, p in predictions.items()}

  def to_json(self) -> dict[str, Any]:
    return {
      "shift_s": list(self.shift_s),
      "sigma_s": list(self.sigma_s),
      "hop_s": self.hop_s,
      "label_names": list(self.label_names),
    }

  @classmethod
  def from_json(cls, data: Mapping[str, Any]) -> "PostProcessing":
    try:
      return cls(
        tuple(float(v) for v in data["shift_s"]),
        tuple(float(v) for v in data["sigma_s"]),
        float(data["hop_s"]),
        tuple(str(n) for n in data["label_names"]),
      )
    except (KeyError, TypeError, ValueError) as e:
      if isinstance(e, PostprocessError):
        raise
      raise PostprocessError(f"not a post-processing record ({e!r})") from e


def identity(
  label_names: Sequence[str] = LABEL_NAMES, hop_s: float = FRAME_HOP_SECONDS
) -> PostProcessing:
  """No shift, no smoothing."""
  zeros = tuple(0.0 for _ in label_names)
  return PostProcessing(zeros, zeros, hop_s, tuple(label_names))


def fit_postprocessing(
  predictions: Mapping[str, np.ndarray],
  labels: Mapping[str, np.ndarray],
  label_names: Sequence[str] = LABEL_NAMES,
  hop_s: float = FRAME_HOP_SECONDS,
  shifts_s: Sequence[float] = DEFAULT_SHIFTS_S,
  sigmas_s: Sequence[float] = DEFAULT_SIGMAS_S,
) -> tuple[PostProcessing, dict[str, Any]]:
  """Chooses (shift, sigma) per dimension maximising the CCC over all recordings concatenated.

  Args:
    predictions, labels: {recording_id: [T_r, D]} of the tuning partition (Devel), same ids
      and shapes.
    label_names: the D dimension names.
    hop_s: frame hop in seconds.
    shifts_s, sigmas_s: the grid (seconds); ties go to the earlier grid entry, so list the
      neutral settings first where that matters.

  Returns:
    (PostProcessing, report): report = {'ccc_raw': {name: CCC without post-processing},
    'ccc': {name: CCC with the chosen setting}, 'grid': number of settings per dimension}.
  """
  ids = sorted(labels)
  if not ids or sorted(predictions) != ids:
    raise PostprocessError("predictions and labels must cover the same, non-empty recordings")
  gold = np.concatenate([np.asarray(labels[r], np.float64) for r in ids])
  raw = np.concatenate([np.asarray(predictions[r], np.float64) for r in ids])
  if gold.shape != raw.shape or gold.ndim != 2 or gold.shape[1] != len(label_names):
    raise PostprocessError(
      f"labels {gold.shape} and predictions {raw.shape} must both be [frames, {len(label_names)}]"
    )
  settings = list(itertools.product(shifts_s, sigmas_s))
  best = [(-np.inf, (0.0, 0.0))] * len(label_names)
  for shift, sigma in settings:
    pp = PostProcessing(
      tuple(shift for _ in label_names),
      tuple(sigma for _ in label_names),
      hop_s,
      tuple(label_names),
    )
    out = np.concatenate([pp.apply(predictions[r]) for r in ids])
    values = concordance_cc_numpy(gold, out, axis=0)
    best = [
      b if v <= b[0] else (float(v), (shift, sigma)) for b, v in zip(best, values, strict=False)
    ]
  chosen = PostProcessing(
    tuple(float(b[1][0]) for b in best),
    tuple(float(b[1][1]) for b in best),
    hop_s,
    tuple(label_names),
  )
  raw_ccc = concordance_cc_numpy(gold, raw, axis=0)
  report = {
    "ccc_raw": dict(zip(label_names, map(float, raw_ccc), strict=False)),
    "ccc": {n: b[0] for n, b in zip(label_names, best, strict=False)},
    "grid": len(settings),
  }
  for n, b in zip(label_names, best, strict=False):
    logging.info(
      "post-processing %s: shift %+.1f s, sigma %.1f s (tuning CCC %.4f -> %.4f)",
      n,
      b[1][0],
      b[1][1],
      report["ccc_raw"][n],
      b[0],
    )
  return chosen, report


def write(path: str, pp: PostProcessing, report: Mapping[str, Any]) -> None:
  """Writes `pp` (and the tuning report) as JSON, atomically."""
  fileio.write_json(path, dict(pp.to_json(), tuning=dict(report)))


def read(path: str) -> PostProcessing:
  """Reads a file of `write`; raises PostprocessError naming the file when it is unusable."""
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except FileNotFoundError as e:
    raise PostprocessError(f"{path}: post-processing file is missing") from e
  except (OSError, ValueError) as e:
    raise PostprocessError(f"{path}: cannot read the post-processing file ({e})") from e
  if not isinstance(data, dict):
    raise PostprocessError(f"{path}: not a post-processing record (a JSON object)")
  try:
    return PostProcessing.from_json(data)
  except PostprocessError as e:
    raise PostprocessError(f"{path}: {e}") from e


def read_for(path: str, label_names: Sequence[str], hop_s: float) -> PostProcessing:
  """`read`, then checked against the model's label names and hop (PostprocessError naming
  the file when they differ)."""
  post = read(path)
  if post.label_names != tuple(label_names) or abs(post.hop_s - hop_s) > 1e-9:
    raise PostprocessError(
      f"{path}: made for labels {list(post.label_names)} at a {post.hop_s} s hop, the model "
      f"predicts {list(label_names)} at {hop_s} s"
    )
  return post
