"""Bootstrap confidence intervals of the AVEC concatenated CCC (paper Eq. 8) over recordings.

The unit resampled is the recording (frames of one recording are not independent): a resample
draws R recordings with replacement from the R evaluated ones and recomputes the CCC of the
concatenation of the drawn recordings' frames. That CCC depends on the frames only through the
sufficient statistics (n, sum x, sum y, sum x^2, sum y^2, sum xy) per dimension, and the
statistics of a concatenation are the sums of the parts' statistics; so each recording's
statistics [6, dims] are computed once, and all resamples at once are a product of a
resample-count matrix [B, R] (how often each recording is drawn) with the stacked statistics
[R, 6 * dims] (numpy, float64). The interval is the percentile interval of the B resampled
values.

`paired_bootstrap_diff` resamples the same recordings for two models (one count matrix for
both), so the interval is that of the difference on the same data, not of two independent
figures. A model trained with several seeds enters with statistics [seeds, R, 6, dims]: its
figure is the mean over seeds of each seed's concatenated CCC (what the tables report as the
mean over seeds), and in every resample each seed's CCC is recomputed on the same drawn
recordings before averaging (recordings are resampled, seeds are not).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from emotion_tf import LABEL_NAMES
from emotion_tf.model import ccc as ccc_lib

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95


def recording_statistics(
  labels: Mapping[str, np.ndarray],
  predictions: Mapping[str, np.ndarray],
  ids: Sequence[str] | None = None,
) -> np.ndarray:
  """Sufficient statistics of Eq. 8 per recording.

  Args:
    labels, predictions: {recording_id: [frames, dims]} (valid frames only; x = gold).
    ids: the recordings, in the order of the result's first axis (default sorted ids).

  Returns:
    float64 [R, 6, dims]: rows count, sum x, sum y, sum x^2, sum y^2, sum xy
    (the row order of `emotion_tf.model.ccc`).
  """
  ids = sorted(labels) if ids is None else list(ids)
  if not ids:
    raise ValueError("no recordings")
  out = []
  for rid in ids:
    x = np.asarray(labels[rid], np.float64)
    y = np.asarray(predictions[rid], np.float64)
    if x.shape != y.shape or x.ndim != 2:
      raise ValueError(
        f"{rid}: labels {x.shape} and predictions {y.shape} must both be [frames, dims]"
      )
    out.append(
      np.stack(
        [
          np.full(x.shape[1], float(x.shape[0])),
          x.sum(0),
          y.sum(0),
          (x * x).sum(0),
          (y * y).sum(0),
          (x * y).sum(0),
        ]
      )
    )
  return np.stack(out)


def summary_statistics(partition_summary: Mapping[str, Any]) -> tuple[list[str], np.ndarray]:
  """(sorted recording ids, float64 [R, 6, dims]) from an evaluation.json partition entry
  (`evaluate_lib.ccc_summary` stores each recording's 'statistics')."""
  recs = partition_summary.get("recordings") or {}
  ids = sorted(recs)
  missing = [i for i in ids if "statistics" not in recs[i]]
  if not ids or missing:
    raise ValueError(
      "evaluation summary has no per-recording statistics"
      + (f" for {', '.join(missing[:3])}" if missing else "")
    )
  return ids, np.asarray([recs[i]["statistics"] for i in ids], np.float64)


def ccc_from_statistics(stats: np.ndarray) -> np.ndarray:
  """CCC [..., dims] from summed statistics [..., 6, dims] (Eq. 8, population moments)."""
  stats = np.asarray(stats, np.float64)
  n = np.maximum(stats[..., ccc_lib.STAT_COUNT, :], 1.0)
  mx = stats[..., ccc_lib.STAT_X, :] / n
  my = stats[..., ccc_lib.STAT_Y, :] / n
  vx = stats[..., ccc_lib.STAT_XX, :] / n - mx * mx
  vy = stats[..., ccc_lib.STAT_YY, :] / n - my * my
  cov = stats[..., ccc_lib.STAT_XY, :] / n - mx * my
  return 2.0 * cov / np.maximum(vx + vy + (mx - my) ** 2, 1e-12)


def resample_counts(num_recordings: int, resamples: int, seed: int) -> np.ndarray:
  """[resamples, num_recordings] int: how often each recording is drawn in each resample
  (num_recordings draws with replacement; every row sums to num_recordings)."""
  if num_recordings < 1 or resamples < 1:
    raise ValueError(f"need >= 1 recording and >= 1 resample, got {num_recordings} and {resamples}")
  rng = np.random.default_rng(seed)
  draws = rng.integers(0, num_recordings, size=(resamples, num_recordings))
  counts = np.zeros((resamples, num_recordings), np.int64)
  np.add.at(counts, (np.arange(resamples)[:, None], draws), 1)
  return counts


def resampled_ccc(per_recording_stats: np.ndarray, counts: np.ndarray) -> np.ndarray:
  """CCC [B, dims] of each resample: counts [B, R] @ statistics [R, 6, dims]; statistics
  [S, R, 6, dims] of S seeds give the mean over seeds of each seed's resampled CCC."""
  s = np.asarray(per_recording_stats, np.float64)
  if s.ndim == 4:
    return np.mean([resampled_ccc(seed_stats, counts) for seed_stats in s], axis=0)
  summed = np.asarray(counts, np.float64) @ s.reshape(s.shape[0], -1)
  return ccc_from_statistics(summed.reshape((-1,) + s.shape[1:]))


def point_ccc(per_recording_stats: np.ndarray) -> np.ndarray:
  """CCC [dims] of all recordings ([R, 6, dims]), or its mean over seeds ([S, R, 6, dims])."""
  s = np.asarray(per_recording_stats, np.float64)
  return ccc_from_statistics(s.sum(axis=-3)).reshape(-1, s.shape[-1]).mean(axis=0)


def _with_mean(values: np.ndarray) -> np.ndarray:
  """[..., dims] -> [..., dims + 1] with the mean over dimensions appended."""
  return np.concatenate([values, values.mean(axis=-1, keepdims=True)], axis=-1)


def _interval(
  point: np.ndarray, samples: np.ndarray, confidence: float, names: Sequence[str]
) -> dict[str, Any]:
  alpha = (1.0 - confidence) / 2.0
  lo, hi = np.quantile(samples, [alpha, 1.0 - alpha], axis=0)
  keys = list(names) + ["mean"]
  return {
    "value": dict(zip(keys, map(float, point), strict=False)),
    "ci": {k: [float(a), float(b)] for k, a, b in zip(keys, lo, hi, strict=False)},
  }


def _check(resamples: int, confidence: float) -> None:
  if resamples < 1:
    raise ValueError(f"bootstrap resamples must be >= 1, got {resamples}")
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def bootstrap_ccc_ci(
  per_recording_stats: np.ndarray,
  resamples: int = DEFAULT_RESAMPLES,
  seed: int = 0,
  confidence: float = DEFAULT_CONFIDENCE,
  label_names: Sequence[str] = LABEL_NAMES,
) -> dict[str, Any]:
  """Percentile bootstrap CI of the concatenated CCC, resampling recordings.

  Args:
    per_recording_stats: [R, 6, dims] of `recording_statistics`, or [S, R, 6, dims] of S
      seeds' predictions of the same recordings (the CI of the seed-mean CCC: each resample
      draws the same recordings for every seed).
    resamples: number of bootstrap resamples B.
    seed: seed of the resample draws (same seed and R -> same resamples).
    confidence: e.g. 0.95 for the 2.5 / 97.5 percentiles.
    label_names: names of the `dims` columns.

  Returns:
    {'value': {name: CCC of all recordings, ..., 'mean': mean over dims},
     'ci': {name: [lo, hi], ..., 'mean': [lo, hi]} (the mean's CI is that of the per-resample
     mean over dimensions), 'resamples', 'seed', 'confidence', 'num_recordings'}.
  """
  _check(resamples, confidence)
  s = np.asarray(per_recording_stats, np.float64)
  if s.ndim not in (3, 4):
    raise ValueError(
      f"bootstrap: statistics must be [R, 6, dims] or [S, R, 6, dims], got {s.shape}"
    )
  counts = resample_counts(s.shape[-3], resamples, seed)
  point = _with_mean(point_ccc(s))
  result = _interval(point, _with_mean(resampled_ccc(s, counts)), confidence, label_names)
  result.update(
    resamples=int(resamples),
    seed=int(seed),
    confidence=float(confidence),
    num_recordings=int(s.shape[-3]),
  )
  return result


def paired_bootstrap_diff(
  stats_a: np.ndarray,
  stats_b: np.ndarray,
  resamples: int = DEFAULT_RESAMPLES,
  seed: int = 0,
  confidence: float = DEFAULT_CONFIDENCE,
  label_names: Sequence[str] = LABEL_NAMES,
) -> dict[str, Any]:
  """Paired bootstrap CI of CCC(A) - CCC(B) on the same recordings.

  Args:
    stats_a, stats_b: [R, 6, dims] (or [seeds, R, 6, dims], seed counts may differ) of two
      models' predictions of the same R recordings in the same order (gold rows must agree).
    resamples, seed, confidence, label_names: as in `bootstrap_ccc_ci`.

  Returns:
    As `bootstrap_ccc_ci`, of the difference A - B, plus 'fraction_not_positive': {name: share
    of resamples where A - B <= 0} (a one-sided bootstrap p-value for "A beats B").
  """
  _check(resamples, confidence)
  a = np.asarray(stats_a, np.float64)
  b = np.asarray(stats_b, np.float64)
  a = a[None] if a.ndim == 3 else a
  b = b[None] if b.ndim == 3 else b
  if a.ndim != 4 or a.shape[1:] != b.shape[1:]:
    raise ValueError(f"paired bootstrap: statistics shapes differ: {a.shape} vs {b.shape}")
  gold = [ccc_lib.STAT_COUNT, ccc_lib.STAT_X, ccc_lib.STAT_XX]
  if not np.allclose(np.concatenate([a, b])[:, :, gold], a[:1, :, gold], rtol=1e-9, atol=1e-6):
    raise ValueError("paired bootstrap: the two models were not scored on the same gold frames")
  counts = resample_counts(a.shape[1], resamples, seed)
  point = _with_mean(point_ccc(a)) - _with_mean(point_ccc(b))
  diffs = _with_mean(resampled_ccc(a, counts)) - _with_mean(resampled_ccc(b, counts))
  result = _interval(point, diffs, confidence, label_names)
  keys = list(label_names) + ["mean"]
  result["fraction_not_positive"] = dict(
    zip(keys, map(float, (diffs <= 0).mean(axis=0)), strict=False)
  )
  result.update(
    resamples=int(resamples),
    seed=int(seed),
    confidence=float(confidence),
    num_recordings=int(a.shape[1]),
    seeds=[int(a.shape[0]), int(b.shape[0])],
  )
  return result


def format_ci(value: float, ci: Sequence[float], decimals: int = 3) -> str:
  """'0.512 [0.401, 0.598]'."""
  return f"{value:.{decimals}f} [{ci[0]:.{decimals}f}, {ci[1]:.{decimals}f}]"
