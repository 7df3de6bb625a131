"""TFRecord writer: a SEWA-layout corpus + word vectors -> 10 s chunk shards
(emotion_tf.data.schema).

    python -m data_prep.write_tfrecords --corpus DIR --embeddings FILE.vec --out DIR \
        [--word_timings DIR] [--num_workers 2] [--num_shards 1 --shard_index 0] \
        [--records_per_shard 8 | --shards_per_partition N] [--label_tolerance_s 1.0] \
        [--oov zeros|hash] [--audio_dtype float32|int16] [--force] [--resample_labels]
        [--allow_truncated_audio]

Per recording: check the wav's header against its size (a truncated file is refused unless
--allow_truncated_audio), decode + resample the wav (corpus.load_audio), read the labels (row k =
frame k: its time must be k * 0.1 s within 1 ms, else the recording is refused, or with
--resample_labels interpolated onto that grid; never shifted), check the label/audio length gap
against --label_tolerance_s (the error says whether the audio or the labels look wrong), fit the
audio to the labelled frames (truncate / zero-pad), find the word spoken at each frame centre
(k + 0.5) * 0.1 s (word_timings), look its vector up (zeros where none; OOV words -> zeros or a
per-word vector seeded by a hash of the word), mark the frames whose label time k * 0.1 s lies in
a subject turn (turns/<id>.csv, `frames.subject_turn_frames`; all ones and a warning when the file
is missing; for interlocutor-aware frames), and cut 100-frame chunks (the last zero-padded,
`num_frames` valid).

Shards: the recordings of each partition (sorted by id) are split into contiguous groups, one per
shard `<partition>-0000i-of-0000N.tfrecord`. `--num_shards/--shard_index` selects every
num_shards-th shard of that global list, so several machines write disjoint shards into one
directory. Recordings run in parallel processes; each shard is assembled from per-recording part
files into a temp file and renamed; a `<shard>.json` sidecar records its recordings, a
fingerprint of the settings and the content of every input file of its recordings (audio,
labels, transcript, word timings, turns: path, size, mtime and SHA-256). A rerun skips a shard whose
sidecar says complete with the same fingerprint and whose input files are unchanged (same size
and mtime, or else the same SHA-256), so a fixed recording is rewritten; `--force` rewrites
every shard. A failing recording is reported (file and line) and left out; the others are still
written, its shard is marked incomplete (redone by the next run) and the command exits 1.
Word timings that start after the end of a recording's audio are dropped with a warning naming
the timings file and the count; overlapping transcript sentences are kept with a warning naming
the file and lines (a frame where two words overlap takes the later-starting word).

The output directory is locked while a run writes it (`<out>/.lock-write_tfrecords.<slice>`,
pid and host inside): a second run on the same slice, or any run with other settings, is
refused with a message naming the holder; a lock left by a killed run is detected (its pid
is gone) and removed. Machine slices of one job (same settings, other --shard_index) may
write one directory at once. Ctrl-C stops cleanly (exit 130); the rerun resumes.

Exit codes (emotion_tf.util.cli): 0 done, 1 some recordings failed (the rest written), 2 bad
input or usage (nothing written), 130 interrupted.
Outputs beside the shards: vocab.txt, metadata.json, report.json.
"""

import contextlib
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np
from absl import logging

from emotion_tf import (
  FRAME_HOP_SECONDS,
  FRAMES_PER_CHUNK,
  LABEL_NAMES,
  SAMPLE_RATE,
  SAMPLES_PER_FRAME,
)
from emotion_tf.data import corpus
from emotion_tf.data import frames as frames_lib
from emotion_tf.data import vectors as vec_io
from emotion_tf.data import word_timings as wt
from emotion_tf.util import config as config_lib
from emotion_tf.util import fileio

PARTS_DIR = ".parts"
REPORT_FILE = "report.json"
LOCK_PREFIX = ".lock-"
UNIFORM_TIMINGS = "uniform"  # --word_timings value: the uniform split even if word_timings/ exists


@dataclasses.dataclass(frozen=True)
class WriteJobConfig:
  """What `python -m data_prep.write_tfrecords` writes; its flags are derived from these fields
  (emotion_tf.util.config) and `write_tfrecords` runs it."""

  corpus: str = config_lib.field("", "SEWA-layout corpus directory (required).")
  embeddings: str = config_lib.field("", "Word vectors (.vec text format) (required).")
  out: str = config_lib.field("", "Output directory for shards and metadata (required).")
  word_timings: str = config_lib.field(
    "",
    "Directory of <id>.csv / <id>.TextGrid word timings; empty = <corpus>/word_timings if "
    "present (data_prep.align_words writes it), else the uniform split of the transcripts; "
    "'uniform' = the uniform split even when <corpus>/word_timings exists.",
  )
  num_workers: int = config_lib.field(
    max(1, min(2, os.cpu_count() or 1)), "Worker processes.", lower_bound=1
  )
  num_shards: int = config_lib.field(
    1, "Split the work into this many machine slices.", lower_bound=1
  )
  shard_index: int = config_lib.field(
    0, "The slice this machine writes (0..num_shards-1).", lower_bound=0
  )
  records_per_shard: int = config_lib.field(8, "Recordings per output shard.", lower_bound=1)
  shards_per_partition: int = config_lib.field(
    0, "If > 0, shards per partition (overrides --records_per_shard).", lower_bound=0
  )
  label_tolerance_s: float = config_lib.field(1.0, "Max |label duration - audio duration| (s).")
  resample_labels: bool = config_lib.field(
    False,
    "Labels whose time column is off the 0.1 s frame grid (row k not at k x 0.1 s "
    "within 1 ms, e.g. rows starting at 0.8 s or on a 0.05 s offset) are interpolated onto "
    "the grid with a warning instead of refusing the recording. Labels are never shifted.",
  )
  allow_truncated_audio: bool = config_lib.field(
    False,
    "Write a wav whose header claims more audio than the file holds (truncated copy) "
    "with a warning, using the audio present, instead of refusing the recording.",
  )
  oov: str = config_lib.field(
    "zeros",
    "Vector of words missing from the embeddings: zeros, or a deterministic per-word vector.",
    choices=("zeros", "hash"),
  )
  audio_dtype: str = config_lib.field("float32", "Audio storage.", choices=("float32", "int16"))
  frames_per_chunk: int = config_lib.field(
    FRAMES_PER_CHUNK, "Frames (0.1 s each) per example.", lower_bound=1
  )
  partitions: tuple[str, ...] = config_lib.field(("train", "devel", "test"), "Partitions to write.")
  force: bool = config_lib.field(
    False,
    "Rewrite every shard of this slice, even those whose settings and input files are unchanged.",
  )
  semantic_source: str = config_lib.field(
    "lookup",
    "Semantic vector of a frame: 'lookup' = the spoken word's vector from "
    "--embeddings (needs the transcript); 'speech' = the Speech2Vec encoder on the word "
    "segment's audio mapped by the alignment W (as predicted from a wav alone).",
    choices=("lookup", "speech"),
  )
  speech2vec_dir: str = config_lib.field(
    "",
    "Speech2Vec run directory (encoder/, "
    "normalizer.json, config.json) for --semantic_source "
    "speech.",
  )
  alignment_dir: str = config_lib.field(
    "", "Alignment run directory (W.npy, speech_mean.npy) for --semantic_source speech."
  )


@dataclasses.dataclass(frozen=True)
class WriterConfig:
  """Settings that change the content of a shard (part of its fingerprint)."""

  frames_per_chunk: int = FRAMES_PER_CHUNK
  label_tolerance_s: float = WriteJobConfig.label_tolerance_s
  oov: str = WriteJobConfig.oov
  audio_dtype: str = WriteJobConfig.audio_dtype
  resample_labels: bool = WriteJobConfig.resample_labels
  allow_truncated_audio: bool = WriteJobConfig.allow_truncated_audio


@dataclasses.dataclass(frozen=True)
class ShardPlan:
  partition: str
  index: int
  count: int
  recording_ids: tuple[str, ...]

  @property
  def name(self) -> str:
    from emotion_tf.data import schema

    return schema.shard_name(self.partition, self.index, self.count)


def plan_shards(
  recordings: Sequence[corpus.Recording], records_per_shard: int = 8, shards_per_partition: int = 0
) -> list[ShardPlan]:
  """Contiguous groups of each partition's recordings (sorted by id), in partition order.

  `shards_per_partition` > 0 fixes the shard count (capped at the number of recordings);
  otherwise ceil(recordings / records_per_shard) shards per partition.
  """
  plans = []
  for part in corpus.PARTITIONS:
    ids = sorted(r.recording_id for r in recordings if r.partition == part)
    if not ids:
      continue
    if shards_per_partition > 0:
      count = min(shards_per_partition, len(ids))
    else:
      count = max(1, math.ceil(len(ids) / max(1, records_per_shard)))
    for i in range(count):
      lo, hi = i * len(ids) // count, (i + 1) * len(ids) // count
      plans.append(ShardPlan(part, i, count, tuple(ids[lo:hi])))
  return plans


# ------------------------------------------------------------------------------------- workers

_STATE: dict[str, object] = {}


def _init_worker(
  matrix: np.ndarray,
  in_embeddings: np.ndarray,
  vocab: Sequence[str],
  config: WriterConfig,
  parts_dir: str,
  worker_process: bool = False,
  speech_frontend: tuple[str, str] | None = None,
) -> None:
  """`speech_frontend` = (speech2vec_dir, alignment_dir): semantic vectors from speech tokens
  (`emotion_tf.semantic.tokens`, loaded lazily once per worker) instead of type lookup."""
  if worker_process:
    # Ctrl-C goes to the whole process group: only the parent handles it (it terminates the
    # pool), so a worker never prints a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
  _STATE.update(
    matrix=matrix,
    in_embeddings=in_embeddings,
    word_to_index={w: i for i, w in enumerate(vocab)},
    config=config,
    parts_dir=parts_dir,
    speech_frontend=speech_frontend,
    frontend=None,
  )


def _speech_semantic(
  audio: np.ndarray, timings: Sequence[wt.WordTiming], frames: int
) -> np.ndarray:
  """[frames, d] speech-token vectors of the word segments (the prediction path's function)."""
  from emotion_tf.semantic import tokens

  if _STATE.get("frontend") is None:
    _STATE["frontend"] = tokens.load_frontend_dirs(*_STATE["speech_frontend"])
  return tokens.speech_semantic_frames(
    _STATE["frontend"], audio, [(t.start, t.end) for t in timings], frames, FRAME_HOP_SECONDS
  )


def recording_files(rec: corpus.Recording, timings_path: str | None) -> dict[str, str | None]:
  """The input files of one recording whose content goes into its shard, by role."""
  return {
    "audio": rec.audio_path,
    "labels": rec.labels_path,
    "transcription": rec.transcription_path,
    "word_timings": (
      timings_path if timings_path and timings_path != rec.transcription_path else None
    ),
    "turns": rec.turns_path if os.path.exists(rec.turns_path) else None,
  }


_FILE_KIND = {
  "audio": "audio",
  "labels": "label",
  "transcription": "transcription",
  "word_timings": "word timings",
  "turns": "turns",
}


def process_recording(
  rec: corpus.Recording, timings: list[wt.WordTiming], timings_path: str | None = None
) -> dict[str, object]:
  """Writes `<parts_dir>/<id>.tfrecord` for one recording and returns its report.

  The report's 'contents' holds `fileio.content_record` of every input file (taken before
  the files are read); 'warnings' lists word timings beyond the end of the audio, overlapping
  transcript sentences, labels resampled onto the grid and truncated audio let through.
  Never raises for bad input: the report has status 'failed' and the error (file and line).
  """
  import tensorflow as tf

  from emotion_tf.data import schema

  config: WriterConfig = _STATE["config"]
  report: dict[str, object] = {
    "recording_id": rec.recording_id,
    "partition": rec.partition,
    "status": "failed",
  }
  try:
    files = recording_files(rec, timings_path)
    for role, path in files.items():
      if path and os.path.exists(path):  # a directory named x.wav, an unreadable file
        corpus.check_readable_file(path, _FILE_KIND[role])
    report["contents"] = {
      role: fileio.content_record(path) if path else None for role, path in files.items()
    }
    audio, labels, warnings = _read_inputs(rec, timings, timings_path, config, report)
    frames = len(labels)
    word_index = frames_lib.frame_word_index(timings, _STATE["word_to_index"], frames)
    if os.path.exists(rec.turns_path):  # per-frame subject turn (interlocutor-aware frames)
      subject_turn = frames_lib.subject_turn_frames(corpus.read_turns(rec.turns_path), frames)
    else:
      subject_turn = np.ones(frames, np.int64)
      warnings.append(f"{rec.turns_path}: missing; subject_turn is 1 for every frame")
    end_s = frames * FRAME_HOP_SECONDS
    beyond = sum(1 for t in timings if t.start >= end_s)
    if beyond:
      warnings.append(
        f"{timings_path or rec.transcription_path}: {beyond} of {len(timings)} word timings "
        f"start at or after the end of the audio ({end_s:.2f} s of {rec.audio_path}); "
        "they are dropped"
      )
    if warnings:
      report["warnings"] = warnings
    matrix: np.ndarray = _STATE["matrix"]
    semantic = (
      _speech_semantic(audio, timings, frames)
      if _STATE.get("speech_frontend")
      else matrix[word_index]
    )
    token_idx = np.array([_STATE["word_to_index"][t.word] for t in timings], np.int64)
    oov = int((~_STATE["in_embeddings"][token_idx]).sum()) if len(timings) else 0
    fpc = config.frames_per_chunk
    chunks = math.ceil(frames / fpc)
    os.makedirs(_STATE["parts_dir"], exist_ok=True)
    final = os.path.join(_STATE["parts_dir"], rec.recording_id + ".tfrecord")
    fd, tmp = tempfile.mkstemp(dir=_STATE["parts_dir"], prefix=".tmp-")
    os.close(fd)
    try:
      with tf.io.TFRecordWriter(tmp) as writer:
        for c in range(chunks):
          lo, hi = c * fpc, min((c + 1) * fpc, frames)
          valid = hi - lo
          pad = fpc - valid
          a = audio[lo * SAMPLES_PER_FRAME : hi * SAMPLES_PER_FRAME]
          writer.write(
            schema.serialize_example(
              rec.recording_id,
              c,
              valid,
              np.pad(a, (0, pad * SAMPLES_PER_FRAME)),
              np.pad(semantic[lo:hi], ((0, pad), (0, 0))),
              np.pad(word_index[lo:hi], (0, pad)),
              np.pad(labels[lo:hi], ((0, pad), (0, 0))),
              config.audio_dtype,
              np.pad(subject_turn[lo:hi], (0, pad)),
            )
          )
      os.chmod(tmp, 0o644)  # mkstemp creates 0600
      os.replace(tmp, final)
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)
    report.update(
      status="ok",
      frames=frames,
      chunks=chunks,
      words=len(timings),
      words_beyond_audio=beyond,
      oov_words=oov,
      oov_rate=round(oov / len(timings), 4) if timings else 0.0,
      frames_with_word=int((word_index > 0).sum()),
    )
  except Exception as e:
    # One bad recording never stops the others; corpus errors already name file and line.
    if isinstance(e, corpus.CorpusError):
      report["error"] = str(e)
    elif isinstance(e, OSError) and e.filename:
      report["error"] = f"{e.filename}: {e.strerror or e}"
    else:
      report["error"] = f"{rec.recording_id}: {type(e).__name__}: {e}"
    logging.error("%s failed: %s", rec.recording_id, e)
  return report


def _process_task(task) -> dict[str, object]:
  return process_recording(*task)


def _read_inputs(
  rec: corpus.Recording,
  timings: list[wt.WordTiming],
  timings_path: str | None,
  config: WriterConfig,
  report: dict[str, object],
) -> tuple[np.ndarray, np.ndarray, list[str]]:
  """Audio and labels of one recording, checked against each other.

  The wav's header is compared with its size (refused when truncated unless
  `allow_truncated_audio`); label row k must be at k * hop (`corpus.labels_on_grid`; resampled
  onto the grid with `resample_labels`), rows every hop; the label/audio length gap must be
  within `label_tolerance_s`, else the error says which of the two looks wrong.

  Returns:
    (audio float32 [frames * SAMPLES_PER_FRAME] truncated / zero-padded to the labels,
    labels float32 [frames, 3], warnings). Adds duration fields to `report`.
  """
  warnings: list[str] = []
  corpus.check_readable_file(rec.labels_path, "label")
  truncation = corpus.wav_truncation(rec.audio_path)
  if truncation and not config.allow_truncated_audio:
    raise corpus.CorpusError(
      f"{truncation.message()}; refused (pass --allow_truncated_audio to "
      f"write the {truncation.present_s:.2f} s present)"
    )
  if truncation:
    warnings.append(f"{truncation.message()}; written as is (--allow_truncated_audio)")
  audio = corpus.load_audio(rec.audio_path, SAMPLE_RATE)
  times, labels, linenos = corpus.read_label_rows(rec.labels_path)
  if len(times) > 1:
    steps = np.diff(times)
    bad = np.flatnonzero(np.abs(steps - FRAME_HOP_SECONDS) > 0.1 * FRAME_HOP_SECONDS)
    if bad.size:
      raise corpus.CorpusError(
        f"{rec.labels_path}: label row {int(bad[0]) + 2} is {steps[bad[0]]:.3f} s after the "
        f"previous one; labels must be every {FRAME_HOP_SECONDS} s"
      )
  labels, resampled = corpus.labels_on_grid(
    rec.labels_path, times, labels, linenos, FRAME_HOP_SECONDS, config.resample_labels
  )
  if resampled:
    warnings.append(resampled)
  if (timings_path == rec.transcription_path or not timings_path) and os.path.exists(
    rec.transcription_path
  ):
    overlap = corpus.transcript_overlaps(
      rec.transcription_path, corpus.transcription_rows(rec.transcription_path)
    )
    if overlap:
      warnings.append(overlap)
  frames = len(labels)
  audio_s = len(audio) / SAMPLE_RATE
  label_s = frames * FRAME_HOP_SECONDS
  gap = label_s - audio_s
  report.update(
    duration_s=round(audio_s, 3),
    label_duration_s=round(label_s, 3),
    label_audio_gap_s=round(gap, 3),
  )
  if abs(gap) > config.label_tolerance_s:
    raise corpus.CorpusError(
      f"{rec.labels_path}: labels cover {label_s:.2f} s but {rec.audio_path} lasts "
      f"{audio_s:.2f} s (gap {gap:+.2f} s beyond --label_tolerance_s="
      f"{config.label_tolerance_s}): "
      + _length_suspect(
        label_s, audio_s, truncation, timings, timings_path or rec.transcription_path
      )
    )
  n = frames * SAMPLES_PER_FRAME
  audio = audio[:n] if len(audio) >= n else np.pad(audio, (0, n - len(audio)))
  return audio, labels, warnings


def _length_suspect(
  label_s: float,
  audio_s: float,
  truncation: corpus.WavTruncation | None,
  timings: Sequence[wt.WordTiming],
  timings_path: str,
) -> str:
  """Which of labels and audio looks wrong when their durations differ: a truncated wav header
  blames the audio; else the end of the last spoken word (transcript / word timings) decides."""
  if truncation is not None:
    return (
      f"the audio looks truncated (its header claims {truncation.claimed_s:.2f} s, "
      f"{truncation.present_s:.2f} s present)"
    )
  speech_end = max((t.end for t in timings), default=None)
  if speech_end is None:
    return "no word timings to tell which of the two is wrong"
  words = f"the last word in {timings_path} ends at {speech_end:.2f} s"
  if label_s > audio_s:
    if speech_end > audio_s + FRAME_HOP_SECONDS:
      return f"the audio looks truncated ({words}, after the end of the audio)"
    return f"the labels look too long ({words}, within the audio)"
  if speech_end > label_s + FRAME_HOP_SECONDS:
    return f"the labels look too short ({words}, after the end of the labels)"
  return f"the labels stop early or the audio runs on after the speech ({words}); cannot tell which"


# --------------------------------------------------------------------------------------- writer

_sha256_file = fileio.file_sha256

PROGRESS_LINE_OPEN = [False]  # a progress bar is drawn without its final newline


def _progress(done: int, total: int, enabled: bool) -> None:
  if not enabled or total == 0:
    return
  width = 30
  filled = int(width * done / total)
  sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} recordings")
  PROGRESS_LINE_OPEN[0] = done != total
  if done == total:
    sys.stderr.write("\n")
  sys.stderr.flush()


def _read_sidecar(path: str) -> dict | None:
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
  """Processes started inside inherit SIGINT ignored, so a Ctrl-C reaches only this process.

  An ignored disposition survives exec (a handler would not), so a worker ignores Ctrl-C
  from its first instruction, before its own imports. A Ctrl-C during the block itself
  (the workers being spawned, well under a second) is ignored by this process too.
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  old_handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, old_handler)


def _settings_digest(settings: dict[str, object]) -> str:
  return hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _contents_current(side: dict, plan: ShardPlan, files_of) -> tuple[bool, str, dict]:
  """Whether every input file of the shard's recordings is unchanged since it was written.

  Returns:
    (current, why not, refreshed contents: the stored records with current stats where only
    the stat changed).
  """
  contents = side.get("contents")
  if not isinstance(contents, dict):
    return False, f"{plan.name}.json records no input content (older writer)", {}
  refreshed = {}
  for rid in plan.recording_ids:
    stored = contents.get(rid)
    if not isinstance(stored, dict):
      return False, f"{plan.name}.json records no input content of {rid}", {}
    refreshed[rid] = {}
    for role, path in files_of(rid).items():
      try:
        ok, record = fileio.content_unchanged(stored.get(role), path)
      except OSError:  # now a directory or unreadable: rewrite (the recording names it)
        ok, record = False, None
      if not ok:
        shown = path or (stored.get(role) or {}).get("path", role)
        return False, f"{rid}: {shown} changed since {plan.name} was written", {}
      refreshed[rid][role] = record
  return True, "", refreshed


def _remove_leftovers(out_dir: str, parts_dir: str) -> None:
  """Temp and part files of an earlier run that was killed (only while no other writer runs)."""
  for d in (out_dir, parts_dir):
    if not os.path.isdir(d):
      continue
    for name in os.listdir(d):
      path = os.path.join(d, name)
      try:
        if name.startswith(".tmp-lock-") and time.time() - os.path.getmtime(path) < 3600:
          continue  # another writer may be taking its lock right now (DirLock.acquire)
        if name.startswith(".tmp-") or d == parts_dir:
          os.remove(path)
      except OSError:
        pass


@dataclasses.dataclass(frozen=True)
class _Inputs:
  """What `write_tfrecords` reads and resolves before it locks the output directory."""

  config: WriterConfig  # settings that change a shard's content
  word_timings_dir: str | None  # None = uniform split of the transcripts
  emb_words: list[str]
  emb_vectors: np.ndarray  # [V, d]
  recordings: list[corpus.Recording]
  wanted: Sequence[str]  # partitions to write
  speech_frontend: object = None  # tokens.SemanticFrontend for semantic_source 'speech'
  frontend_info: dict | None = None


def word_timings_dir(job: WriteJobConfig) -> str | None:
  """The timings directory of `job` (its --word_timings semantics); None = uniform split."""
  if job.word_timings == UNIFORM_TIMINGS:
    return None
  return wt.resolve_timings_dir(job.corpus, job.word_timings)


def write_tfrecords(job: WriteJobConfig, *, progress: bool = False) -> dict[str, object]:
  """Writes this machine's slice of TFRecord shards (see the module docstring).

  `job` says what (the fields of WriteJobConfig are the binary's flags): corpus, embeddings
  (`.vec`, dimension d of 'semantic'), out (created), word_timings ('' = <corpus>/word_timings
  when present else the uniform split; 'uniform' = always the uniform split), num_workers
  (1 = in this process), num_shards/shard_index (write only shards whose position in the
  global shard list is congruent to shard_index modulo num_shards), records_per_shard /
  shards_per_partition (see plan_shards), label_tolerance_s, oov ('zeros' or 'hash'),
  audio_dtype, frames_per_chunk, partitions, force (rewrite current shards too),
  semantic_source ('lookup' = the word's vector from `embeddings`; 'speech' = the Speech2Vec
  encoder on each word segment mapped by W, `emotion_tf.semantic.tokens`, needs speech2vec_dir
  and alignment_dir, whose hashes enter the fingerprint), resample_labels
  (`corpus.labels_on_grid`) and allow_truncated_audio (`corpus.wav_truncation`).
  `progress` draws a progress bar on stderr.

  Returns:
    report dict: 'recordings' (per-recording reports of this run), 'failed' (ids),
    'shards_written', 'shards_skipped', 'ok' (no failure), 'wall_s', 'audio_seconds',
    'warnings' (messages, e.g. word timings beyond the audio).

  Raises:
    fileio.OutputPathError: `out` cannot be created or written (checked first).
    fileio.LockError: another run holds the directory (same slice, or other settings).
    VecFormatError: for a malformed embeddings file; CorpusError: for a missing corpus.
    KeyboardInterrupt: Ctrl-C; finished shards are kept, the lock released.
  """
  t0 = time.time()
  if job.oov not in ("zeros", "hash"):
    raise ValueError(f"oov must be 'zeros' or 'hash', got {job.oov!r}")
  if job.audio_dtype not in ("float32", "int16"):  # schema.AUDIO_DTYPES (schema imports TF)
    raise ValueError(f"audio_dtype must be 'float32' or 'int16', got {job.audio_dtype!r}")
  if not 0 <= job.shard_index < job.num_shards:
    raise ValueError(f"shard_index {job.shard_index} outside 0..{job.num_shards - 1}")
  fileio.check_output_dir(job.out)
  # Bad embeddings / corpus / partitions are found before anything is created (and before
  # TensorFlow is even imported).
  emb_words, emb_vectors = vec_io.read_vec(job.embeddings)
  recordings = corpus.list_recordings(job.corpus)
  wanted = corpus.normalize_partitions(list(job.partitions) if job.partitions else None)
  timings_dir = word_timings_dir(job)
  config = WriterConfig(
    job.frames_per_chunk,
    float(job.label_tolerance_s),
    job.oov,
    job.audio_dtype,
    bool(job.resample_labels),
    bool(job.allow_truncated_audio),
  )
  speech_frontend, frontend_info = _speech_frontend_info(
    job.semantic_source, job.speech2vec_dir or None, job.alignment_dir or None
  )
  inputs = _Inputs(
    config, timings_dir, emb_words, emb_vectors, recordings, wanted, speech_frontend, frontend_info
  )
  settings = {
    "config": dataclasses.asdict(config),
    "corpus": os.path.abspath(job.corpus),
    "embeddings": os.path.abspath(job.embeddings),
    "word_timings": os.path.abspath(timings_dir) if timings_dir else "",
    "num_shards": job.num_shards,
    "records_per_shard": job.records_per_shard,
    "shards_per_partition": job.shards_per_partition,
    "semantic_source": frontend_info or "lookup",
  }
  lock = fileio.DirLock(
    job.out,
    f"write_tfrecords.{job.shard_index}-of-{job.num_shards}",
    _settings_digest(settings),
    prefix=LOCK_PREFIX,
  )
  with lock:
    if not lock.others_alive():
      _remove_leftovers(job.out, os.path.join(job.out, PARTS_DIR))
    return _write_locked(job, inputs, t0, progress)


def _write_locked(
  job: WriteJobConfig, inputs: _Inputs, t0: float, progress: bool
) -> dict[str, object]:
  """`write_tfrecords` once the output directory is locked."""
  from emotion_tf.data import schema

  corpus_dir, embeddings_path, out_dir = job.corpus, job.embeddings, job.out
  config, word_timings_dir, all_recs = inputs.config, inputs.word_timings_dir, inputs.recordings
  emb_words, emb_vectors = inputs.emb_words, inputs.emb_vectors
  num_shards, shard_index = job.num_shards, job.shard_index

  # Word timings of every recording (the vocabulary must be the same on every machine).
  timings: dict[str, list[wt.WordTiming]] = {}
  errors: dict[str, str] = {}
  for rec in all_recs:
    try:
      timings[rec.recording_id] = wt.load_word_timings(
        corpus_dir, rec.recording_id, word_timings_dir
      )
    except corpus.CorpusError as e:
      errors[rec.recording_id] = str(e)
      logging.error("%s failed: %s", rec.recording_id, e)
  vocab = [schema.NO_WORD] + sorted({t.word for ts in timings.values() for t in ts})
  matrix = schema.build_embedding_matrix(vocab, emb_words, emb_vectors, config.oov)
  emb_set = set(emb_words)
  in_embeddings = np.array([i > 0 and w in emb_set for i, w in enumerate(vocab)])
  fingerprint = {
    "schema_version": schema.SCHEMA_VERSION,
    "vocab": schema.vocab_fingerprint(vocab),
    "embeddings_sha256": _sha256_file(embeddings_path),
    "config": dataclasses.asdict(config),
    "word_timings": os.path.abspath(word_timings_dir) if word_timings_dir else "uniform",
  }
  if inputs.frontend_info:
    fingerprint["semantic_source"] = inputs.frontend_info

  os.makedirs(out_dir, exist_ok=True)
  schema.write_vocab(out_dir, vocab[1:])
  by_id = {r.recording_id: r for r in all_recs}
  source = {rid: wt.timings_source(corpus_dir, rid, word_timings_dir) for rid in by_id}

  def files_of(rid: str) -> dict[str, str | None]:
    return recording_files(by_id[rid], source[rid])

  plans = plan_shards(all_recs, job.records_per_shard, job.shards_per_partition)
  mine = [
    p for k, p in enumerate(plans) if k % num_shards == shard_index and p.partition in inputs.wanted
  ]
  todo, skipped = [], []
  for plan in mine:
    side_path = os.path.join(out_dir, plan.name + ".json")
    side = _read_sidecar(side_path)
    if (
      job.force
      or not os.path.exists(os.path.join(out_dir, plan.name))
      or not side
      or not side.get("complete")
      or side.get("fingerprint") != {**fingerprint, "recordings": list(plan.recording_ids)}
    ):
      todo.append(plan)
      continue
    current, why, refreshed = _contents_current(side, plan, files_of)
    if not current:
      logging.info("rewriting %s: %s", plan.name, why)
      todo.append(plan)
      continue
    if refreshed != side["contents"]:  # same bytes, new mtime: keep the fast path fast
      fileio.atomic_write(
        side_path,
        (json.dumps({**side, "contents": refreshed}, indent=1, sort_keys=True) + "\n").encode(
          "utf-8"
        ),
      )
    skipped.append(plan.name)
  reports: dict[str, dict[str, object]] = {}
  tasks = []
  for plan in todo:
    for rid in plan.recording_ids:
      if rid in errors:
        reports[rid] = {
          "recording_id": rid,
          "partition": plan.partition,
          "status": "failed",
          "error": errors[rid],
        }
      else:
        tasks.append((by_id[rid], timings[rid], source[rid]))
  parts_dir = os.path.join(out_dir, PARTS_DIR)
  init_args = (matrix, in_embeddings, vocab, config, parts_dir)
  total = len(tasks) + len(reports)
  written: list[str] = []
  pending = {plan.name: set(plan.recording_ids) for plan in todo}

  def finish_ready_shards():
    for plan in todo:
      if plan.name in pending and not pending[plan.name] - set(reports):
        _assemble_shard(out_dir, parts_dir, plan, reports, fingerprint)
        written.append(plan.name)
        del pending[plan.name]

  def add(rep: dict[str, object]) -> None:
    reports[rep["recording_id"]] = rep
    for w in rep.get("warnings", ()):
      logging.warning("%s", w)
    _progress(len(reports), total, progress)
    finish_ready_shards()

  _progress(len(reports), total, progress)
  finish_ready_shards()
  if job.num_workers <= 1 or len(tasks) <= 1:
    _init_worker(*init_args, speech_frontend=inputs.speech_frontend)
    for task in tasks:
      add(process_recording(*task))
  else:
    ctx = multiprocessing.get_context("spawn")
    with _children_ignore_sigint():
      pool = ctx.Pool(
        min(job.num_workers, len(tasks)),
        initializer=_init_worker,
        initargs=init_args + (True, inputs.speech_frontend),
      )
    with pool:  # leaving the block (Ctrl-C included) terminates the workers
      for rep in pool.imap_unordered(_process_task, tasks):
        add(rep)
  finish_ready_shards()
  if os.path.isdir(parts_dir) and not os.listdir(parts_dir):
    os.rmdir(parts_dir)

  failed = sorted(rid for rid, r in reports.items() if r["status"] != "ok")
  _write_metadata(
    out_dir, plans, vocab, matrix.shape[1], config, corpus_dir, embeddings_path, fingerprint
  )
  ordered = [{k: v for k, v in reports[rid].items() if k != "contents"} for rid in sorted(reports)]
  audio_seconds = float(sum(r.get("duration_s", 0.0) for r in ordered if r["status"] == "ok"))
  result = {
    "ok": not failed,
    "failed": failed,
    "recordings": ordered,
    "shards_written": written,
    "shards_skipped": skipped,
    "errors": {rid: reports[rid].get("error", "") for rid in failed},
    "warnings": [w for r in ordered for w in r.get("warnings", ())],
    "wall_s": round(time.time() - t0, 3),
    "audio_seconds": round(audio_seconds, 3),
  }
  fileio.write_json(os.path.join(out_dir, REPORT_FILE), result, indent=1)
  logging.info(
    "wrote %d shards (%d skipped), %d recordings ok, %d failed, %.1f s",
    len(written),
    len(skipped),
    len(ordered) - len(failed),
    len(failed),
    result["wall_s"],
  )
  return result


def _speech_frontend_info(
  semantic_source: str, speech2vec_dir: str | None, alignment_dir: str | None
):
  """(speech_frontend worker arg or None, fingerprint/metadata entry or None)."""
  if semantic_source == "lookup":
    return None, None
  if semantic_source != "speech":
    raise ValueError(f"semantic_source must be 'lookup' or 'speech', got {semantic_source!r}")
  from emotion_tf.semantic import tokens

  if not speech2vec_dir or not alignment_dir:
    raise ValueError("--semantic_source speech needs --speech2vec_dir and --alignment_dir")
  hashes = tokens.files_sha256(tokens.frontend_files(speech2vec_dir, alignment_dir))
  info = {
    "kind": "speech",
    "speech2vec_dir": os.path.abspath(speech2vec_dir),
    "alignment_dir": os.path.abspath(alignment_dir),
    "files_sha256": hashes,
    "bundle_sha256": tokens.bundle_sha256(hashes),
  }
  return (os.path.abspath(speech2vec_dir), os.path.abspath(alignment_dir)), info


def _assemble_shard(
  out_dir: str,
  parts_dir: str,
  plan: ShardPlan,
  reports: dict[str, dict[str, object]],
  fingerprint: dict,
) -> None:
  """Concatenates the part files of `plan` (TFRecord files concatenate) into a temp file, renames
  it to the shard name, writes the sidecar, removes the parts."""
  ok = [rid for rid in plan.recording_ids if reports[rid]["status"] == "ok"]
  fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".tmp-")
  try:
    with os.fdopen(fd, "wb") as out:
      for rid in ok:
        with open(os.path.join(parts_dir, rid + ".tfrecord"), "rb") as f:
          while True:
            block = f.read(1 << 22)
            if not block:
              break
            out.write(block)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600
    os.replace(tmp, os.path.join(out_dir, plan.name))
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  side = {
    "shard": plan.name,
    "partition": plan.partition,
    "complete": len(ok) == len(plan.recording_ids),
    "fingerprint": {**fingerprint, "recordings": list(plan.recording_ids)},
    "recordings_written": ok,
    "failed": {rid: reports[rid].get("error", "") for rid in plan.recording_ids if rid not in ok},
    "contents": {rid: reports[rid].get("contents") for rid in ok},
    "examples": int(sum(reports[rid]["chunks"] for rid in ok)),
    "frames": int(sum(reports[rid]["frames"] for rid in ok)),
  }
  fileio.write_json(os.path.join(out_dir, plan.name + ".json"), side, indent=1)
  for rid in ok:
    os.remove(os.path.join(parts_dir, rid + ".tfrecord"))


def _write_metadata(
  out_dir: str,
  plans: Sequence[ShardPlan],
  vocab: Sequence[str],
  dim: int,
  config: WriterConfig,
  corpus_dir: str,
  embeddings_path: str,
  fingerprint: dict,
) -> None:
  """metadata.json from every shard sidecar present (written by any machine)."""
  from emotion_tf.data import schema

  parts: dict[str, dict[str, object]] = {}
  complete = True
  failed: dict[str, str] = {}
  for plan in plans:
    p = parts.setdefault(
      plan.partition,
      {"num_shards": plan.count, "shards": [], "examples": 0, "recordings": 0, "frames": 0},
    )
    side = _read_sidecar(os.path.join(out_dir, plan.name + ".json"))
    current = bool(side) and side.get("fingerprint") == {
      **fingerprint,
      "recordings": list(plan.recording_ids),
    }
    if not current or not os.path.exists(os.path.join(out_dir, plan.name)):
      complete = False
      continue
    p["shards"].append(plan.name)
    p["examples"] += side["examples"]
    p["frames"] += side["frames"]
    p["recordings"] += len(side["recordings_written"])
    complete = complete and bool(side["complete"])
    failed.update(side.get("failed", {}))
  schema.write_metadata(
    out_dir,
    {
      "sample_rate": SAMPLE_RATE,
      "samples_per_frame": SAMPLES_PER_FRAME,
      "frame_hop_s": FRAME_HOP_SECONDS,
      "hop_seconds": FRAME_HOP_SECONDS,
      "frames_per_chunk": config.frames_per_chunk,
      "semantic_dim": int(dim),
      "num_labels": len(LABEL_NAMES),
      "label_names": list(LABEL_NAMES),
      "audio_dtype": config.audio_dtype,
      "oov": config.oov,
      "label_tolerance_s": config.label_tolerance_s,
      "resample_labels": config.resample_labels,
      "allow_truncated_audio": config.allow_truncated_audio,
      "vocab_file": schema.VOCAB_FILE,
      "vocab_size": len(vocab),
      "vocab_fingerprint": schema.vocab_fingerprint(vocab),
      "embeddings_file": os.path.abspath(embeddings_path),
      "embeddings_sha256": fingerprint["embeddings_sha256"],
      "corpus_dir": os.path.abspath(corpus_dir),
      "word_timings": fingerprint["word_timings"],
      "partitions": parts,
      "complete": complete,
      "failed_recordings": failed,
      "semantic_source": fingerprint.get("semantic_source", {"kind": "lookup"}),
      schema.SUBJECT_TURN: True,
    },
  )
