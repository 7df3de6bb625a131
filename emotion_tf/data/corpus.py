"""Reader of the AVEC 2017 SEWA corpus layout (DESIGN.md "Corpus layout").

  audio/<id>.wav            any sample rate / channel count (decoded with soundfile)
  labels/<id>.csv           `name;time;arousal;valence;liking` every 0.1 s, no header
  turns/<id>.csv            `start;end` in seconds
  transcriptions/<id>.csv   `start;end;'text'` (`;` delimiter, `|` quote char, text in single quotes)

Ids start with `Train`, `Devel` or `Test`; the prefix names the partition (`train`, `devel`, `test`).
Every parse error is a `CorpusError` whose message starts with `<file>:<line>:`.
"""

import csv
import dataclasses
import math
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np
from absl import logging

from emotion_tf import SAMPLE_RATE

PARTITIONS = ("train", "devel", "test")
_PREFIXES = {"train": "Train", "devel": "Devel", "test": "Test"}
LABEL_RANGE = 1.0  # SEWA labels lie in [-1, 1]; anything outside is an error.


class CorpusError(ValueError):
  """A corpus file that is missing, unreadable or malformed; the message names file (and line)."""


@dataclasses.dataclass(frozen=True)
class Recording:
  """Paths of one recording; a path may not exist (checked when the file is read)."""
  recording_id: str
  partition: str
  audio_path: str
  labels_path: str
  turns_path: str
  transcription_path: str


def partition_of(recording_id: str) -> Optional[str]:
  """'train' / 'devel' / 'test' from the id prefix (`Train_01` -> 'train'), None if no prefix matches."""
  for name, prefix in _PREFIXES.items():
    if recording_id.lower().startswith(prefix.lower()):
      return name
  return None


def normalize_partitions(partitions: Optional[Sequence[str]]) -> Tuple[str, ...]:
  """Lower-cases and validates partition names; None means all three."""
  if partitions is None:
    return PARTITIONS
  if isinstance(partitions, str):
    partitions = [partitions]
  out = []
  for p in partitions:
    q = p.strip().lower()
    if q not in PARTITIONS:
      raise ValueError(f"unknown partition {p!r}; expected one of {PARTITIONS}")
    out.append(q)
  return tuple(out)


def recording_paths(corpus_dir: str, recording_id: str) -> Recording:
  """The `Recording` of `recording_id` in `corpus_dir` (files not checked)."""
  partition = partition_of(recording_id)
  if partition is None:
    raise CorpusError(
        f"{corpus_dir}: recording id {recording_id!r} does not start with Train, Devel or Test")
  return Recording(
      recording_id=recording_id,
      partition=partition,
      audio_path=os.path.join(corpus_dir, "audio", recording_id + ".wav"),
      labels_path=os.path.join(corpus_dir, "labels", recording_id + ".csv"),
      turns_path=os.path.join(corpus_dir, "turns", recording_id + ".csv"),
      transcription_path=os.path.join(corpus_dir, "transcriptions", recording_id + ".csv"))


def list_recordings(corpus_dir: str, partitions: Optional[Sequence[str]] = None) -> List[Recording]:
  """Recordings of `corpus_dir`, sorted by id.

  The ids are the union of `audio/*.wav` and `labels/*.csv` stems, so a recording whose audio or
  label file is missing is still listed (and fails, named, when read). Ids without a
  Train/Devel/Test prefix are skipped with a warning.

  Args:
    corpus_dir: root of the SEWA layout.
    partitions: subset of ('train', 'devel', 'test'), any case; None = all.
  """
  if not os.path.isdir(corpus_dir):
    raise CorpusError(f"{corpus_dir}: corpus directory does not exist")
  wanted = normalize_partitions(partitions)
  ids = set()
  for sub, ext in (("audio", ".wav"), ("labels", ".csv")):
    d = os.path.join(corpus_dir, sub)
    if os.path.isdir(d):
      ids.update(f[:-len(ext)] for f in os.listdir(d) if f.endswith(ext) and not f.startswith("."))
  if not ids:
    raise CorpusError(f"{corpus_dir}: no audio/*.wav or labels/*.csv files")
  out = []
  for rid in sorted(ids):
    if partition_of(rid) is None:
      logging.warning("%s: skipping %r (id does not start with Train, Devel or Test)", corpus_dir, rid)
      continue
    rec = recording_paths(corpus_dir, rid)
    if rec.partition in wanted:
      out.append(rec)
  return out


# ----------------------------------------------------------------------------------------- audio

def load_audio(path: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
  """Decodes a wav file to mono float32 at `sample_rate`.

  Decoding: soundfile (libsndfile; any rate, any channel count, 8/16/24/32-bit integer and
  float PCM, scaled to [-1, 1)); channels are averaged; resampling:
  `scipy.signal.resample_poly` with the reduced ratio sample_rate / file_rate (DESIGN.md:
  ~1000x real time against ~38x for tfio's resampler). BUILD.md records why soundfile
  replaced tensorflow-io here (bench/wav_decode.py).

  Returns:
    float32 array [samples], values in [-1, 1] for integer PCM.

  Raises:
    CorpusError: naming the file when it is missing, empty, corrupt, holds no samples or
      NaN/inf samples.
  """
  if not os.path.exists(path):
    raise CorpusError(f"{path}: audio file is missing")
  if os.path.getsize(path) == 0:
    raise CorpusError(f"{path}: audio file is empty (0 bytes)")
  import soundfile  # pylint: disable=g-import-not-at-top
  try:
    x, rate = soundfile.read(path, dtype="float32", always_2d=True)
  except (RuntimeError, ValueError, TypeError) as e:  # soundfile.LibsndfileError: RuntimeError
    text = str(e).strip()
    first_line = text.splitlines()[0] if text else type(e).__name__
    raise CorpusError(f"{path}: corrupt or unsupported wav file ({first_line[-160:]})") from e
  if x.size == 0:
    raise CorpusError(f"{path}: wav file holds no samples")
  x = x.mean(axis=1, dtype=np.float32)
  if rate <= 0:
    raise CorpusError(f"{path}: invalid sample rate {rate}")
  if rate != sample_rate:
    from scipy import signal  # pylint: disable=g-import-not-at-top
    g = math.gcd(rate, sample_rate)
    x = signal.resample_poly(x, sample_rate // g, rate // g).astype(np.float32)
  if not np.all(np.isfinite(x)):
    raise CorpusError(f"{path}: wav file contains NaN/inf samples")
  return np.ascontiguousarray(x, dtype=np.float32)


# ------------------------------------------------------------------------------------ text files

def read_text_lines(path: str, what: str) -> List[str]:
  """Lines of a UTF-8 text file (BOM tolerated).

  Raises:
    CorpusError: `<path>: <what> file is missing`, or `<path>:<line>: not valid UTF-8`.
  """
  if not os.path.exists(path):
    raise CorpusError(f"{path}: {what} file is missing")
  with open(path, "rb") as f:
    data = f.read()
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    raise CorpusError(
        f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})") from e
  return text.splitlines()


def _float(value: str, path: str, lineno: int, field: str) -> float:
  try:
    v = float(value)
  except ValueError as e:
    raise CorpusError(f"{path}:{lineno}: {field} {value.strip()!r} is not a number") from e
  if not math.isfinite(v):
    raise CorpusError(f"{path}:{lineno}: {field} is {value.strip()} (NaN/inf)")
  return v


def read_labels(path: str, max_abs: float = LABEL_RANGE) -> Tuple[np.ndarray, np.ndarray]:
  """Reads `labels/<id>.csv`: rows `name;time;arousal;valence;liking`, no header.

  A first line whose time field is not numeric and that names a `time` column is taken as a header
  and skipped (some exports add one).

  Returns:
    times float64 [T] (seconds, strictly increasing), values float32 [T, 3] (arousal, valence,
    liking).

  Raises:
    CorpusError: `<path>:<line>: ...` for a wrong field count, a non-number, NaN/inf, a value
      outside [-max_abs, max_abs], non-increasing times, non-UTF-8 bytes, or no rows.
  """
  lines = read_text_lines(path, "label")
  times, values = [], []
  for lineno, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    parts = line.strip().split(";")
    if len(parts) != 5:
      raise CorpusError(
          f"{path}:{lineno}: expected 5 fields 'name;time;arousal;valence;liking', got {len(parts)}")
    if lineno == 1 and "time" in parts[1].lower():
      continue
    t = _float(parts[1], path, lineno, "time")
    row = [_float(parts[2 + i], path, lineno, n) for i, n in enumerate(("arousal", "valence", "liking"))]
    for name, v in zip(("arousal", "valence", "liking"), row):
      if abs(v) > max_abs:
        raise CorpusError(f"{path}:{lineno}: {name} {v} outside [-{max_abs}, {max_abs}]")
    if times and t <= times[-1]:
      raise CorpusError(f"{path}:{lineno}: time {t} does not increase (previous {times[-1]})")
    times.append(t)
    values.append(row)
  if not times:
    raise CorpusError(f"{path}: label file has no rows")
  return np.asarray(times, np.float64), np.asarray(values, np.float32).reshape(-1, 3)


def read_turns(path: str) -> List[Tuple[float, float]]:
  """Reads `turns/<id>.csv`: rows `start;end` in seconds -> [(start, end)] with start <= end."""
  turns = []
  for lineno, line in enumerate(read_text_lines(path, "turns"), start=1):
    if not line.strip():
      continue
    parts = line.strip().split(";")
    if len(parts) < 2:
      raise CorpusError(f"{path}:{lineno}: expected 'start;end', got {line.strip()!r}")
    start = _float(parts[0], path, lineno, "start")
    end = _float(parts[1], path, lineno, "end")
    if end < start or start < 0:
      raise CorpusError(f"{path}:{lineno}: bad turn span start={start} end={end}")
    turns.append((start, end))
  return turns


def _unquote(text: str) -> str:
  text = text.strip()
  if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
    text = text[1:-1]
  return text.strip()


def read_transcription(path: str) -> List[Tuple[float, float, str]]:
  """Reads `transcriptions/<id>.csv` with the SEWA quoting.

  Rows are `start;end;'text'`: `;` delimiter, `|` quote character (a field holding `;` is
  wrapped in `|`), the text wrapped in single quotes. Extra unquoted `;` inside the text are
  kept as part of the text. `<filler>` lines and `<laughter>`-style tags are returned as
  written (word_timings.normalize_word maps them).

  Returns:
    [(start, end, text)] with times in seconds and the outer single quotes removed.

  Raises:
    CorpusError: `<path>:<line>: ...` for fewer than 3 fields, non-numeric or NaN times,
      end < start, an unterminated quote, or non-UTF-8 bytes.
  """
  lines = read_text_lines(path, "transcription")
  rows = []
  for lineno, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      fields = next(csv.reader([line], delimiter=";", quotechar="|", strict=True))
    except csv.Error as e:
      raise CorpusError(f"{path}:{lineno}: malformed transcript line ({e}): {line.strip()!r}") from e
    if len(fields) < 3:
      raise CorpusError(
          f"{path}:{lineno}: malformed transcript line, expected \"start;end;'text'\", "
          f"got {line.strip()!r}")
    start = _float(fields[0], path, lineno, "start time")
    end = _float(fields[1], path, lineno, "end time")
    if end < start or start < 0:
      raise CorpusError(f"{path}:{lineno}: bad transcript span start={start} end={end}")
    text = _unquote(";".join(fields[2:]))
    if text.count("'") and text.startswith("'") != text.endswith("'"):
      raise CorpusError(f"{path}:{lineno}: unbalanced single quote in transcript text {text!r}")
    rows.append((start, end, text))
  return rows

