"""Speech2Vec pretraining corpora in the LibriSpeech layout, and their word segments on disk.

Layout (LibriSpeech's, also what `python -m data_prep.speak_text` writes):
  <root>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   lines `<id> WORD WORD ...`
  <root>/<speaker>/<chapter>/<id>.flac (or .wav)              one utterance
  word spans, first found of:
    <timings_dir>/<id>.csv | <id>.TextGrid   (e.g. `python -m data_prep.align_words` output)
    <root>/<speaker>/<chapter>/<id>.TextGrid (Praat word tier: the published LibriSpeech forced
                                              alignments, Montreal Forced Aligner output)
    <root>/<speaker>/<chapter>/<id>.csv      (`id;start;end;word` rows, speak_text's truth)
Audio: `corpus.load_audio` (libsndfile through soundfile: FLAC and wav, any rate, resampled).

An utterance that cannot be used (missing/corrupt audio, no or malformed word spans) is
logged with its file and reported; the others are still used.
"""

import collections
import dataclasses
import os
from collections.abc import Iterator, Sequence

import numpy as np
from absl import logging

from emotion_tf.data import corpus
from emotion_tf.data import word_timings as wt
from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.semantic import segment_shards
from emotion_tf.semantic import segments as segments_lib

AUDIO_EXTENSIONS = (".flac", ".wav")


@dataclasses.dataclass(frozen=True)
class Utterance:
  """One utterance: id `<speaker>-<chapter>-<n>`, its audio file, transcript words."""

  utterance_id: str
  speaker: str
  chapter: str
  audio_path: str
  transcript: tuple[str, ...]


def _read_trans(path: str) -> list[tuple[str, tuple[str, ...]]]:
  """(`<id>`, words) of every non-empty line of a `.trans.txt`."""
  out = []
  for lineno, line in enumerate(corpus.read_text_lines(path, "transcript"), start=1):
    parts = line.split()
    if not parts:
      continue
    if len(parts) < 2:
      raise corpus.CorpusError(f"{path}:{lineno}: expected '<id> WORDS...', got {line.strip()!r}")
    out.append((parts[0], tuple(wt.tokenize(" ".join(parts[1:])))))
  return out


def list_utterances(root: str) -> tuple[list[Utterance], dict[str, str]]:
  """Utterances of a LibriSpeech-style tree, sorted by id.

  Returns:
    (utterances, failures {file: error}) -- a transcript line whose audio is missing and an
    unreadable `.trans.txt` are failures; the rest is listed.
  Raises:
    corpus.CorpusError: `root` is not a directory or holds no `.trans.txt` at all.
  """
  if not os.path.isdir(root):
    raise corpus.CorpusError(f"{root}: pretraining corpus directory does not exist")
  found, failures = [], {}
  trans_files = 0
  for dirpath, dirnames, files in os.walk(root):
    dirnames.sort()
    for name in sorted(f for f in files if f.endswith(".trans.txt")):
      trans_files += 1
      path = os.path.join(dirpath, name)
      speaker, _, chapter = name[: -len(".trans.txt")].partition("-")
      try:
        lines = _read_trans(path)
      except (corpus.CorpusError, OSError) as e:
        logging.error("skipping %s: %s", path, e)
        failures[path] = str(e)
        continue
      for uid, words in lines:
        audio = [
          os.path.join(dirpath, uid + ext)
          for ext in AUDIO_EXTENSIONS
          if os.path.exists(os.path.join(dirpath, uid + ext))
        ]
        if not audio:
          failures[os.path.join(dirpath, uid + ".flac")] = (
            f"{path}: utterance {uid} has no .flac or .wav audio"
          )
          logging.error("%s", failures[os.path.join(dirpath, uid + ".flac")])
          continue
        found.append(Utterance(uid, speaker, chapter, audio[0], words))
  if trans_files == 0:
    raise corpus.CorpusError(
      f"{root}: no <speaker>-<chapter>.trans.txt files (LibriSpeech layout expected)"
    )
  found.sort(key=lambda u: u.utterance_id)
  return found, failures


def timings_path(utt: Utterance, timings_dir: str | None = None) -> str:
  """The word-span file of `utt` (see the module docstring); raises CorpusError when none."""
  here = os.path.dirname(utt.audio_path)
  candidates = []
  if timings_dir:
    candidates += [os.path.join(timings_dir, utt.utterance_id + e) for e in (".csv", ".TextGrid")]
  candidates += [os.path.join(here, utt.utterance_id + e) for e in (".TextGrid", ".csv")]
  for path in candidates:
    if os.path.exists(path):
      return path
  raise corpus.CorpusError(
    f"{utt.audio_path}: no word spans ({', '.join(candidates)} missing); "
    "align the corpus (python -m data_prep.align_words) or use published "
    "alignments"
  )


def utterance_timings(utt: Utterance, timings_dir: str | None = None) -> list[wt.WordTiming]:
  """Word spans of `utt`, in time order."""
  path = timings_path(utt, timings_dir)
  if path.endswith(".TextGrid"):
    return wt.read_textgrid(path)
  return wt.read_timings_csv(path)


def _batch_segments(
  batch: list[tuple[str, np.ndarray, list[wt.WordTiming], str]],
  mfcc_config: mfcc_lib.MfccConfig,
  max_frames: int,
  resample_frames: int,
  counts: collections.Counter,
) -> list[segments_lib.Segments]:
  """`segments.extract_segments` of several utterances in one MFCC call.

  The utterances are laid end to end, each starting on a whole second after at least one
  second of zeros, their word spans shifted accordingly (and clipped to their own audio), so
  the one batched call returns, per utterance, what a call on it alone would; per-call
  eager overhead is what limits a per-utterance call (bench/speech2vec_pretrain.py).

  Args:
    batch: (recording id, waveform [samples], word spans, span file) per utterance.
  Returns:
    the Segments of each utterance, in order.
  """
  sr = mfcc_config.sample_rate
  shifted, offsets, off = [], [], 0
  for _rid, wav, timings, source in batch:
    n = len(wav)
    inside = [t for t in timings if int(round(float(t.start) * sr)) < n]
    if len(inside) < len(timings):
      counts["outside_audio"] += len(timings) - len(inside)
      logging.warning(
        "%s: %d of %d word spans start at or after the end of the audio (%.2f s); dropped",
        source,
        len(timings) - len(inside),
        len(timings),
        n / sr,
      )
    offsets.append(off)
    shifted += [(t.start + off / sr, min(t.end, n / sr) + off / sr, t.word) for t in inside]
    off += int(np.ceil(n / sr) + 1) * sr
  audio = np.zeros(off, np.float32)
  for (_, wav, _, _), o in zip(batch, offsets, strict=False):
    audio[o : o + len(wav)] = wav
  segs, c = segments_lib.extract_segments(
    audio, shifted, f"{batch[0][0]}..{batch[-1][0]}", mfcc_config, max_frames, resample_frames
  )
  counts.update(c)
  bounds = np.searchsorted(segs.starts, np.array(offsets[1:] + [off], np.float64) / sr - 0.5)
  out, lo = [], 0
  for (rid, _, _, _), o, hi in zip(batch, offsets, bounds, strict=False):
    part = segs.subset(np.arange(lo, hi))
    part.starts, part.ends = part.starts - o / sr, part.ends - o / sr
    part.recording_ids = [rid] * len(part)
    out.append(part)
    lo = hi
  return out


def utterance_segments(
  roots: Sequence[str],
  mfcc_config: mfcc_lib.MfccConfig,
  max_frames: int,
  resample_frames: int = 0,
  timings_dir: str | None = None,
  failures: dict[str, str] | None = None,
  counts: collections.Counter | None = None,
  batch_utterances: int = 32,
) -> Iterator[segments_lib.Segments]:
  """Word segments of every utterance of the corpora `roots`, one utterance at a time.

  Recording ids are `<root index>/<utterance id>`. Failing utterances go to `failures`
  {file: error}; segment counts (kept, truncated, skip reasons) to `counts`. MFCCs are
  computed for `batch_utterances` utterances at a time (`_batch_segments`).
  """
  failures = {} if failures is None else failures
  counts = collections.Counter() if counts is None else counts
  batch: list[tuple[str, np.ndarray, list[wt.WordTiming], str]] = []
  for i, root in enumerate(roots):
    utts, bad = list_utterances(root)
    failures.update(bad)
    for utt in utts:
      try:
        timings = utterance_timings(utt, timings_dir)
        wav = corpus.load_audio(utt.audio_path, mfcc_config.sample_rate)
      except (ValueError, OSError) as e:
        logging.error("skipping utterance %s: %s", utt.utterance_id, e)
        failures[utt.audio_path] = str(e)
        continue
      batch.append((f"{i}/{utt.utterance_id}", wav, timings, timings_path(utt, timings_dir)))
      if len(batch) >= max(batch_utterances, 1):
        yield from _batch_segments(batch, mfcc_config, max_frames, resample_frames, counts)
        batch = []
  if batch:
    yield from _batch_segments(batch, mfcc_config, max_frames, resample_frames, counts)


def write_segments(
  roots: Sequence[str],
  out_dir: str,
  mfcc_config: mfcc_lib.MfccConfig,
  max_frames: int,
  resample_frames: int = 0,
  timings_dir: str | None = None,
  segments_per_shard: int = 20000,
) -> dict:
  """Writes the word segments of the corpora `roots` to the segments directory `out_dir` once.

  A complete `out_dir` written from the same corpora and settings is reused (resumable);
  one written with other settings is an error.

  Returns:
    segments.json's metadata; its `source` holds the settings, `failures` {file: error}
    and segment `counts`.
  Raises:
    ValueError: `out_dir` holds other segments, or no usable word segment at all.
  """
  source = {
    "corpora": [os.path.abspath(r) for r in roots],
    "mfcc": mfcc_config.to_dict(),
    "max_frames": max_frames,
    "resample_frames": resample_frames,
    "timings_dir": os.path.abspath(timings_dir) if timings_dir else None,
  }
  if os.path.exists(os.path.join(out_dir, segment_shards.META_FILE)):
    meta = segment_shards.read_meta(out_dir)
    if meta.get("source", {}).get("settings") != source:
      raise ValueError(
        f"{out_dir}: holds segments written with other settings "
        f"{meta.get('source', {}).get('settings')}; remove it or use another directory"
      )
    logging.info("%s: reusing %d word segments", out_dir, meta["segments"])
    return meta
  width = resample_frames if resample_frames > 0 else max_frames
  writer = segment_shards.ShardWriter(out_dir, width, mfcc_config.num_features, segments_per_shard)
  failures: dict[str, str] = {}
  counts: collections.Counter = collections.Counter()
  for segs in utterance_segments(
    roots, mfcc_config, max_frames, resample_frames, timings_dir, failures, counts
  ):
    writer.add(segs)
  if writer.segments == 0:
    raise ValueError(
      f"{', '.join(roots)}: no usable word segments (counts {dict(counts)}, "
      f"{len(failures)} failures: {list(failures.items())[:3]})"
    )
  meta = writer.close({"settings": source, "failures": failures, "counts": dict(counts)})
  return meta
