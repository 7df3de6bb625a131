"""Word segments for Speech2Vec: MFCC sequences of spoken words and their skip-gram contexts.

A *segment* is one spoken instance of a word: the waveform between its start and end
time, turned into MFCC frames (`mfcc.compute_mfcc`). Segments are stored padded to
`max_frames` (default 100 frames = 1 s); longer words are truncated to their first
`max_frames` frames (counted as `truncated`). Zero-length segments, segments shorter
than one MFCC window (25 ms) and segments that start past the end of the audio are
skipped and counted, never raised (the last with a warning naming the file and count).

With `resample_frames` = R > 0 (Speech2Vec's time normalisation, see
`mfcc.resample_frames`) every kept segment's (truncated) MFCC sequence is resampled to
exactly R frames, so features are [N, R, F] and every length is R.
"""

import collections
import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from emotion_tf.semantic import mfcc as mfcc_lib

SKIP_REASONS = ("zero_length", "shorter_than_window", "outside_audio")


@dataclasses.dataclass
class Segments:
  """A set of word segments.

  Attributes:
    features: [N, T, F] float32 MFCCs (raw, not normalised), zero past `lengths`.
    lengths: [N] int32 valid frames, 1 <= lengths <= T.
    words: N word strings.
    recording_ids: N recording ids; segments of one recording are in time order.
    starts, ends: [N] float64 seconds.
  """

  features: np.ndarray
  lengths: np.ndarray
  words: list[str]
  recording_ids: list[str]
  starts: np.ndarray
  ends: np.ndarray

  def __len__(self) -> int:
    return len(self.words)

  def subset(self, index: np.ndarray) -> "Segments":
    """Segments at integer positions `index` [M], order kept."""
    index = np.asarray(index, dtype=np.int64)
    return Segments(
      self.features[index],
      self.lengths[index],
      [self.words[i] for i in index],
      [self.recording_ids[i] for i in index],
      self.starts[index],
      self.ends[index],
    )

  @classmethod
  def concatenate(
    cls, parts: Sequence["Segments"], max_frames: int, num_features: int
  ) -> "Segments":
    """Joins segment sets (all padded to `max_frames`); an empty list gives N = 0."""
    parts = [p for p in parts if len(p)]
    if not parts:
      return cls(
        np.zeros((0, max_frames, num_features), np.float32),
        np.zeros((0,), np.int32),
        [],
        [],
        np.zeros((0,)),
        np.zeros((0,)),
      )
    return cls(
      np.concatenate([p.features for p in parts]),
      np.concatenate([p.lengths for p in parts]).astype(np.int32),
      [w for p in parts for w in p.words],
      [r for p in parts for r in p.recording_ids],
      np.concatenate([p.starts for p in parts]),
      np.concatenate([p.ends for p in parts]),
    )


def extract_segments(
  waveform: np.ndarray,
  timings: Sequence[tuple[float, float, str]],
  recording_id: str,
  config: mfcc_lib.MfccConfig,
  max_frames: int = 100,
  resample_frames: int = 0,
  source: str | None = None,
) -> tuple[Segments, dict[str, int]]:
  """Cuts word segments out of one recording and computes their MFCCs.

  Args:
    waveform: [samples] float32 at `config.sample_rate`.
    timings: (start, end, word) triples in seconds (e.g. `WordTiming`s), in time order.
    recording_id: stored with every segment and used in messages.
    config: MFCC settings.
    max_frames: frames kept per segment (longer segments are truncated).
    resample_frames: R > 0 resamples each segment to R frames (0 = keep lengths).
    source: the timings/audio files, named in the warning about words that start past the
      end of the audio (default: `recording_id`).

  Returns:
    (segments, counts): segments padded to [n, max_frames, F] ([n, R, F] when
    resampling); counts of
    `kept`, `truncated` and each skip reason in `SKIP_REASONS`.
  """
  counts = collections.Counter({k: 0 for k in ("kept", "truncated") + SKIP_REASONS})
  sr = config.sample_rate
  total = int(waveform.shape[0])
  spans, kept = [], []
  for start, end, word in timings:
    a = max(int(round(float(start) * sr)), 0)
    b = min(int(round(float(end) * sr)), total)
    if float(end) <= float(start):
      counts["zero_length"] += 1
    elif a >= total:
      counts["outside_audio"] += 1
    elif b - a < config.frame_length:
      counts["shorter_than_window"] += 1
    else:
      spans.append((a, b))
      kept.append((float(start), float(end), str(word)))
  if counts["outside_audio"]:
    logging.warning(
      "%s: %d of %d word timings start at or after the end of the audio (%.2f s); they are dropped",
      source or recording_id,
      counts["outside_audio"],
      len(timings),
      total / sr,
    )
  skipped = sum(counts[k] for k in SKIP_REASONS)
  if skipped:
    logging.info(
      "%s: skipped %d of %d word segments (%s)",
      recording_id,
      skipped,
      len(timings),
      ", ".join(f"{k}={counts[k]}" for k in SKIP_REASONS if counts[k]),
    )
  n = len(spans)
  num_features = config.num_features
  width_out = resample_frames if resample_frames > 0 else max_frames
  if n == 0:
    return Segments.concatenate([], width_out, num_features), dict(counts)
  # Longest useful segment: enough samples for max_frames frames.
  cap = config.frame_length + (max_frames - 1) * config.frame_step
  lengths = np.array([min(b - a, cap) for a, b in spans], dtype=np.int32)
  counts["truncated"] = int(sum(1 for a, b in spans if b - a > cap))
  batch = np.zeros((n, int(lengths.max())), np.float32)
  for i, (a, _) in enumerate(spans):
    batch[i, : lengths[i]] = waveform[a : a + lengths[i]]
  feats, frames = mfcc_lib.compute_mfcc(tf.constant(batch), tf.constant(lengths), config)
  frames = tf.minimum(frames, max_frames)
  feats = feats[:, :max_frames]
  if resample_frames > 0:
    feats, frames = mfcc_lib.resample_frames(feats, frames, resample_frames)
  feats, frames = feats.numpy(), frames.numpy()
  out = np.zeros((n, width_out, num_features), np.float32)
  width = min(width_out, feats.shape[1])
  out[:, :width] = feats[:, :width]
  counts["kept"] = n
  segs = Segments(
    out,
    frames.astype(np.int32),
    [k[2] for k in kept],
    [recording_id] * n,
    np.array([k[0] for k in kept]),
    np.array([k[1] for k in kept]),
  )
  return segs, dict(counts)


def context_indices(
  segments: Segments, window: int = 3, max_gap_seconds: float = 2.0
) -> np.ndarray:
  """Skip-gram contexts: the up-to-`window` segments on each side of every segment.

  Neighbours come from the same recording and never across a pause longer than
  `max_gap_seconds` between consecutive words (a new turn/sentence).

  Returns:
    [N, 2 * window] int32 indices into `segments`, -1 where there is no neighbour;
    columns are offsets -window..-1, +1..+window.
  """
  n = len(segments)
  out = -np.ones((n, 2 * window), dtype=np.int32)
  if n == 0:
    return out
  # Group id: increases at every recording change or long pause.
  rec = np.array(segments.recording_ids, dtype=object)
  breaks = np.zeros(n, dtype=bool)
  breaks[1:] = (rec[1:] != rec[:-1]) | (segments.starts[1:] - segments.ends[:-1] > max_gap_seconds)
  group = np.cumsum(breaks)
  offsets = [o for o in range(-window, window + 1) if o != 0]
  idx = np.arange(n)
  for col, o in enumerate(offsets):
    j = idx + o
    ok = (j >= 0) & (j < n)
    ok[ok] &= group[j[ok]] == group[idx[ok]]
    out[ok, col] = j[ok]
  return out
