"""The AVEC 2017 audio baseline (the paper's Table 4 "Baseline" row, ref. [16]).

  eGeMAPS low-level descriptors (openSMILE, 25 LLDs every 10 ms)
    -> functionals (mean and standard deviation) over a window around every 0.1 s label step
    -> per dimension a linear regressor (ridge, or a linear SVR as AVEC used) on features
       standardised with the Train statistics,
  trained on Train; window length, label delay, regressor and its strength chosen per
  dimension by Devel CCC (Eq. 8 over all Devel frames concatenated, the AVEC convention).

The feature and regression functions are pure functions of arrays (`egemaps_llds` runs
openSMILE on an array); `load_llds` caches the LLDs of one wav file, and `load_corpus_data` /
`run_baseline` read a SEWA-layout corpus and write the evaluation (the binary
`python -m emotion_tf.baseline`). Shapes:

  LLDs of one recording         lld_times float64 [T] (seconds, frame centres, increasing),
                                llds float32 [T, D] (D = 25 for eGeMAPS v02)
  labels of one recording       label_times float64 [N], labels float32 [N, 3]
  window features               float64 [N, 2 D]: D means, then D standard deviations

Label delay: annotators react late, so the label at time t describes the audio around
t - delay; the features of label step t are those of the window anchored at t - delay
(AVEC 2017 tuned this delay for its baselines).
"""

import dataclasses
import io
import itertools
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from emotion_tf import LABEL_NAMES
from emotion_tf.util import fileio

ANCHORS = ("centre", "end")
REGRESSORS = ("ridge", "svr")
LLD_CACHE_VERSION = 1
DEFAULT_WINDOWS = (1.0, 2.0, 4.0, 6.0, 8.0)
DEFAULT_DELAYS = (0.0, 1.0, 2.0)
DEFAULT_ALPHAS = (1e-1, 1e1, 1e2, 1e3, 1e4)
DEFAULT_SVR_CS = (1e-4, 1e-3, 1e-2)


# ------------------------------------------------------------------------------------ features


def _smile():
  import opensmile

  return opensmile.Smile(
    feature_set=opensmile.FeatureSet.eGeMAPSv02,
    feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
  )


def egemaps_lld_names() -> list[str]:
  """Names of the D = 25 eGeMAPS v02 LLDs, in the column order of `egemaps_llds`."""
  return list(_smile().feature_names)


def egemaps_llds(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
  """eGeMAPS v02 low-level descriptors of a mono signal (openSMILE, shipped in its wheel).

  Args:
    audio: float [samples], mono, values in [-1, 1].
    sample_rate: Hz.

  Returns:
    (times float64 [T], llds float32 [T, 25]): one row per 10 ms LLD frame; `times` are the
    frame centres in seconds. Non-finite values (none expected) are replaced by 0.
  """
  audio = np.asarray(audio, np.float32).reshape(-1)
  if audio.size == 0:
    raise ValueError("egemaps_llds: empty signal")
  frame = _smile().process_signal(audio, int(sample_rate))
  starts = frame.index.get_level_values("start").total_seconds().to_numpy(np.float64)
  ends = frame.index.get_level_values("end").total_seconds().to_numpy(np.float64)
  values = frame.to_numpy(np.float32)
  bad = ~np.isfinite(values)
  if bad.any():
    logging.warning("egemaps_llds: %d non-finite LLD values set to 0", int(bad.sum()))
    values = np.where(bad, np.float32(0), values)
  return 0.5 * (starts + ends), values


def window_bounds(
  lld_times: np.ndarray, label_times: np.ndarray, window_seconds: float, anchor: str = "centre"
) -> tuple[np.ndarray, np.ndarray]:
  """LLD index ranges [lo, hi) of the window of every label time.

  anchor 'centre': frames with t - w/2 <= time < t + w/2; 'end': t - w < time <= t.
  Windows are clipped at the recording's start and end by construction (only existing frames
  count).

  Args:
    lld_times: float [T], increasing.
    label_times: float [N] (already shifted by any label delay).
    window_seconds: w > 0.

  Returns:
    (lo int64 [N], hi int64 [N]).
  """
  if window_seconds <= 0:
    raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
  t = np.asarray(label_times, np.float64)
  lt = np.asarray(lld_times, np.float64)
  if anchor == "centre":
    lo = np.searchsorted(lt, t - window_seconds / 2, side="left")
    hi = np.searchsorted(lt, t + window_seconds / 2, side="left")
  elif anchor == "end":
    lo = np.searchsorted(lt, t - window_seconds, side="right")
    hi = np.searchsorted(lt, t, side="right")
  else:
    raise ValueError(f"anchor must be one of {ANCHORS}, got {anchor!r}")
  return lo.astype(np.int64), hi.astype(np.int64)


def window_features(
  lld_times: np.ndarray,
  llds: np.ndarray,
  label_times: np.ndarray,
  window_seconds: float,
  anchor: str = "centre",
) -> np.ndarray:
  """Mean and standard deviation (population) of the LLDs in the window of each label time.

  The window of label time t_i is centred at t_i (anchor 'centre') or ends at t_i ('end'),
  see `window_bounds`. A window holding no LLD frame (a label time beyond the audio) takes
  the nearest frame (mean = its values, std = 0). Computed with cumulative sums of the
  centred LLDs: O(T + N) per call.

  Args:
    lld_times: float [T], increasing.
    llds: float [T, D].
    label_times: float [N].
    window_seconds: window length in seconds.

  Returns:
    float64 [N, 2 D]: columns 0..D-1 the means, D..2D-1 the standard deviations.
  """
  x = np.asarray(llds, np.float64)
  lt = np.asarray(lld_times, np.float64)
  if x.ndim != 2 or x.shape[0] != lt.shape[0] or x.shape[0] == 0:
    raise ValueError(f"llds {x.shape} must be [T > 0, D] with T = len(lld_times) {lt.shape}")
  t = np.asarray(label_times, np.float64).reshape(-1)
  lo, hi = window_bounds(lt, t, window_seconds, anchor)
  empty = hi <= lo
  if empty.any():
    nearest = np.clip(np.searchsorted(lt, t[empty]), 1, len(lt) - 1)
    left_closer = np.abs(t[empty] - lt[nearest - 1]) <= np.abs(lt[nearest] - t[empty])
    idx = np.where(left_closer, nearest - 1, nearest) if len(lt) > 1 else np.zeros_like(nearest)
    lo[empty], hi[empty] = idx, idx + 1
  centre = x.mean(axis=0)
  c = x - centre  # centring keeps the E[x^2] - E[x]^2 difference well conditioned
  zero = np.zeros((1, x.shape[1]))
  s1 = np.concatenate([zero, np.cumsum(c, axis=0)])
  s2 = np.concatenate([zero, np.cumsum(c * c, axis=0)])
  n = (hi - lo)[:, None].astype(np.float64)
  mean_c = (s1[hi] - s1[lo]) / n
  var = np.maximum((s2[hi] - s2[lo]) / n - mean_c**2, 0.0)
  var[hi - lo == 1] = 0.0  # exact for one-frame windows (sqrt would magnify the roundoff)
  return np.concatenate([mean_c + centre, np.sqrt(var)], axis=1)


# --------------------------------------------------------------------------------- LLD cache


def load_llds(
  audio_path: str, cache_path: str | None, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
  """eGeMAPS LLDs of a wav file, cached in `cache_path` (.npz) keyed by the audio's SHA-256.

  The cache is reused only when it was computed from the same bytes at the same sample rate
  with the same openSMILE version; it is written atomically, so an interrupted run resumes.

  Returns:
    (times float64 [T], llds float32 [T, 25]).

  Raises:
    emotion_tf.data.corpus.CorpusError naming the file for a missing/corrupt wav.
  """
  import opensmile

  from emotion_tf.data import corpus

  if not os.path.exists(audio_path):
    raise corpus.CorpusError(f"{audio_path}: audio file is missing")
  key = {
    "audio_sha256": fileio.file_sha256(audio_path),
    "sample_rate": int(sample_rate),
    "opensmile": opensmile.__version__,
    "feature_set": "eGeMAPSv02",
    "version": LLD_CACHE_VERSION,
  }
  if cache_path and os.path.exists(cache_path):
    try:
      with np.load(cache_path, allow_pickle=False) as z:
        if json.loads(str(z["key"])) == key:
          return z["times"].astype(np.float64), z["llds"].astype(np.float32)
      logging.info("%s: stale LLD cache (audio or settings changed); recomputing", cache_path)
    except (OSError, ValueError, KeyError) as e:
      logging.warning("%s: unreadable LLD cache (%s); recomputing", cache_path, e)
  audio = corpus.load_audio(audio_path, sample_rate)
  times, llds = egemaps_llds(audio, sample_rate)
  if cache_path:
    buf = io.BytesIO()
    np.savez(buf, times=times, llds=llds, key=np.array(json.dumps(key, sort_keys=True)))
    fileio.atomic_write(cache_path, buf.getvalue())
  return times, llds


# -------------------------------------------------------------------------------- regression


@dataclasses.dataclass(frozen=True)
class RecordingData:
  """One recording: LLDs [T], [T, D] and labels [N], [N, 3] (see the module docstring)."""

  lld_times: np.ndarray
  llds: np.ndarray
  label_times: np.ndarray
  labels: np.ndarray


@dataclasses.dataclass(frozen=True)
class Setting:
  """One point of the tuning grid."""

  window_seconds: float
  delay_seconds: float
  regressor: str  # 'ridge' (strength = alpha) or 'svr' (strength = C)
  strength: float
  anchor: str = "centre"

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def partition_features(
  data: Mapping[str, RecordingData],
  window_seconds: float,
  delay_seconds: float,
  anchor: str = "centre",
) -> dict[str, np.ndarray]:
  """{id: window features [N_id, 2 D]} with the window of label t anchored at t - delay."""
  return {
    rid: window_features(r.lld_times, r.llds, r.label_times - delay_seconds, window_seconds, anchor)
    for rid, r in data.items()
  }


def _stack(
  features: Mapping[str, np.ndarray], data: Mapping[str, RecordingData]
) -> tuple[np.ndarray, np.ndarray]:
  ids = sorted(data)
  return (
    np.concatenate([features[r] for r in ids]),
    np.concatenate([np.asarray(data[r].labels, np.float64) for r in ids]),
  )


def fit(x: np.ndarray, y: np.ndarray, regressor: str, strength: float, seed: int = 0):
  """A standardise-then-regress sklearn pipeline fitted on x [N, F], y [N] (or [N, K] for
  ridge). regressor 'ridge': `Ridge(alpha=strength)`; 'svr': `LinearSVR(C=strength)`
  (epsilon-insensitive L1 loss with epsilon 0, liblinear dual solver, as AVEC 2017)."""
  from sklearn import (
    linear_model,
    pipeline,
    preprocessing,
    svm,
  )
  from sklearn.exceptions import ConvergenceWarning

  if regressor == "ridge":
    model = linear_model.Ridge(alpha=float(strength))
  elif regressor == "svr":
    if np.ndim(y) != 1:
      raise ValueError("svr fits one dimension at a time: y must be [N]")
    model = svm.LinearSVR(
      C=float(strength), epsilon=0.0, dual=True, max_iter=5000, random_state=seed
    )
  else:
    raise ValueError(f"regressor must be one of {REGRESSORS}, got {regressor!r}")
  from threadpoolctl import threadpool_limits

  pipe = pipeline.make_pipeline(preprocessing.StandardScaler(), model)
  # One BLAS thread: beside TensorFlow's thread pools a multi-threaded BLAS made the ridge
  # solve ~50x slower (1.7 s vs 0.03 s for 12 000 x 50, see BUILD.md "Probe threads").
  with warnings.catch_warnings(), threadpool_limits(1):
    warnings.simplefilter("ignore", ConvergenceWarning)
    pipe.fit(np.asarray(x, np.float64), np.asarray(y, np.float64))
  return pipe


def predict(model, x: np.ndarray) -> np.ndarray:
  """Predictions [N] (or [N, K]) of a `fit` model for features x [N, F]."""
  return np.asarray(model.predict(np.asarray(x, np.float64)), np.float64)


def grid(
  windows: Sequence[float] = DEFAULT_WINDOWS,
  delays: Sequence[float] = DEFAULT_DELAYS,
  alphas: Sequence[float] = DEFAULT_ALPHAS,
  svr_cs: Sequence[float] = DEFAULT_SVR_CS,
  anchor: str = "centre",
) -> list[Setting]:
  """All settings: windows x delays x (ridge alphas + SVR Cs)."""
  out = []
  for w, d in itertools.product(windows, delays):
    out += [Setting(float(w), float(d), "ridge", float(a), anchor) for a in alphas]
    out += [Setting(float(w), float(d), "svr", float(c), anchor) for c in svr_cs]
  if not out:
    raise ValueError("empty tuning grid: give at least one window, delay and alpha or C")
  return out


@dataclasses.dataclass
class TunedBaseline:
  """Per dimension the chosen setting and its model fitted on Train (see `tune`)."""

  settings: dict[str, Setting]
  models: dict[str, Any]
  devel_ccc: dict[str, float]
  table: list[dict[str, Any]]  # every setting: its Devel CCC per dimension
  label_names: tuple[str, ...] = LABEL_NAMES

  def predict(self, data: Mapping[str, RecordingData]) -> dict[str, np.ndarray]:
    """{id: predictions float32 [N_id, 3]} with each dimension's own window/delay/model."""
    out = {
      rid: np.zeros((len(r.label_times), len(self.label_names)), np.float32)
      for rid, r in data.items()
    }
    for k, name in enumerate(self.label_names):
      s = self.settings[name]
      feats = partition_features(data, s.window_seconds, s.delay_seconds, s.anchor)
      for rid, x in feats.items():
        y = predict(self.models[name], x)
        out[rid][:, k] = y[:, k] if y.ndim == 2 else y
    return out

  def describe(self) -> dict[str, Any]:
    """JSON-serialisable chosen settings, Devel CCC and the linear models (in original
    feature units: y = x . coef + intercept)."""
    models = {}
    for name, pipe in self.models.items():
      scaler, reg = pipe[0], pipe[-1]
      coef = np.asarray(reg.coef_, np.float64)
      intercept = np.asarray(reg.intercept_, np.float64).reshape(-1)
      if coef.ndim == 2:  # multi-output ridge: this dimension's row
        k = self.label_names.index(name)
        coef, intercept = coef[k], intercept[k : k + 1]
      w = coef / scaler.scale_
      models[name] = {
        "coef": w.tolist(),
        "intercept": float(intercept[0] - np.dot(w, scaler.mean_)),
      }
    return {
      "settings": {n: s.to_dict() for n, s in self.settings.items()},
      "devel_ccc": dict(self.devel_ccc),
      "models": models,
    }


def tune(
  train: Mapping[str, RecordingData],
  devel: Mapping[str, RecordingData],
  settings: Sequence[Setting],
  label_names: Sequence[str] = LABEL_NAMES,
  seed: int = 0,
) -> TunedBaseline:
  """Fits every setting on Train and keeps, per dimension, the one with the best Devel CCC.

  Ridge fits all dimensions at once (the same as one fit per dimension); an SVR is fitted per
  dimension. Ties keep the earlier setting of `settings`.

  Args:
    train, devel: {id: RecordingData}, labels [N, len(label_names)].
    settings: the grid (see `grid`).

  Returns:
    TunedBaseline (models fitted on Train only).
  """
  if not train or not devel:
    raise ValueError("tuning needs at least one Train and one Devel recording")
  from emotion_tf.model.ccc import concordance_cc_numpy

  names = tuple(label_names)
  best: dict[str, tuple[float, Setting, Any]] = {}
  table = []
  feature_cache: dict[tuple[float, float, str], tuple[np.ndarray, ...]] = {}
  for s in settings:
    key = (s.window_seconds, s.delay_seconds, s.anchor)
    if key not in feature_cache:
      feature_cache.clear()  # settings are grouped by (window, delay): keep one at a time
      xt, yt = _stack(partition_features(train, *key), train)
      xd, yd = _stack(partition_features(devel, *key), devel)
      feature_cache[key] = (xt, yt, xd, yd)
    xt, yt, xd, yd = feature_cache[key]
    row = {"setting": s.to_dict(), "ccc": {}}
    if s.regressor == "ridge":
      model = fit(xt, yt, "ridge", s.strength)
      pd_all = predict(model, xd)
      fitted = {n: (model, pd_all[:, k]) for k, n in enumerate(names)}
    else:
      fitted = {}
      for k, n in enumerate(names):
        model = fit(xt, yt[:, k], "svr", s.strength, seed)
        fitted[n] = (model, predict(model, xd))
    for k, n in enumerate(names):
      model, pred = fitted[n]
      value = float(concordance_cc_numpy(yd[:, k], pred))
      row["ccc"][n] = value
      if n not in best or value > best[n][0]:
        best[n] = (value, s, model)
    table.append(row)
    logging.info(
      "baseline %s: devel CCC %s", s, ", ".join(f"{n} {v:.3f}" for n, v in row["ccc"].items())
    )
  return TunedBaseline(
    settings={n: best[n][1] for n in names},
    models={n: best[n][2] for n in names},
    devel_ccc={n: best[n][0] for n in names},
    table=table,
    label_names=names,
  )


# --------------------------------------------------------------------------------- corpus run

MODEL_FILENAME = "baseline_model.json"
# (resamples, seed) of the 95 % bootstrap CI over recordings, the defaults of `evaluate`.
BOOTSTRAP = (1000, 0)
VARIANT = "baseline_egemaps"
ROW_NAME = "Baseline (eGeMAPS + ridge)"


def _prediction_rows(name: str, times: np.ndarray, predictions: np.ndarray) -> str:
  """`name;time;arousal;valence;liking` rows at the label file's own times (used only when
  they are not k * hop, which `evaluate_lib.write_prediction_csv` assumes)."""
  return "".join(
    f"{name};{t:.3f};" + ";".join(f"{v:.6f}" for v in row) + "\n"
    for t, row in zip(times, np.asarray(predictions, np.float64), strict=False)
  )


def load_corpus_data(
  corpus_dir: str, partitions: Sequence[str], sample_rate: int, cache_dir: str | None
) -> tuple[dict[str, dict[str, RecordingData]], dict[str, str]]:
  """LLDs (cached) and labels of every recording of `partitions`.

  A recording whose audio or labels are bad is left out and reported; the others load.

  Returns:
    ({partition: {id: RecordingData}}, {id: error message naming the file}).

  Raises:
    emotion_tf.data.corpus.CorpusError: the corpus directory is missing or holds no recordings.
  """
  from emotion_tf.data import corpus

  wanted = corpus.normalize_partitions(partitions)
  out: dict[str, dict[str, RecordingData]] = {p: {} for p in wanted}
  errors: dict[str, str] = {}
  for rec in corpus.list_recordings(corpus_dir, wanted):
    try:
      if not os.path.exists(rec.labels_path):
        raise corpus.CorpusError(f"{rec.labels_path}: label file is missing")
      label_times, labels = corpus.read_labels(rec.labels_path)
      cache = os.path.join(cache_dir, rec.recording_id + ".npz") if cache_dir else None
      lld_times, llds = load_llds(rec.audio_path, cache, sample_rate)
    except (corpus.CorpusError, ValueError, OSError, RuntimeError) as e:
      logging.error("%s: skipped: %s", rec.recording_id, e)
      errors[rec.recording_id] = str(e)
      continue
    out[rec.partition][rec.recording_id] = RecordingData(lld_times, llds, label_times, labels)
  return out, errors


def run_baseline(
  corpus_dir: str,
  out_dir: str,
  partitions: Sequence[str] = ("devel", "test"),
  settings: Sequence[Setting] | None = None,
  sample_rate: int = 22050,
  cache_dir: str | None = None,
  seed: int = 0,
) -> dict[str, Any]:
  """Tunes the baseline on the corpus' Train/Devel recordings and evaluates `partitions`.

  Writes, in the layout of `python -m emotion_tf.evaluate`:
    <out_dir>/evaluation.json                         summary (`evaluate_lib.ccc_summary` keys
                                                      per partition, plus 'baseline')
    <out_dir>/predictions/<partition>/<id>.csv        `name;time;arousal;valence;liking`
    <out_dir>/baseline_model.json                     chosen settings, models, Devel grid
  and caches the LLDs in `cache_dir` (default <out_dir>/llds).

  Returns:
    The summary; 'recording_errors' {id: message} lists recordings left out (bad input) and
    'errors' {partition: message} partitions that could not be evaluated.

  Raises:
    emotion_tf.data.corpus.CorpusError / ValueError: no corpus, or no usable Train/Devel recording.
  """
  from emotion_tf.data import corpus

  parts = list(corpus.normalize_partitions(partitions))
  settings = list(settings) if settings is not None else grid()
  cache_dir = cache_dir if cache_dir is not None else os.path.join(out_dir, "llds")
  data, rec_errors = load_corpus_data(
    corpus_dir, sorted(set(parts) | {"train", "devel"}), sample_rate, cache_dir
  )
  for p in ("train", "devel"):
    if not data[p]:
      raise corpus.CorpusError(
        f"{corpus_dir}: no usable {p.capitalize()} recording "
        f"(needed to {'fit' if p == 'train' else 'tune'} the baseline)"
        + (f"; errors: {rec_errors}" if rec_errors else "")
      )
  from emotion_tf.training import evaluate_lib  # imports TF

  tuned = tune(data["train"], data["devel"], settings, LABEL_NAMES, seed)
  model_file = os.path.join(out_dir, MODEL_FILENAME)
  described = tuned.describe()
  fileio.write_json(
    model_file,
    dict(
      described,
      sample_rate=int(sample_rate),
      lld_names=egemaps_lld_names(),
      features="mean and std of each LLD over the window",
      devel_grid=tuned.table,
    ),
  )
  summary: dict[str, Any] = {
    "model_dir": os.path.abspath(out_dir),
    "model_file": os.path.abspath(model_file),
    "data_dir": os.path.abspath(corpus_dir),
    "embeddings": None,
    "variant": VARIANT,
    "baseline": {
      "settings": described["settings"],
      "devel_ccc": described["devel_ccc"],
      "sample_rate": int(sample_rate),
      "grid_size": len(settings),
    },
    "partitions": {},
    "errors": {},
    "recording_errors": rec_errors,
  }
  summary.update(evaluate_lib.bootstrap_record(*BOOTSTRAP))
  for p in parts:
    if not data[p]:
      summary["errors"][p] = f"{corpus_dir}: no usable {p} recording"
      continue
    predictions = tuned.predict(data[p])
    labels = {rid: r.labels for rid, r in data[p].items()}
    result: dict[str, Any] = {"partition": p}
    result.update(evaluate_lib.ccc_summary(labels, predictions))
    evaluate_lib.add_bootstrap_ci(result, labels, predictions, *BOOTSTRAP)  # as evaluate's
    pred_dir = os.path.join(out_dir, "predictions", p)
    for rid, pred in predictions.items():
      times = data[p][rid].label_times
      path = os.path.join(pred_dir, rid + ".csv")
      hop = round(float(np.median(np.diff(times))), 6) if len(times) > 1 else 0.1
      if np.allclose(times, np.arange(len(times)) * hop, atol=1e-6):
        evaluate_lib.write_prediction_csv(path, rid, pred, hop)
      else:
        fileio.atomic_write_text(path, _prediction_rows(rid, times, pred))
    result["predictions_dir"] = pred_dir
    summary["partitions"][p] = result
    logging.info(
      "baseline %s: CCC %s (mean %.4f)",
      p,
      ", ".join(f"{k} {v:.4f}" for k, v in result["ccc"].items()),
      result["ccc_mean"],
    )
  fileio.write_json(os.path.join(out_dir, evaluate_lib.SUMMARY_FILENAME), summary)
  return summary


def normalize_partitions(partitions: Sequence[str]) -> tuple[str, ...]:
  """Lower-cased, validated partition names (ValueError for an unknown one)."""
  from emotion_tf.data import corpus

  return corpus.normalize_partitions([p for p in partitions if p.strip()])


def format_summary(summary: Mapping[str, Any], label_names: Sequence[str] = LABEL_NAMES) -> str:
  """The CCC table (rows = partitions) and the chosen setting of each dimension."""
  lines = [f"{'partition':<10}" + "".join(f"{n:>10}" for n in list(label_names) + ["mean"])]
  for partition, r in summary.get("partitions", {}).items():
    values = [r["ccc"][n] for n in label_names] + [r["ccc_mean"]]
    lines.append(f"{partition.capitalize():<10}" + "".join(f"{v:>10.3f}" for v in values))
  for name, s in summary.get("baseline", {}).get("settings", {}).items():
    strength = "alpha" if s["regressor"] == "ridge" else "C"
    lines.append(
      f"{name}: {s['regressor']} {strength}={s['strength']:g}, window "
      f"{s['window_seconds']:g} s ({s['anchor']}), delay {s['delay_seconds']:g} s"
    )
  return "\n".join(lines)
