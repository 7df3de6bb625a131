"""Forced alignment of sentence transcripts to words.

`align_recording` aligns each transcript sentence by `AlignConfig.method`: `auto` (default)
tries the acoustic model (pocketsphinx, data_prep.acoustic_alignment; English or a given
model), then TTS + DTW (below), then the uniform split of the sentence span; which one produced
each sentence is returned by `align_recording_methods` and recorded by `align_corpus` in
`<id>.methods.json` beside `<id>.csv`.

TTS + DTW (the method of aeneas), for every transcript sentence (start, end, text):
  1. the sentence's words are spoken by espeak-ng in ONE synthesis call (libespeak-ng through
     ctypes, synchronous mode); espeak-ng's word events give the sample at which each word
     starts in the synthetic audio;
  2. both the synthetic audio and the real span (mono, 22 050 Hz) are trimmed to speech (frame
     energy above a threshold relative to the span's peak) and described by 13 MFCCs (25 ms Hann
     window, 10 ms hop, 40 mel bands 20 Hz - 8 kHz), each normalised by its own mean and standard
     deviation (CMVN: removes the speaker's timbre, channel and loudness);
  3. DTW (symmetric step pattern with weight 2 on diagonal steps, both end points fixed, a
     Sakoe-Chiba band around the length-normalised diagonal) on the Euclidean frame distances
     aligns synthetic frames to real frames;
  4. each synthetic word boundary is mapped through the warping path to a time in the real
     audio, and finally moved to the edges of a nearby pause (frames below the silence
     threshold), so that pauses between words belong to no word.

The real speaker and the TTS voice may differ (CMVN and DTW absorb timbre and rate); audio of
any sample rate / channel count is brought to 22 050 Hz mono by `emotion_tf.data.corpus.load_audio`.
Sentences too short to align (fewer than `MIN_FRAMES` speech frames per word) fall back to the
uniform split of their speech region.
"""

import ctypes
import ctypes.util
import dataclasses
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence

import numpy as np
from absl import logging

from emotion_tf import SAMPLE_RATE
from emotion_tf.data import corpus
from emotion_tf.data import word_timings as wt
from emotion_tf.util import fileio


class AlignmentError(RuntimeError):
  """The aligner cannot run (espeak-ng library missing, unknown voice, synthesis failure)."""


@dataclasses.dataclass(frozen=True)
class AlignConfig:
  """Aligner settings (durations in seconds).

  Attributes:
    method: 'auto' (acoustic model, then TTS + DTW, then the uniform split, per sentence),
      'acoustic' (acoustic model, else uniform), 'tts_dtw' (TTS + DTW, else uniform) or
      'uniform' (each sentence's span split evenly over its words).
    language: language of the speech; the acoustic model is used for English (`en*`) or when
      `acoustic_model` names another installed model, else TTS + DTW.
    acoustic_model, acoustic_dict: CMU Sphinx model directory / dictionary ('' = pocketsphinx's
      bundled en-us model and CMUdict).
    voice: espeak-ng voice of the synthetic reference (any voice: CMVN + DTW absorb the
      difference to the real speaker).
    rate: espeak-ng speaking rate, words per minute.
    num_mfcc, window_s, hop_s, num_mel_bins, lower_hz, upper_hz: MFCC front end.
    band_fraction, band_min_s: Sakoe-Chiba band half-width: the larger of band_fraction times the
      longer sequence and band_min_s, around the length-normalised diagonal.
    silence_db: a frame is silent when its energy is more than this below the span's peak
      frame energy (or within `floor_margin_db` of the span's quietest frames, whichever is
      higher; never above `peak - min_silence_db`).
    refine_s: a word boundary moves to the edges of a pause found within this distance (each
      pause taken by at most one boundary, see `assign_pauses`); 0 disables the refinement.
    min_pause_s: silent runs shorter than this are not pauses (0: one silent frame suffices;
      on the demo corpora 0.03-0.05 s changed the centre-inside share by < 0.3 points).
  """

  method: str = "auto"
  language: str = "en"
  acoustic_model: str = ""
  acoustic_dict: str = ""
  voice: str = "en"
  rate: int = 175
  num_mfcc: int = 13
  window_s: float = 0.025
  hop_s: float = 0.010
  num_mel_bins: int = 40
  lower_hz: float = 20.0
  upper_hz: float = 8000.0
  band_fraction: float = 0.25
  band_min_s: float = 0.3
  silence_db: float = 50.0
  floor_margin_db: float = 6.0
  min_silence_db: float = 20.0
  refine_s: float = 0.2
  min_pause_s: float = 0.0


MIN_FRAMES = 2  # speech frames per word below which a sentence is split uniformly
METHODS = ("auto", "acoustic", "tts_dtw", "uniform")
SENTENCE_METHODS = ("acoustic", "tts_dtw", "uniform")  # what produced a sentence's timings


def uses_acoustic(config: AlignConfig) -> bool:
  """Whether `config` tries the acoustic model first (method auto/acoustic, and an English
  language or an explicitly given model)."""
  return config.method in ("auto", "acoustic") and (
    bool(config.acoustic_model) or config.language.lower().startswith("en")
  )


def acoustic_config(config: AlignConfig):
  """The acoustic_alignment.AcousticConfig of an AlignConfig."""
  from data_prep import acoustic_alignment as aa

  return aa.AcousticConfig(model_dir=config.acoustic_model, dictionary=config.acoustic_dict)


# ------------------------------------------------------------------------------------------ DTW


def dtw_path(cost: np.ndarray, band: int | None = None) -> np.ndarray:
  """Minimum-cost monotone alignment path of a cost matrix, both end points fixed.

  Step pattern (symmetric, Sakoe & Chiba 1978): D[0, 0] = C[0, 0];
  D[i, j] = min(D[i-1, j-1] + 2 C[i, j], D[i-1, j] + C[i, j], D[i, j-1] + C[i, j]),
  so the cost of a path is independent of how it mixes diagonal and straight steps. Computed
  one anti-diagonal at a time (vectorised in numpy).

  Args:
    cost: [N, M] non-negative float (N, M >= 1).
    band: optional Sakoe-Chiba half-width in cells: cell (i, j) is allowed only when
      |j - i (M-1)/(N-1)| <= band (the band is widened to at least the slope so that a path
      always exists).

  Returns:
    int64 [L, 2] pairs (i, j) from (0, 0) to (N-1, M-1), each step one of (1,1), (1,0), (0,1).
  """
  cost = np.asarray(cost, np.float64)
  if cost.ndim != 2 or cost.shape[0] < 1 or cost.shape[1] < 1:
    raise ValueError(f"dtw_path: cost must be a non-empty 2-D matrix, got shape {cost.shape}")
  n, m = cost.shape
  if band is not None:
    slope = (m - 1) / (n - 1) if n > 1 else float(m)
    width = max(float(band), slope, 1.0 / slope if slope > 0 else 1.0, 1.0)
    ii, jj = np.mgrid[0:n, 0:m]
    centre = ii * ((m - 1) / (n - 1) if n > 1 else 0.0)
    cost = np.where(np.abs(jj - centre) <= width + 1e-9, cost, np.inf)
  acc = np.full((n + 1, m + 1), np.inf)  # acc[i+1, j+1] = D[i, j]
  back = np.zeros((n, m), np.int8)  # 0 diagonal, 1 from (i-1, j), 2 from (i, j-1)
  acc[1, 1] = cost[0, 0]
  for k in range(1, n + m - 1):
    i = np.arange(max(0, k - m + 1), min(n - 1, k) + 1)
    j = k - i
    c = cost[i, j]
    steps = np.stack([acc[i, j] + 2.0 * c, acc[i, j + 1] + c, acc[i + 1, j] + c])
    best = np.argmin(steps, axis=0)
    acc[i + 1, j + 1] = steps[best, np.arange(len(i))]
    back[i, j] = best
  if not np.isfinite(acc[n, m]):
    raise ValueError("dtw_path: no finite path (band too narrow or infinite costs)")
  path = [(n - 1, m - 1)]
  i, j = n - 1, m - 1
  while i > 0 or j > 0:
    b = back[i, j]
    if i == 0:
      b = 2
    elif j == 0:
      b = 1
    if b == 0:
      i, j = i - 1, j - 1
    elif b == 1:
      i -= 1
    else:
      j -= 1
    path.append((i, j))
  return np.asarray(path[::-1], np.int64)


def path_cost(cost: np.ndarray, path: np.ndarray) -> float:
  """Cost of a path under `dtw_path`'s step weights (C[0,0], then 2C on diagonal steps)."""
  total = float(cost[path[0][0], path[0][1]])
  for (i0, j0), (i1, j1) in zip(path[:-1], path[1:], strict=False):
    w = 2.0 if (i1 - i0 == 1 and j1 - j0 == 1) else 1.0
    total += w * float(cost[i1, j1])
  return total


# ---------------------------------------------------------------------------------------- MFCC


def _mel_matrix(num_bins: int, fft_length: int, sr: int, lower: float, upper: float) -> np.ndarray:
  """[fft_length//2 + 1, num_bins] triangular filters on the HTK mel scale."""

  def mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

  edges_mel = np.linspace(mel(lower), mel(min(upper, sr / 2)), num_bins + 2)
  edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
  freqs = np.linspace(0, sr / 2, fft_length // 2 + 1)
  lo, ce, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
  up = (freqs[None, :] - lo) / np.maximum(ce - lo, 1e-9)
  down = (hi - freqs[None, :]) / np.maximum(hi - ce, 1e-9)
  return np.maximum(0.0, np.minimum(up, down)).T


def frames_of(x: np.ndarray, sr: int, config: AlignConfig) -> np.ndarray:
  """[T, window] frames (hop config.hop_s; a signal shorter than a window is zero-padded)."""
  win = int(round(config.window_s * sr))
  hop = int(round(config.hop_s * sr))
  x = np.asarray(x, np.float64)
  if len(x) < win:
    x = np.pad(x, (0, win - len(x)))
  return np.lib.stride_tricks.sliding_window_view(x, win)[::hop]


def mfcc(x: np.ndarray, sr: int, config: AlignConfig) -> np.ndarray:
  """MFCCs [T, num_mfcc] of a mono signal (c0 included), frame t centred at
  t * hop + window / 2."""
  from scipy import fft as sfft

  frames = frames_of(x, sr, config)
  win = frames.shape[1]
  nfft = 1 << int(math.ceil(math.log2(win)))
  spec = np.abs(np.fft.rfft(frames * np.hanning(win), nfft)) ** 2
  mel = spec @ _mel_matrix(config.num_mel_bins, nfft, sr, config.lower_hz, config.upper_hz)
  return sfft.dct(np.log(mel + 1e-10), type=2, norm="ortho", axis=1)[:, : config.num_mfcc]


def cmvn(features: np.ndarray) -> np.ndarray:
  """Per-sequence mean/variance normalisation of [T, F] (std floored at 1e-3)."""
  return (features - features.mean(0)) / np.maximum(features.std(0), 1e-3)


def frame_energy_db(x: np.ndarray, sr: int, config: AlignConfig) -> np.ndarray:
  """[T] frame energies in dB (10 log10 of the mean square), frames as in `mfcc`."""
  frames = frames_of(x, sr, config)
  return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def silence_threshold(energy_db: np.ndarray, config: AlignConfig) -> float:
  """dB level below which a frame of this span counts as silence (see AlignConfig)."""
  peak = float(energy_db.max())
  floor = float(np.percentile(energy_db, 5))
  return min(
    max(peak - config.silence_db, floor + config.floor_margin_db), peak - config.min_silence_db
  )


def speech_region(energy_db: np.ndarray, threshold: float) -> tuple[int, int]:
  """(first, last + 1) frame above `threshold`; the whole span when none is."""
  loud = np.nonzero(energy_db > threshold)[0]
  if loud.size == 0:
    return 0, len(energy_db)
  return int(loud[0]), int(loud[-1]) + 1


# ----------------------------------------------------------------------------------- espeak-ng


class _EspeakEvent(ctypes.Structure):
  """espeak_EVENT of speak_lib.h."""

  _fields_ = [
    ("type", ctypes.c_int),
    ("unique_identifier", ctypes.c_uint),
    ("text_position", ctypes.c_int),
    ("length", ctypes.c_int),
    ("audio_position", ctypes.c_int),
    ("sample", ctypes.c_int),
    ("user_data", ctypes.c_void_p),
    ("id", ctypes.c_char * 8),
  ]


_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE = 1
_CALLBACK = ctypes.CFUNCTYPE(
  ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)


class Espeak:
  """libespeak-ng in synchronous mode (one instance per process: the library is global state)."""

  def __init__(self):
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
      self._lib = ctypes.CDLL(name)
    except OSError as e:
      raise AlignmentError(
        f"cannot load the espeak-ng library ({name}): install espeak-ng (apt-get install espeak-ng)"
      ) from e
    self.sample_rate = self._lib.espeak_Initialize(
      _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_DONT_EXIT
    )
    if self.sample_rate <= 0:
      raise AlignmentError(f"espeak_Initialize failed ({self.sample_rate})")
    self._chunks: list[np.ndarray] = []
    self._events: list[tuple[int, int, int]] = []
    self._callback = _CALLBACK(self._on_synth)  # kept referenced while the library holds it
    self._lib.espeak_SetSynthCallback(self._callback)
    self._voice: str | None = None
    self._lock = threading.Lock()

  def _on_synth(self, wav, num_samples, events) -> int:
    if num_samples > 0 and wav:
      self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
    k = 0
    while events[k].type != _EVENT_LIST_TERMINATED:
      e = events[k]
      if e.type == _EVENT_WORD:
        self._events.append((e.text_position, e.length, e.sample))
      k += 1
    return 0

  def synthesize(
    self, text: str, voice: str, rate: int
  ) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Speaks `text`; returns (float32 [samples] at self.sample_rate, word events as
    (1-based character position, length in characters, sample))."""
    with self._lock:
      if voice != self._voice:
        if self._lib.espeak_SetVoiceByName(voice.encode("utf-8")) != 0:
          raise AlignmentError(f"espeak-ng has no voice {voice!r} (espeak-ng --voices lists them)")
        self._voice = voice
      self._lib.espeak_SetParameter(_RATE, int(rate), 0)
      self._chunks, self._events = [], []
      data = text.encode("utf-8")
      err = self._lib.espeak_Synth(
        data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
      )
      if err != 0:
        raise AlignmentError(f"espeak_Synth failed ({err}) for {text!r}")
      self._lib.espeak_Synchronize()
      audio = (
        np.concatenate(self._chunks).astype(np.float32) / 32768.0
        if self._chunks
        else np.zeros(0, np.float32)
      )
      return audio, list(self._events)


_ENGINE: dict[str, Espeak] = {}


def espeak_engine() -> Espeak:
  """The process' espeak-ng engine (created on first use)."""
  if "engine" not in _ENGINE:
    _ENGINE["engine"] = Espeak()
  return _ENGINE["engine"]


def _spoken_form(word: str) -> str:
  """What espeak-ng is given for a normalised word: tags `<noise>` are read as `noise`."""
  w = word.strip("<>").replace("_", " ").strip()
  return w or "um"


def synthesize_words(
  words: Sequence[str], voice: str = "en", rate: int = 175, engine: Espeak | None = None
) -> tuple[np.ndarray, np.ndarray]:
  """The words spoken as one sentence by espeak-ng, and where each starts.

  Returns:
    (audio float32 [S] at SAMPLE_RATE, starts int64 [len(words)] sample where each word starts;
    a word with no word event (should not happen) gets the midpoint of its neighbours).
  """
  engine = engine or espeak_engine()
  spoken = [_spoken_form(w) for w in words]
  offsets, pos = [], 1
  for s in spoken:
    offsets.append(pos)
    pos += len(s) + 1
  text = " ".join(spoken)
  audio, events = engine.synthesize(text, voice, rate)
  if audio.size == 0:
    raise AlignmentError(f"espeak-ng produced no audio for {text!r} (voice {voice})")
  starts = np.full(len(words), -1, np.int64)
  for text_pos, _, sample in events:
    k = int(np.searchsorted(offsets, text_pos, side="right")) - 1
    if 0 <= k < len(words) and starts[k] < 0:
      starts[k] = sample
  if engine.sample_rate != SAMPLE_RATE:
    from scipy import signal

    g = math.gcd(engine.sample_rate, SAMPLE_RATE)
    audio = signal.resample_poly(audio, SAMPLE_RATE // g, engine.sample_rate // g)
    starts = np.where(starts >= 0, starts * SAMPLE_RATE // engine.sample_rate, -1)
  known = np.nonzero(starts >= 0)[0]
  if known.size == 0:
    starts = np.linspace(0, len(audio), len(words), endpoint=False).astype(np.int64)
  elif known.size < len(words):
    bounds = np.append(starts, len(audio))
    xs = np.append(known, len(words))
    starts = np.interp(np.arange(len(words)), xs, bounds[xs]).astype(np.int64)
  starts = np.maximum.accumulate(np.clip(starts, 0, len(audio)))
  return audio.astype(np.float32), starts


# ---------------------------------------------------------------------------------- alignment


def _uniform(start: float, end: float, words: Sequence[str]) -> list[wt.WordTiming]:
  n = len(words)
  return [
    wt.WordTiming(start + k * (end - start) / n, start + (k + 1) * (end - start) / n, w)
    for k, w in enumerate(words)
  ]


def silent_runs(energy_db: np.ndarray, threshold: float, lo: int, hi: int) -> list[tuple[int, int]]:
  """Runs (first, last + 1) of frames in [lo, hi) whose energy is at or below `threshold`."""
  silent = np.concatenate([[False], energy_db[lo:hi] <= threshold, [False]])
  edges = np.nonzero(np.diff(silent.astype(np.int8)))[0]
  return [(lo + int(a), lo + int(b)) for a, b in zip(edges[::2], edges[1::2], strict=False)]


def assign_pauses(
  boundaries: Sequence[float], pauses: Sequence[tuple[int, int]], radius: float
) -> list[int | None]:
  """Matches word boundaries to pauses: monotone, each pause used at most once.

  Minimises the sum over boundaries of the distance (frames) from the boundary to its pause
  (0 inside it; only pauses within `radius` are candidates), an unmatched boundary costing
  `radius`. Dynamic programming over (boundary, pause), O(len(boundaries) * len(pauses)).

  Args:
    boundaries: increasing boundary positions (frame units).
    pauses: increasing runs (first, last + 1) of silent frames.
    radius: largest distance of a match.

  Returns:
    per boundary the index of its pause, or None.
  """
  n, m = len(boundaries), len(pauses)

  def dist(k, j):
    a, b = pauses[j]
    return max(0.0, a - boundaries[k], boundaries[k] - (b - 1))

  f = np.full((n + 1, m + 1), np.inf)
  f[0, :] = 0.0
  move = np.zeros((n + 1, m + 1), np.int8)  # 1 pause unused, 2 boundary unmatched, 3 matched
  for k in range(1, n + 1):
    f[k, 0] = f[k - 1, 0] + radius
    move[k, 0] = 2
    for j in range(1, m + 1):
      best, how = f[k, j - 1], 1
      if f[k - 1, j] + radius < best:
        best, how = f[k - 1, j] + radius, 2
      d = dist(k - 1, j - 1)
      if d <= radius and f[k - 1, j - 1] + d < best:
        best, how = f[k - 1, j - 1] + d, 3
      f[k, j], move[k, j] = best, how
  out: list[int | None] = [None] * n
  k, j = n, m
  while k > 0:
    how = move[k, j]
    if how == 1:
      j -= 1
    elif how == 2:
      k -= 1
    else:
      out[k - 1] = j - 1
      k, j = k - 1, j - 1
  return out


def align_sentence(
  audio: np.ndarray,
  sr: int,
  start: float,
  end: float,
  words: Sequence[str],
  config: AlignConfig = AlignConfig(),
  engine: Espeak | None = None,
) -> list[wt.WordTiming]:
  """Word timings of one transcript sentence by TTS + DTW (`align_sentence_tts` without the
  method)."""
  return align_sentence_tts(audio, sr, start, end, words, config, engine)[0]


def align_sentence_tts(
  audio: np.ndarray,
  sr: int,
  start: float,
  end: float,
  words: Sequence[str],
  config: AlignConfig = AlignConfig(),
  engine: Espeak | None = None,
) -> tuple[list[wt.WordTiming], str]:
  """Word timings of one transcript sentence by TTS + DTW, and the method that produced them.

  Args:
    audio: the whole recording, mono float [samples] at `sr` (22 050 Hz expected: the MFCC
      bands and the synthetic reference are at that rate; other rates are resampled here).
    sr: its sample rate.
    start, end: the sentence span in seconds.
    words: the sentence's normalised words (word_timings.tokenize).
    config: AlignConfig.
    engine: espeak-ng engine (default: the process' engine).

  Returns:
    (one WordTiming per word, in order, inside [start, end], non-overlapping;
     'tts_dtw', or 'uniform' when the span is too short to align).
  """
  words = list(words)
  if not words:
    return [], "uniform"
  if sr != SAMPLE_RATE:
    from scipy import signal

    g = math.gcd(int(sr), SAMPLE_RATE)
    audio = signal.resample_poly(np.asarray(audio, np.float64), SAMPLE_RATE // g, int(sr) // g)
    sr = SAMPLE_RATE
  a = max(0, int(round(start * sr)))
  b = min(len(audio), int(round(end * sr)))
  start = a / sr
  end = max(b / sr, start)
  hop = int(round(config.hop_s * sr))
  win = int(round(config.window_s * sr))
  real = np.asarray(audio[a:b], np.float64)
  if len(real) < win * 2:
    return _uniform(start, end, words), "uniform"
  energy = frame_energy_db(real, sr, config)
  thr = silence_threshold(energy, config)
  r0, r1 = speech_region(energy, thr)
  if r1 - r0 < MIN_FRAMES * len(words):
    return _uniform(start, end, words), "uniform"

  synth, synth_starts = synthesize_words(words, config.voice, config.rate, engine)
  s_energy = frame_energy_db(synth, sr, config)
  s0, s1 = speech_region(s_energy, silence_threshold(s_energy, config))
  if s1 - s0 < 2:
    return (_uniform(start + r0 * hop / sr, start + (r1 * hop + win) / sr, words), "uniform")

  real_feat = cmvn(mfcc(real, sr, config)[r0:r1])
  synth_feat = cmvn(mfcc(synth, sr, config)[s0:s1])
  # Euclidean distance between normalised frames: [Ns, Nr].
  sq = (
    (synth_feat**2).sum(1)[:, None]
    + (real_feat**2).sum(1)[None, :]
    - 2.0 * synth_feat @ real_feat.T
  )
  cost = np.sqrt(np.maximum(sq, 0.0))
  band = max(config.band_fraction * max(cost.shape), config.band_min_s / config.hop_s)
  path = dtw_path(cost, band=int(round(band)))

  # Synthetic word k owns the synthetic frames whose centre lies at or after its start sample.
  centres = s0 + np.arange(s1 - s0)
  centre_samples = centres * hop + win / 2.0
  first_frame = np.searchsorted(centre_samples, synth_starts, side="left")  # [n] in trimmed idx
  n_real = r1 - r0
  # Real boundary (in frame-centre units of the trimmed real span) between word k-1 and k.
  bounds = np.zeros(len(words) + 1)
  bounds[0], bounds[-1] = -0.5, n_real - 0.5
  for k in range(1, len(words)):
    f = first_frame[k]
    prev = path[path[:, 0] < f, 1]
    nxt = path[path[:, 0] >= f, 1]
    if prev.size == 0:
      bounds[k] = -0.5
    elif nxt.size == 0:
      bounds[k] = n_real - 0.5
    else:
      bounds[k] = (prev.max() + nxt.min()) / 2.0
  bounds = np.maximum.accumulate(bounds)

  def to_time(frame_pos: float) -> float:
    """Frame-centre coordinate of the trimmed span -> seconds in the recording."""
    return start + ((frame_pos + r0) * hop + win / 2.0) / sr

  ends = [to_time(bounds[k + 1]) for k in range(len(words))]
  begins = [to_time(bounds[k]) for k in range(len(words))]
  # The speech region's own edges: first loud frame's start, last loud frame's end.
  begins[0] = start + (r0 * hop + (win - hop) / 2.0) / sr
  ends[-1] = start + ((r1 - 1) * hop + (win + hop) / 2.0) / sr
  radius = config.refine_s / config.hop_s
  if radius > 0 and len(words) > 1:
    min_len = config.min_pause_s / config.hop_s - 1e-9
    pauses = [p for p in silent_runs(energy, thr, r0 + 1, r1 - 1) if p[1] - p[0] >= min_len]
    matched = assign_pauses([bounds[k] + r0 for k in range(1, len(words))], pauses, radius)
    for k, j in enumerate(matched, start=1):
      if j is None:
        continue
      # Pause frames [a, b): the previous word ends where the first silent frame starts to
      # dominate, the next starts where the first loud frame after it does.
      a, b = pauses[j]
      ends[k - 1] = start + (a * hop + (win - hop) / 2.0) / sr
      begins[k] = start + ((b - 1) * hop + (win + hop) / 2.0) / sr
  out = []
  lo = start
  for k, w in enumerate(words):
    s = min(max(begins[k], lo), end)
    e = min(max(ends[k], s), end)
    if k + 1 < len(words):
      e = min(e, max(begins[k + 1], s))
    out.append(wt.WordTiming(s, e, w))
    lo = e
  return out, "tts_dtw"


def align_sentence_auto(
  audio: np.ndarray,
  sr: int,
  start: float,
  end: float,
  text: str,
  config: AlignConfig = AlignConfig(),
  engine: Espeak | None = None,
) -> tuple[list[wt.WordTiming], str]:
  """Word timings of one transcript sentence by `config.method`, with per-sentence fallback.

  auto: acoustic model (English / a given model) -> TTS + DTW -> uniform; acoustic: acoustic
  model -> uniform; tts_dtw: TTS + DTW -> uniform (its own short-span fallback); uniform.

  Args:
    audio: the whole recording, mono float [samples] at `sr` (SAMPLE_RATE expected).
    start, end: the sentence span in seconds.
    text: the sentence's transcript text (tags such as `<laughter>` included).

  Returns:
    (one WordTiming per word of word_timings.tokenize(text), the method in SENTENCE_METHODS
     that produced them).
  """
  words = wt.tokenize(text)
  if not words:
    return [], "uniform"
  if uses_acoustic(config):
    from data_prep import acoustic_alignment as aa

    try:
      got = aa.align_sentence(audio, sr, start, end, text, acoustic_config(config))
      return got, "acoustic"
    except aa.AcousticAlignmentError as e:
      logging.info("acoustic alignment of %.2f-%.2f s failed (%s); falling back", start, end, e)
  if config.method in ("auto", "tts_dtw"):
    try:
      return align_sentence_tts(audio, sr, start, end, words, config, engine)
    except (AlignmentError, ValueError) as e:
      logging.info("TTS + DTW alignment of %.2f-%.2f s failed (%s); uniform split", start, end, e)
  lo = max(0.0, start)
  return _uniform(lo, max(lo, min(end, len(audio) / sr)), words), "uniform"


def align_recording_methods(
  audio: np.ndarray,
  sr: int,
  transcription_rows: Sequence[tuple[float, float, str]],
  config: AlignConfig = AlignConfig(),
  engine: Espeak | None = None,
) -> tuple[list[wt.WordTiming], list[int], list[tuple[int, str]]]:
  """`align_recording`, plus (transcript row index, method) per aligned sentence."""
  if sr != SAMPLE_RATE:
    from scipy import signal

    g = math.gcd(int(sr), SAMPLE_RATE)
    audio = signal.resample_poly(np.asarray(audio, np.float64), SAMPLE_RATE // g, int(sr) // g)
    sr = SAMPLE_RATE
  timings, sentences, methods = [], [], []
  for row, (start, end, text) in enumerate(transcription_rows):
    got, method = align_sentence_auto(audio, sr, start, end, text, config, engine)
    if not got:
      continue
    timings.extend(got)
    sentences.extend([row] * len(got))
    methods.append((row, method))
  logging.debug("aligned %d words in %d sentences", len(timings), len(methods))
  return timings, sentences, methods


def align_recording(
  audio: np.ndarray,
  sr: int,
  transcription_rows: Sequence[tuple[float, float, str]],
  config: AlignConfig = AlignConfig(),
  engine: Espeak | None = None,
) -> tuple[list[wt.WordTiming], list[int]]:
  """Word timings of a recording from its transcript rows (corpus.read_transcription).

  Returns:
    (timings in transcript order, sentence number (transcript row index) per word) — the
    arguments of word_timings.write_timings_csv.
  """
  timings, sentences, _ = align_recording_methods(audio, sr, transcription_rows, config, engine)
  return timings, sentences


def method_counts(methods: Sequence[tuple[int, str]]) -> dict[str, int]:
  """{method: number of sentences} over SENTENCE_METHODS."""
  return {m: sum(1 for _, x in methods if x == m) for m in SENTENCE_METHODS}


# ------------------------------------------------------------------------------- corpus driver


def output_is_fresh(out_path: str, inputs: Sequence[str]) -> bool:
  """True when `out_path` exists and is at least as new as every existing input file."""
  if not os.path.exists(out_path):
    return False
  newest = max((os.path.getmtime(p) for p in inputs if os.path.exists(p)), default=0.0)
  return os.path.getmtime(out_path) >= newest


def methods_path(out_path: str) -> str:
  """The sidecar `<id>.methods.json` beside a word-timings CSV `<id>.csv`."""
  return os.path.splitext(out_path)[0] + ".methods.json"


def settings_of(config: AlignConfig) -> dict[str, object]:
  """The settings a sidecar records; an output aligned with other settings is redone."""
  return {
    "method": config.method,
    "language": config.language,
    "voice": config.voice,
    "rate": config.rate,
    "acoustic_model": config.acoustic_model,
    "acoustic_dict": config.acoustic_dict,
  }


def read_methods(out_path: str) -> dict[str, object] | None:
  """The sidecar of `out_path` (None when missing or unreadable)."""
  import json

  try:
    with open(methods_path(out_path), encoding="utf-8") as f:
      data = json.load(f)
  except (OSError, ValueError):
    return None
  return data if isinstance(data, dict) else None


def align_recording_files(
  audio_path: str, transcription_path: str, out_path: str, config: AlignConfig = AlignConfig()
) -> dict[str, object]:
  """Reads one recording's audio + transcript, aligns it, writes `out_path` atomically, then
  the sidecar `methods_path(out_path)`: the settings and, per transcript row, the method that
  produced its words ({"settings", "sentences": [{"row", "method"}], "counts"}).

  Returns:
    {'words', 'sentences', 'audio_s', 'methods': {method: sentences}}.

  Raises:
    corpus.CorpusError: naming the file for a missing/malformed audio or transcription file.
  """
  rows = corpus.read_transcription(transcription_path)
  audio = corpus.load_audio(audio_path, SAMPLE_RATE)
  timings, sentences, methods = align_recording_methods(audio, SAMPLE_RATE, rows, config)
  wt.write_timings_csv(out_path, timings, sentences)
  counts = method_counts(methods)
  fileio.write_json(
    methods_path(out_path),
    {
      "settings": settings_of(config),
      "sentences": [{"row": r, "method": m} for r, m in methods],
      "counts": counts,
    },
  )
  return {
    "words": len(timings),
    "sentences": len(set(sentences)),
    "audio_s": len(audio) / SAMPLE_RATE,
    "methods": counts,
  }


def _align_task(args) -> dict[str, object]:
  """Worker body: never raises for a bad recording, reports it instead."""
  rid, audio_path, transcription_path, out_path, config = args
  try:
    rep = align_recording_files(audio_path, transcription_path, out_path, config)
    return {"recording_id": rid, "status": "aligned", **rep}
  except (corpus.CorpusError, AlignmentError, ValueError, OSError) as e:
    logging.error("%s failed: %s", rid, e)
    return {"recording_id": rid, "status": "failed", "error": str(e)}


def check_aligners(config: AlignConfig) -> None:
  """Fails early for a method whose aligner is missing (auto only warns: it falls back).

  Raises:
    AlignmentError: see `align_corpus`.
  """
  if config.method not in METHODS:
    raise AlignmentError(f"unknown method {config.method!r} (one of {', '.join(METHODS)})")
  if config.method == "acoustic" and not uses_acoustic(config):
    raise AlignmentError(
      f"no acoustic model for language {config.language!r}: pocketsphinx ships US English "
      "only (give --acoustic_model, or use --method auto/tts_dtw)"
    )
  if config.method == "uniform":
    return
  if uses_acoustic(config):
    from data_prep import acoustic_alignment as aa

    try:
      aa.decoder_for(acoustic_config(config))
    except aa.AcousticAlignmentError as e:
      if config.method == "acoustic":
        raise AlignmentError(str(e)) from e
      logging.warning("acoustic aligner unavailable (%s): TTS + DTW for every sentence", e)
  if config.method in ("auto", "tts_dtw"):
    try:
      espeak_engine()
    except AlignmentError as e:
      if config.method == "tts_dtw":
        raise
      logging.warning("%s: no TTS + DTW fallback", e)
      return
    synthesize_words(["test"], config.voice)  # an unknown voice is a usage error


def align_corpus(
  corpus_dir: str,
  out_dir: str,
  partitions: Sequence[str] | None = None,
  config: AlignConfig = AlignConfig(),
  num_workers: int = 1,
  force: bool = False,
) -> dict[str, object]:
  """Aligns every recording of a SEWA-layout corpus: `<out_dir>/<id>.csv` (`id;start;end;word`).

  A recording whose output exists and is newer than its audio and transcription is skipped
  (unless `force`); one without a transcription is skipped with a warning; a failing recording
  is reported (its error names the file) and the others are still written.

  Returns:
    {'recordings': [per-recording dicts with status aligned/skipped/no_transcript/failed],
     'failed': [ids], 'ok': bool, 'wall_s': float}.

  Raises:
    corpus.CorpusError: the corpus directory is missing, or has no transcriptions at all.
    AlignmentError: an unknown `config.method`; espeak-ng does not know `config.voice`; the
      method needs a missing aligner (tts_dtw: espeak-ng; acoustic: pocketsphinx or the
      given model).
  """
  t0 = time.time()
  recs = corpus.list_recordings(corpus_dir, partitions)
  if not any(os.path.exists(r.transcription_path) for r in recs):
    raise corpus.CorpusError(
      f"{os.path.join(corpus_dir, 'transcriptions')}: no transcription files for the selected "
      "recordings"
    )
  check_aligners(config)
  os.makedirs(out_dir, exist_ok=True)
  reports: dict[str, dict[str, object]] = {}
  tasks = []
  for rec in recs:
    out_path = os.path.join(out_dir, rec.recording_id + ".csv")
    if not os.path.exists(rec.transcription_path):
      logging.warning(
        "%s: transcription missing; %s not aligned", rec.transcription_path, rec.recording_id
      )
      reports[rec.recording_id] = {"recording_id": rec.recording_id, "status": "no_transcript"}
    elif (
      not force
      and output_is_fresh(out_path, [rec.audio_path, rec.transcription_path])
      and (
        (side := read_methods(out_path)) is not None and side.get("settings") == settings_of(config)
      )
    ):
      reports[rec.recording_id] = {
        "recording_id": rec.recording_id,
        "status": "skipped",
        "methods": side.get("counts", {}),
      }
    else:
      tasks.append((rec.recording_id, rec.audio_path, rec.transcription_path, out_path, config))
  if num_workers <= 1 or len(tasks) <= 1:
    for task in tasks:
      reports[task[0]] = _align_task(task)
  else:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(num_workers, len(tasks))) as pool:
      for rep in pool.imap_unordered(_align_task, tasks):
        reports[rep["recording_id"]] = rep
  ordered = [reports[r.recording_id] for r in recs]
  failed = [r["recording_id"] for r in ordered if r["status"] == "failed"]
  return {"recordings": ordered, "failed": failed, "ok": not failed, "wall_s": time.time() - t0}
