"""Notebook / batch prediction API on top of an export (`emotion_tf.export`).

    from emotion_tf.serving import predict_api
    model = predict_api.load("runs/demo/export")               # load once ...
    df = model.predict(signal, sampling_rate)                   # ... predict many signals
    df = model.predict_file("rec.wav", word_timings="rec.csv", embeddings="space.vec")
    df = predict_api.predict(signal, 48000, model="runs/demo/export")   # one-off

`signal` is any numpy array of samples: [samples] or 2-D with a channel axis (the shorter axis
is taken as channels, so [samples, channels] as scipy/soundfile return and [channels, samples]
as librosa returns both work; at most `MAX_CHANNELS` = 16 channels, so a [3000, 4000] array is
refused rather than averaged over 3 000 "channels"); integer PCM is scaled to [-1, 1). It is
mixed to mono float32, resampled to the model's rate (22 050 Hz) with
`scipy.signal.resample_poly`, cut to whole 0.1 s frames, and predicted by the one inference path
(`emotion_tf.serving.inference`: 10 s chunks, LSTM state carried; what evaluate scores).
`sampling_rate` must be a positive whole number of Hz (NaN, inf, 0, 22050.5 are refused).

The result has one row per frame: `time` (seconds, k * hop) and one column per output of the
export in its label order (`arousal`, `valence`, `liking`) — a pandas DataFrame when pandas is
importable, otherwise a dict of numpy arrays with the same keys.

Words: `word_timings` is a CSV/TextGrid path or a sequence of `WordTiming` / (start, end, word)
tuples; `embeddings` is a .vec path (read once per path and kept) or a (words, vectors) pair
or a {word: vector} dict. Frame k gets the vector of the word spoken at its centre, as in
training (`emotion_tf.data.frames.semantic_frames`). An export carrying a semantic frontend
(`emotion_tf.export --speech2vec_dir ... --alignment_dir ...`) needs no embeddings: without
them the semantic input is computed from the speech (`inference.speech_token_frames`, on
the word timings' spans or, without timings, on automatic word segments).
"""

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from emotion_tf.data import corpus
from emotion_tf.data import frames as frames_lib
from emotion_tf.data import word_timings as wt
from emotion_tf.serving import export_lib, inference, postprocess, predict_lib, prediction_csv
from emotion_tf.util import cli, fileio

TIME_COLUMN = "time"
MAX_CHANNELS = 16  # of a 2-D signal's channel axis (its shorter one)
Timings = None | str | Sequence[Any]
Embeddings = None | str | tuple[Sequence[str], np.ndarray] | Mapping[str, np.ndarray]


def to_mono_float32(signal: np.ndarray) -> np.ndarray:
  """Mixes `signal` ([samples] or 2-D with a channel axis) to mono float32 [samples].

  The channel axis of a 2-D array is its shorter one. Integer PCM is scaled like a wav reader
  does (int16 / 32768, int32 / 2**31, uint8 (x - 128) / 128); float input is kept as is.

  Raises:
    ValueError: for an empty signal, more than 2 dimensions, a 2-D signal with more than
      `MAX_CHANNELS` channels on its shorter axis, or non-finite samples.
  """
  x = np.asarray(signal)
  if x.ndim == 0 or x.ndim > 2 or x.size == 0:
    raise ValueError(
      f"signal must be [samples] or [samples, channels] with samples, got shape {x.shape}"
    )
  if x.dtype == np.int16:
    x = x.astype(np.float32) / 32768.0
  elif x.dtype == np.int32:
    x = (x.astype(np.float64) / 2147483648.0).astype(np.float32)
  elif x.dtype == np.uint8:
    x = (x.astype(np.float32) - 128.0) / 128.0
  elif np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
    raise ValueError(f"signal of dtype {x.dtype}: pass float samples or int16/int32/uint8 PCM")
  if x.ndim == 2:
    channel_axis = 0 if x.shape[0] < x.shape[1] else 1
    if x.shape[channel_axis] > MAX_CHANNELS:
      raise ValueError(
        f"signal of shape {x.shape}: a 2-D signal is [samples, channels] (or [channels, "
        f"samples]) with at most {MAX_CHANNELS} channels, its shorter axis; this one would "
        f"average {x.shape[channel_axis]} channels. Pass [samples] or [samples, channels]"
      )
    x = x.mean(axis=channel_axis, dtype=np.float64)
  x = np.asarray(x, np.float32)
  if not np.all(np.isfinite(x)):
    raise ValueError("signal contains NaN/inf samples")
  return x


def check_sampling_rate(rate: Any) -> int:
  """`rate` as int Hz.

  Raises:
    ValueError: 'sampling_rate must be a positive whole number of Hz, got nan' for NaN, inf,
      zero/negative, fractional or non-numeric rates.
  """
  try:
    value = float(rate)
  except (TypeError, ValueError):
    value = math.nan
  if isinstance(rate, bool) or not math.isfinite(value) or value <= 0 or value != int(value):
    raise ValueError(f"sampling_rate must be a positive whole number of Hz, got {rate!r}")
  return int(value)


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
  """[samples] at `from_rate` -> float32 [~samples * to_rate / from_rate] with
  `scipy.signal.resample_poly` (the reduced ratio; the same call as the corpus reader)."""
  from_rate, to_rate = check_sampling_rate(from_rate), int(to_rate)
  if from_rate == to_rate:
    return np.asarray(audio, np.float32)
  from scipy import signal as sps

  g = math.gcd(from_rate, to_rate)
  return sps.resample_poly(audio, to_rate // g, from_rate // g).astype(np.float32)


def _as_timings(word_timings: Timings, tier: str | None) -> list[wt.WordTiming]:
  if word_timings is None:
    return []
  if isinstance(word_timings, (str, os.PathLike)):
    return predict_lib.read_word_timings(os.fspath(word_timings), tier)
  out = []
  for t in word_timings:
    out.append(
      t if isinstance(t, wt.WordTiming) else wt.WordTiming(float(t[0]), float(t[1]), str(t[2]))
    )
  return out


def _table(predictions: np.ndarray, names: Sequence[str], hop: float) -> Any:
  """[F, 3] -> DataFrame (pandas importable) or dict {time, <names>} of numpy arrays."""
  columns = {TIME_COLUMN: np.arange(predictions.shape[0]) * hop}
  columns.update({n: predictions[:, i] for i, n in enumerate(names)})
  try:
    import pandas as pd
  except ImportError:
    return columns
  return pd.DataFrame(columns)


class Predictor:
  """One loaded export reused for many predictions (see the module docstring).

  Attributes: `model` (the `export_lib.ExportedModel`), `label_names`, `sample_rate`,
  `hop_seconds`; `last_info` holds the info dict of the latest prediction (frames, seconds,
  words, frames_with_word, oov_words, oov_frames).
  """

  def __init__(self, model: str | export_lib.ExportedModel):
    self.model = (
      model
      if isinstance(model, export_lib.ExportedModel)
      else (export_lib.ExportedModel(os.fspath(model)))
    )
    self.label_names = self.model.label_names
    self.sample_rate = self.model.sample_rate
    self.hop_seconds = self.model.hop_seconds
    # Speech2Vec encoder + W shipped with the export (None without): every file is checked
    # against the SHA-256 in the export's metadata before use.
    self.frontend = export_lib.load_semantic_frontend(self.model.export_dir, self.model.metadata)
    self._spaces: dict[str, tuple[list[str], np.ndarray]] = {}
    self.last_info: dict[str, Any] = {}

  def embedding_space(
    self, embeddings: Embeddings, allow_mismatch: bool = False
  ) -> tuple[Sequence[str], np.ndarray]:
    """(words, vectors float32 [count, semantic_dim]) of `embeddings`; a .vec path is read once
    and kept, and its SHA-256 checked against the space the model was trained on
    (`predict_lib.check_embeddings_match`; `allow_mismatch` turns a refusal into a warning).
    Raises PredictionInputError naming the file for a missing file, wrong dimension or space.
    """
    dim = self.model.semantic_dim
    if embeddings is None:
      return [], np.zeros((0, dim), np.float32)
    if isinstance(embeddings, (str, os.PathLike)):
      path = os.path.abspath(os.fspath(embeddings))
      if path not in self._spaces:
        space = predict_lib.load_embeddings(os.fspath(embeddings), dim)
        predict_lib.check_embeddings_match(self.model, path, allow_mismatch)
        self._spaces[path] = space
      return self._spaces[path]
    if isinstance(embeddings, Mapping):
      words = list(embeddings)
      vectors = np.asarray([embeddings[w] for w in words], np.float32).reshape(len(words), -1)
    else:
      words, vectors = list(embeddings[0]), np.asarray(embeddings[1], np.float32)
    if vectors.ndim != 2 or vectors.shape != (len(words), dim):
      raise predict_lib.PredictionInputError(
        f"embeddings: {len(words)} words with vectors of shape {vectors.shape}; the model "
        f"expects one vector of dimension {dim} per word"
      )
    return words, vectors

  def predict_array(
    self,
    signal: np.ndarray,
    sampling_rate: int,
    word_timings: Timings = None,
    embeddings: Embeddings = None,
    tier: str | None = None,
    oov: str = "zeros",
    source: str = "signal",
  ) -> np.ndarray:
    """Like `predict`, but returns float32 [frames, 3] in `label_names` order."""
    if word_timings is not None and embeddings is None and self.frontend is None:
      raise predict_lib.PredictionInputError(
        f"{word_timings if isinstance(word_timings, str) else source}: word timings need "
        "embeddings (a .vec path or (words, vectors))"
      )
    words, vectors = self.embedding_space(embeddings)
    timings = _as_timings(word_timings, tier)
    audio = resample(to_mono_float32(signal), sampling_rate, self.sample_rate)  # [samples]
    frames = frames_lib.frames_in(audio.shape[0], self.model.samples_per_frame)
    if frames >= 1:
      self._warn_words_after_end(timings, frames, source)
    speech = embeddings is None and self.frontend is not None  # speech tokens
    predictions, info = inference.predict_waveform(
      self.model,
      audio,
      timings if (word_timings is not None or not speech) else None,
      words,
      vectors,
      self.frontend if speech else None,
      oov,
      source,
    )  # [F, 3]
    self.last_info = info
    return predictions

  def _warn_words_after_end(
    self, timings: Sequence[wt.WordTiming], frames: int, source: str
  ) -> None:
    """Warns (as the TFRecord writer does) about word timings that start at or after the end
    of the audio: they reach no frame, so the semantic input lacks them (all of them: zeros)."""
    end_s = frames * self.hop_seconds
    beyond = sum(1 for t in timings if t.start >= end_s)
    if beyond:
      every = "all " if beyond == len(timings) else ""
      logging.warning(
        "%s: %s%d of %d word timings start at or after the end of the audio "
        "(%.2f s); they are ignored%s",
        source,
        every,
        beyond,
        len(timings),
        end_s,
        " and no frame has a word: do the timings belong to this audio?" if every else "",
      )

  def predict(
    self,
    signal: np.ndarray,
    sampling_rate: int,
    word_timings: Timings = None,
    embeddings: Embeddings = None,
    tier: str | None = None,
    oov: str = "zeros",
  ) -> Any:
    """Per-frame predictions of one whole recording given as samples.

    Args:
      signal: samples, [samples] or 2-D with a channel axis, any dtype of `to_mono_float32`.
      sampling_rate: Hz of `signal`.
      word_timings, embeddings: see the module docstring; None = no words (zero vectors).
      tier: TextGrid tier; oov: 'zeros' or 'hash' for words missing from the embeddings.

    Returns:
      DataFrame (or dict of arrays) with columns time, arousal, valence, liking; F rows,
      F = whole 0.1 s frames of the resampled signal.
    """
    y = self.predict_array(signal, sampling_rate, word_timings, embeddings, tier, oov)
    return _table(y, self.label_names, self.hop_seconds)

  def read_audio(self, audio_path: str) -> np.ndarray:
    """Mono float32 [samples] of a wav at the model's rate (`corpus.load_audio`)."""
    check_audio_file(audio_path)
    corpus.warn_if_truncated(audio_path)
    return corpus.load_audio(audio_path, self.sample_rate)

  def predict_file_array(
    self,
    audio_path: str,
    word_timings: Timings = None,
    embeddings: Embeddings = None,
    tier: str | None = None,
    oov: str = "zeros",
  ) -> np.ndarray:
    """float32 [frames, 3] of a wav file (any rate and channel count)."""
    audio = self.read_audio(audio_path)
    return self.predict_array(
      audio, self.sample_rate, word_timings, embeddings, tier, oov, source=audio_path
    )

  def predict_file(
    self,
    audio_path: str,
    word_timings: Timings = None,
    embeddings: Embeddings = None,
    tier: str | None = None,
    oov: str = "zeros",
  ) -> Any:
    """`predict` of a wav file (any rate and channel count)."""
    y = self.predict_file_array(audio_path, word_timings, embeddings, tier, oov)
    return _table(y, self.label_names, self.hop_seconds)


def check_audio_file(audio_path: str) -> None:
  """Refuses, naming the file, an audio path that is missing, a directory or unreadable.

  Raises:
    predict_lib.PredictionInputError: one line, e.g. 'x.wav: is a directory, not an audio file'.
  """
  if not os.path.exists(audio_path):
    raise predict_lib.PredictionInputError(f"{audio_path}: audio file is missing")
  if os.path.isdir(audio_path):
    raise predict_lib.PredictionInputError(f"{audio_path}: is a directory, not an audio file")
  try:
    with open(audio_path, "rb") as f:
      f.read(1)
  except OSError as e:
    raise predict_lib.PredictionInputError(
      f"{audio_path}: cannot read the audio file ({e.strerror or e})"
    ) from e


def load(export_dir: str) -> Predictor:
  """Loads an export once; call `.predict(signal, sampling_rate, ...)` on the result."""
  return Predictor(export_dir)


def predict(
  signal: np.ndarray,
  sampling_rate: int,
  model: str | Predictor | export_lib.ExportedModel,
  word_timings: Timings = None,
  embeddings: Embeddings = None,
  tier: str | None = None,
  oov: str = "zeros",
) -> Any:
  """Predictions of one recording; `model` is an export directory (loaded for this call) or
  the result of `load` (reused). See `Predictor.predict`."""
  predictor = model if isinstance(model, Predictor) else Predictor(model)
  return predictor.predict(signal, sampling_rate, word_timings, embeddings, tier, oov)


# ------------------------------------------------------------------------------ batch (files)

AUDIO_EXTENSIONS = (".wav",)


def audio_inputs(spec: str) -> list[str]:
  """Audio files named by `spec`: a directory (its *.wav, sorted), a `.txt` list file (one path
  a line; blank lines and `#` comments skipped; relative paths are relative to the list file),
  a comma-separated list, or one file.

  Raises:
    predict_lib.PredictionInputError: for a missing directory/list file or one naming no file.
  """
  spec = spec.strip()
  if os.path.isdir(spec):
    paths = sorted(
      os.path.join(spec, n)
      for n in os.listdir(spec)
      if n.lower().endswith(AUDIO_EXTENSIONS) and not n.startswith(".")
    )
    if not paths:
      named = (
        " (a directory named like an audio file)" if spec.lower().endswith(AUDIO_EXTENSIONS) else ""
      )
      raise predict_lib.PredictionInputError(f"{spec}: directory{named} holds no .wav files")
    return paths
  if spec.lower().endswith(".txt"):
    if not os.path.isfile(spec):
      raise predict_lib.PredictionInputError(f"{spec}: audio list file is missing")
    base = os.path.dirname(os.path.abspath(spec))
    with open(spec, encoding="utf-8") as f:
      lines = [line.strip() for line in f]
    paths = [
      p if os.path.isabs(p) else os.path.join(base, p) for p in lines if p and not p.startswith("#")
    ]
    if not paths:
      raise predict_lib.PredictionInputError(f"{spec}: audio list file names no files")
    return paths
  paths = [p.strip() for p in spec.split(",") if p.strip()]
  if not paths:
    raise predict_lib.PredictionInputError("no audio files given")
  return paths


def timings_for(audio_path: str, word_timings: str | None) -> str | None:
  """The word timings of `audio_path`: `word_timings` itself when it is a file, or
  `<word_timings>/<stem>.csv|.TextGrid` when it is a directory (None when not given).

  Raises:
    predict_lib.PredictionInputError: naming the directory and stem when it has no such file.
  """
  if not word_timings:
    return None
  if not os.path.isdir(word_timings):
    return word_timings
  stem = os.path.splitext(os.path.basename(audio_path))[0]
  path = wt.find_timings_file(word_timings, stem)
  if path is not None:
    return path
  raise predict_lib.PredictionInputError(
    f"{word_timings}: no word timings {stem}.csv or {stem}.TextGrid for {audio_path}"
  )


def format_csv(
  name: str,
  predictions: np.ndarray,
  hop_seconds: float,
  label_names: Sequence[str],
  header: bool = False,
) -> str:
  """Rows `name;time;<label_names>` (`prediction_csv.format_prediction_csv`), with an optional
  header line naming the columns."""
  return prediction_csv.format_prediction_csv(
    name, predictions, hop_seconds, label_names if header else None
  )


def predict_files(
  predictor: Predictor,
  audio_paths: Sequence[str],
  outputs: Sequence[str],
  word_timings: str | None = None,
  embeddings: str | None = None,
  tier: str | None = None,
  oov: str = "zeros",
  csv_header: bool = False,
  names: Sequence[str] | None = None,
  postprocessing: postprocess.PostProcessing | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
  """Predicts each wav with one loaded model and writes its CSV atomically.

  A file that fails (missing, corrupt, too short, bad timings) is logged with its name and
  the others are still processed; embeddings are read once. A full disk stops the run (the
  OSError is raised; `cli.run` names the path and the space left).

  Args:
    predictor: the loaded export.
    audio_paths, outputs: wav files and their CSV paths (same length).
    word_timings: a timings file (one recording) or a directory of <stem>.csv|.TextGrid.
    embeddings: .vec of the model's semantic space (needed with word timings).
    csv_header: start each CSV with `name;time;arousal;valence;liking`.
    names: CSV name column per file (default: the wav stems).
    postprocessing: shift/smoothing applied to each file's predictions before writing (e.g.
      `postprocess.read` of the postprocess.json of `emotion_tf.evaluate --postprocess devel`).

  Returns:
    (done {audio_path: info incl. 'out'}, failed {audio_path: message}).
  """
  if len(audio_paths) != len(outputs):
    raise ValueError(f"{len(audio_paths)} audio files but {len(outputs)} output paths")
  done: dict[str, dict[str, Any]] = {}
  failed: dict[str, str] = {}
  for i, (audio_path, out) in enumerate(zip(audio_paths, outputs, strict=False)):
    name = names[i] if names else os.path.splitext(os.path.basename(audio_path))[0]
    try:
      timings = timings_for(audio_path, word_timings)
      y = predictor.predict_file_array(audio_path, timings, embeddings, tier, oov)
      if postprocessing is not None:
        y = postprocessing.apply(y)
      fileio.atomic_write_text(
        out, format_csv(name, y, predictor.hop_seconds, predictor.label_names, csv_header)
      )
    except (ValueError, OSError) as e:  # PredictionInputError, CorpusError, VecFormatError
      if cli.disk_full(e):
        raise  # every later file would fail too: one line from cli.run, exit 1
      message = str(e) if audio_path in str(e) else f"{audio_path}: {e}"
      logging.error("%s", message)
      failed[audio_path] = message
      continue
    done[audio_path] = dict(predictor.last_info, out=out)
  return done, failed
