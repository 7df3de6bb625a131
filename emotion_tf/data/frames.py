"""Frame <-> word mapping: the model's input contract shared by the TFRecord writer and predict.

A recording of F frames (hop `FRAME_HOP_SECONDS` = 0.1 s) gets, at frame k, the vector of the
word spoken at the frame centre t_k = (k + 0.5) * hop (DESIGN.md "Word timings"); zeros where no
word is spoken.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from emotion_tf import FRAME_HOP_SECONDS
from emotion_tf.data import schema
from emotion_tf.data import word_timings as wt


def frame_word_index(
  timings: Sequence[wt.WordTiming],
  word_to_index: dict[str, int],
  num_frames: int,
  hop: float = FRAME_HOP_SECONDS,
) -> np.ndarray:
  """Vocabulary index of the word spoken at each frame centre (k + 0.5) * hop, 0 where none.

  A word covers [start, end); where words overlap the latest-starting one wins.
  Returns int64 [num_frames].
  """
  out = np.zeros(num_frames, np.int64)
  centres = (np.arange(num_frames) + 0.5) * hop
  # Paint words in start order: a later-starting word overwrites the frames it covers.
  for t in sorted(timings, key=lambda t: (t.start, t.end)):
    lo = np.searchsorted(centres, t.start, side="left")  # first centre >= start
    hi = np.searchsorted(centres, t.end, side="left")  # first centre >= end
    out[lo:hi] = word_to_index[t.word]
  return out


def semantic_frames(
  timings: Sequence[wt.WordTiming],
  num_frames: int,
  words: Sequence[str],
  vectors: np.ndarray,
  hop_seconds: float = FRAME_HOP_SECONDS,
  oov: str = "zeros",
) -> tuple[np.ndarray, dict[str, Any]]:
  """Per-frame word vectors of one recording, with the TFRecord writer's rules.

  The word of frame k is the one spoken at its centre (k + 0.5) * hop (`frame_word_index`); its
  vector comes from (`words`, `vectors`) through `schema.build_embedding_matrix` (zeros where no
  word; unknown words -> zeros or the writer's deterministic hash vector, per `oov`).

  Args:
    timings: word timings; num_frames: F.
    words, vectors: an embedding space, vectors float32 [count, d].
    hop_seconds: frame hop; oov: 'zeros' or 'hash'.

  Returns:
    (semantic float32 [num_frames, d], stats {'words', 'frames_with_word',
    'oov_words' (distinct unknown words spoken), 'oov_frames'}).
  """
  vocab = [schema.NO_WORD] + sorted({t.word for t in timings} - {schema.NO_WORD})
  word_to_index = {w: i for i, w in enumerate(vocab)}
  index = frame_word_index(timings, word_to_index, num_frames, hop_seconds)  # [F] into vocab
  matrix = schema.build_embedding_matrix(vocab, words, vectors, oov)  # [V, d]
  known = set(words)
  unknown = np.array([i > 0 and w not in known for i, w in enumerate(vocab)])
  stats = {
    "words": len(timings),
    "frames_with_word": int((index > 0).sum()),
    "oov_words": int(unknown.sum()),
    "oov_frames": int(unknown[index].sum()),
  }
  return matrix[index], stats


def frames_in(num_samples: int, samples_per_frame: int) -> int:
  """Whole frames in `num_samples` samples (a trailing partial frame is dropped)."""
  return int(num_samples) // int(samples_per_frame)


def subject_turn_frames(
  turns: Sequence[tuple[float, float]], num_frames: int, hop: float = FRAME_HOP_SECONDS
) -> np.ndarray:
  """1 where frame k's label time t_k = k * hop lies in one of the subject's turns, else 0.

  The original code's rule (data_generator.py `process_audio_frames`): a turn (start, end) in
  seconds, read as float32, covers frames round(start, 1) / hop ... round(end, 1) / hop
  inclusive, i.e. t_k in [round(start, 1), round(end, 1)] with the ends rounded to 0.1 s.
  Returns int64 [num_frames].
  """
  out = np.zeros(num_frames, np.int64)
  for start, end in turns:
    lo = int(round(round(float(np.float32(start)), 1) / hop))
    hi = int(round(round(float(np.float32(end)), 1) / hop))
    out[max(lo, 0) : max(min(hi + 1, num_frames), 0)] = 1
  return out


def pack_interlocutor_frames(
  audio: np.ndarray, subject_turn: np.ndarray, samples_per_frame: int
) -> np.ndarray:
  """Interlocutor-aware frames of the original code: [F * spf] -> [F * 2 * spf].

  Frame k becomes 2 * spf samples: its spf samples in the first half when subject_turn[k] = 1
  (the subject speaks), in the second half otherwise (the partner or silence), zeros in the
  other half. numpy twin of the reader's `pipeline.pack_interlocutor_frames` (for predict).
  """
  frames = np.asarray(audio, np.float32).reshape(-1, int(samples_per_frame))  # [F, spf]
  st = (np.asarray(subject_turn).reshape(-1, 1) > 0).astype(np.float32)  # [F, 1]
  return np.concatenate([frames * st, frames * (1.0 - st)], axis=1).reshape(-1)
