"""Reader of the AVEC 2017 SEWA corpus layout (DESIGN.md "Corpus layout").

  audio/<id>.wav            any sample rate / channel count (decoded with soundfile)
  labels/<id>.csv           `name;time;arousal;valence;liking` every 0.1 s, no header
  turns/<id>.csv            `start;end` in seconds
  transcriptions/<id>.csv   `start;end;'text'` (`;` delimiter, `|` quote char, text in single
                            quotes)

Ids start with `Train`, `Devel` or `Test`; the prefix names the partition (`train`, `devel`,
`test`).
Every parse error is a `CorpusError` whose message starts with `<file>:<line>:`.
"""

import csv
import dataclasses
import math
import os
from collections.abc import Sequence

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


def partition_of(recording_id: str) -> str | None:
  """'train' / 'devel' / 'test' from the id prefix (`Train_01` -> 'train'), else None."""
  for name, prefix in _PREFIXES.items():
    if recording_id.lower().startswith(prefix.lower()):
      return name
  return None


def normalize_partitions(partitions: Sequence[str] | None) -> tuple[str, ...]:
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
      f"{corpus_dir}: recording id {recording_id!r} does not start with Train, Devel or Test"
    )
  return Recording(
    recording_id=recording_id,
    partition=partition,
    audio_path=os.path.join(corpus_dir, "audio", recording_id + ".wav"),
    labels_path=os.path.join(corpus_dir, "labels", recording_id + ".csv"),
    turns_path=os.path.join(corpus_dir, "turns", recording_id + ".csv"),
    transcription_path=os.path.join(corpus_dir, "transcriptions", recording_id + ".csv"),
  )


def list_recordings(corpus_dir: str, partitions: Sequence[str] | None = None) -> list[Recording]:
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
      ids.update(f[: -len(ext)] for f in os.listdir(d) if f.endswith(ext) and not f.startswith("."))
  if not ids:
    raise CorpusError(f"{corpus_dir}: no audio/*.wav or labels/*.csv files")
  out = []
  for rid in sorted(ids):
    if partition_of(rid) is None:
      logging.warning(
        "%s: skipping %r (id does not start with Train, Devel or Test)", corpus_dir, rid
      )
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

  A wav whose header claims more audio than the file holds decodes to the frames present
  (libsndfile does not complain); `wav_truncation` detects it.

  Raises:
    CorpusError: naming the file when it is missing, a directory, unreadable, empty, corrupt,
      holds no samples or NaN/inf samples.
  """
  check_readable_file(path, "audio")
  if os.path.getsize(path) == 0:
    raise CorpusError(f"{path}: audio file is empty (0 bytes)")
  import soundfile

  try:
    x, rate = soundfile.read(path, dtype="float32", always_2d=True)
  except OSError as e:
    raise CorpusError(f"{path}: cannot read audio file ({e.strerror or e})") from e
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
    from scipy import signal

    g = math.gcd(rate, sample_rate)
    x = signal.resample_poly(x, sample_rate // g, rate // g).astype(np.float32)
  if not np.all(np.isfinite(x)):
    raise CorpusError(f"{path}: wav file contains NaN/inf samples")
  return np.ascontiguousarray(x, dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class WavTruncation:
  """A RIFF/WAVE file whose `data` chunk declares more bytes than the file holds."""

  path: str
  claimed_s: float  # duration the data chunk's declared size stands for
  present_s: float  # duration of the bytes actually present
  missing_bytes: int

  def message(self) -> str:
    return (
      f"{self.path}: wav header claims {self.claimed_s:.2f} s of audio but the file holds "
      f"{self.present_s:.2f} s ({self.missing_bytes} bytes of its data chunk are missing): "
      "the file looks truncated"
    )


def wav_truncation(path: str) -> WavTruncation | None:
  """Compares a RIFF/WAVE file's declared `data` chunk size with the bytes present.

  Walks the chunks after `RIFF....WAVE` (each `id` + little-endian uint32 size, padded to an
  even size) to `fmt ` (sample rate, block align) and `data`. A declared size of 0 or
  0xFFFFFFFF (what streaming writers leave when they cannot seek back) means "unknown" and is
  not a truncation; neither is a file that is not RIFF/WAVE (RF64, FLAC, ...: None).

  Returns:
    WavTruncation when the data chunk declares more than one block more than is present,
    else None.
  """
  try:
    with open(path, "rb") as f:
      head = f.read(12)
      if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
      size = os.fstat(f.fileno()).st_size
      rate = block = 0
      pos = 12
      while pos + 8 <= size:
        f.seek(pos)
        chunk = f.read(8)
        cid, csize = chunk[:4], int.from_bytes(chunk[4:8], "little")
        if cid == b"fmt ":
          fmt = f.read(16)
          if len(fmt) == 16:
            rate = int.from_bytes(fmt[4:8], "little")
            block = int.from_bytes(fmt[12:14], "little")
        elif cid == b"data":
          present = size - (pos + 8)
          if csize in (0, 0xFFFFFFFF) or rate <= 0 or block <= 0 or csize - present < block:
            return None
          return WavTruncation(
            path, csize // block / rate, present // block / rate, csize - present
          )
        pos += 8 + csize + (csize & 1)
  except OSError:
    return None  # unreadable: load_audio names the problem
  return None


def warn_if_truncated(path: str) -> WavTruncation | None:
  """Logs a warning naming `path` when its wav header claims more audio than the file holds
  (`wav_truncation`); returns the finding. For readers that score what is there (predict)."""
  truncation = wav_truncation(path)
  if truncation is not None:
    logging.warning("%s; using the %.2f s present", truncation.message(), truncation.present_s)
  return truncation


def check_readable_file(path: str, what: str) -> None:
  """Raises CorpusError naming `path` when it is missing, a directory or cannot be opened."""
  if not os.path.exists(path):
    raise CorpusError(f"{path}: {what} file is missing")
  if os.path.isdir(path):
    raise CorpusError(
      f"{path}: is a directory, not {'an' if what[0] in 'aeiou' else 'a'} {what} file"
    )
  try:
    with open(path, "rb"):
      pass
  except OSError as e:
    raise CorpusError(f"{path}: cannot read {what} file ({e.strerror or e})") from e


# ------------------------------------------------------------------------------------ text files


def read_text_lines(path: str, what: str) -> list[str]:
  """Lines of a UTF-8 text file (BOM tolerated).

  Raises:
    CorpusError: `<path>: <what> file is missing` (or is a directory, or cannot be read), or
      `<path>:<line>: not valid UTF-8`.
  """
  check_readable_file(path, what)
  try:
    with open(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise CorpusError(f"{path}: cannot read {what} file ({e.strerror or e})") from e
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    line = data[: e.start].count(b"\n") + 1
    raise CorpusError(
      f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})"
    ) from e
  return text.splitlines()


def _float(value: str, path: str, lineno: int, field: str) -> float:
  try:
    v = float(value)
  except ValueError as e:
    raise CorpusError(f"{path}:{lineno}: {field} {value.strip()!r} is not a number") from e
  if not math.isfinite(v):
    raise CorpusError(f"{path}:{lineno}: {field} is {value.strip()} (NaN/inf)")
  return v


def read_labels(path: str, max_abs: float = LABEL_RANGE) -> tuple[np.ndarray, np.ndarray]:
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
  times, values, _ = read_label_rows(path, max_abs)
  return times, values


def read_label_rows(
  path: str, max_abs: float = LABEL_RANGE
) -> tuple[np.ndarray, np.ndarray, list[int]]:
  """`read_labels` plus the file line number of every row ([T] ints, 1-based)."""
  lines = read_text_lines(path, "label")
  times, values, linenos = [], [], []
  for lineno, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    parts = line.strip().split(";")
    if len(parts) != 5:
      raise CorpusError(
        f"{path}:{lineno}: expected 5 fields 'name;time;arousal;valence;liking', got {len(parts)}"
      )
    if lineno == 1 and "time" in parts[1].lower():
      continue
    t = _float(parts[1], path, lineno, "time")
    row = [
      _float(parts[2 + i], path, lineno, n) for i, n in enumerate(("arousal", "valence", "liking"))
    ]
    for name, v in zip(("arousal", "valence", "liking"), row, strict=False):
      if abs(v) > max_abs:
        raise CorpusError(f"{path}:{lineno}: {name} {v} outside [-{max_abs}, {max_abs}]")
    if times and t <= times[-1]:
      raise CorpusError(f"{path}:{lineno}: time {t} does not increase (previous {times[-1]})")
    times.append(t)
    values.append(row)
    linenos.append(lineno)
  if not times:
    raise CorpusError(f"{path}: label file has no rows")
  return np.asarray(times, np.float64), np.asarray(values, np.float32).reshape(-1, 3), linenos


# Largest |time of label row k - k * hop| accepted as "on the frame grid" (1 ms: far above the
# rounding of times printed with 3+ decimals, far below the 100 ms hop).
LABEL_GRID_TOLERANCE_S = 0.001


def labels_on_grid(
  path: str,
  times: np.ndarray,
  values: np.ndarray,
  linenos: Sequence[int],
  hop: float,
  resample: bool = False,
  tolerance_s: float = LABEL_GRID_TOLERANCE_S,
) -> tuple[np.ndarray, str | None]:
  """Labels as frames: row k must carry time k * hop (frame k starts there; DESIGN.md).

  The time column is never ignored and labels are never shifted: a file whose row k lies more
  than `tolerance_s` from k * hop (e.g. rows starting at 0.8 s, or on a 0.05 s offset) is
  refused, or, with `resample`, linearly interpolated onto the grid
  (`numpy.interp(k * hop, times, values)` for k = 0 .. floor(times[-1] / hop + tolerance); frames
  before the first / after the last row take that row's value) with a warning.

  Args:
    path: the labels file (for messages); times [T] float64 seconds, strictly increasing;
      values [T, 3]; linenos [T] file line of every row; hop: frame hop in seconds.

  Returns:
    (values [F, 3] float32 with row k = frame k, warning or None). On the grid: the input
    values (F = T) and None.

  Raises:
    CorpusError: `<path>:<line>: ...` naming the first off-grid row and the offset found, when
      off the grid and not `resample`.
  """
  grid = np.arange(len(times)) * hop
  off = times - grid
  bad = np.flatnonzero(np.abs(off) > tolerance_s)
  if not bad.size:
    return values, None
  k = int(bad[0])
  where = (
    f"{path}:{linenos[k]}: label time {_seconds(times[k])} s of row {k + 1} is "
    f"{_seconds(off[k], '+')} s off the frame grid (row k at k x {hop} s from 0, "
    f"tolerance {tolerance_s} s)"
  )
  if not resample:
    raise CorpusError(
      f"{where}; refused, labels are never shifted: fix the time column or "
      "pass --resample_labels to interpolate them onto the grid"
    )
  frames = int(np.floor(times[-1] / hop + tolerance_s / hop)) + 1
  t = np.arange(frames) * hop
  out = np.stack([np.interp(t, times, values[:, j]) for j in range(values.shape[1])], axis=1)
  held = int((t < times[0] - tolerance_s).sum())
  return out.astype(np.float32), (
    f"{where}; resampled {len(times)} rows onto {frames} frames by linear interpolation"
    + (f" ({held} frames before {_seconds(times[0])} s take the first row's value)" if held else "")
  )


def _seconds(x: float, sign: str = "") -> str:
  """Seconds to 0.1 ms without trailing zeros: 0.8, 0.05, 0.0011, 3600.05 (sign '+': +0.8)."""
  text = f"{x:{sign}.4f}".rstrip("0").rstrip(".")
  return "0" if text in ("+0", "-0", "") else text


def read_turns(path: str) -> list[tuple[float, float]]:
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


def read_transcription(path: str) -> list[tuple[float, float, str]]:
  """Reads `transcriptions/<id>.csv` with the SEWA quoting.

  Rows are `start;end;'text'`: `;` delimiter, `|` quote character (a field holding `;` is
  wrapped in `|`), the text wrapped in single quotes. Extra unquoted `;` inside the text are
  kept as part of the text. `<filler>` lines and `<laughter>`-style tags are returned as
  written (word_timings.normalize_word maps them). Sentences may overlap
  (`transcript_overlaps` describes it).

  Returns:
    [(start, end, text)] with times in seconds and the outer single quotes removed.

  Raises:
    CorpusError: `<path>:<line>: ...` for fewer than 3 fields, non-numeric or NaN times,
      end < start, an unterminated quote, or non-UTF-8 bytes; `<path>: ...` for an empty
      (0-byte) file, which is far more often a failed copy or export than a recording without
      speech (that one needs no transcription file).
  """
  return [row[1:] for row in transcription_rows(path)]


def transcription_rows(path: str) -> list[tuple[int, float, float, str]]:
  """`read_transcription` rows with their file line first: [(line, start, end, text)]."""
  if os.path.exists(path) and os.path.isfile(path) and os.path.getsize(path) == 0:
    raise CorpusError(
      f"{path}: transcription file is empty (0 bytes); delete it if the "
      "recording has no speech, else restore its content"
    )
  lines = read_text_lines(path, "transcription")
  rows = []
  for lineno, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      fields = next(csv.reader([line], delimiter=";", quotechar="|", strict=True))
    except csv.Error as e:
      raise CorpusError(
        f"{path}:{lineno}: malformed transcript line ({e}): {line.strip()!r}"
      ) from e
    if len(fields) < 3:
      raise CorpusError(
        f"{path}:{lineno}: malformed transcript line, expected \"start;end;'text'\", "
        f"got {line.strip()!r}"
      )
    start = _float(fields[0], path, lineno, "start time")
    end = _float(fields[1], path, lineno, "end time")
    if end < start or start < 0:
      raise CorpusError(f"{path}:{lineno}: bad transcript span start={start} end={end}")
    text = _unquote(";".join(fields[2:]))
    if text.count("'") and text.startswith("'") != text.endswith("'"):
      raise CorpusError(f"{path}:{lineno}: unbalanced single quote in transcript text {text!r}")
    rows.append((lineno, start, end, text))
  return rows


def transcript_overlaps(path: str, rows: Sequence[tuple[int, float, float, str]]) -> str | None:
  """One warning naming the first pair of overlapping sentences (and the count), or None.

  Sentence i overlaps when it starts before an earlier line's sentence ends (touching spans do
  not overlap). Overlaps are legal: the words of both sentences are kept, and a frame where two
  words overlap takes the later-starting one (emotion_tf.data.frames.frame_word_index).

  Args:
    rows: `transcription_rows(path)`.
  """
  count, first = 0, None
  latest = None  # (end, line, start) of the earlier sentence that ends last
  for lineno, start, end, _ in rows:
    if latest is not None and start < latest[0] - 1e-9:
      count += 1
      first = first or (lineno, start, end, latest[1], latest[2], latest[0])
    if latest is None or end > latest[0]:
      latest = (end, lineno, start)
  if not count:
    return None
  line, start, end, other, o_start, o_end = first
  more = f" ({count} overlapping sentences in all)" if count > 1 else ""
  return (
    f"{path}:{line}: sentence {start:.2f}-{end:.2f} s overlaps the sentence on line "
    f"{other} ({o_start:.2f}-{o_end:.2f} s){more}; both are kept, a frame where two words "
    "overlap takes the later-starting word"
  )
