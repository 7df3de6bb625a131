"""A synthetic corpus in the SEWA layout, spoken by espeak-ng, whose labels each live in one view.

    python -m data_prep.synthesize --out DIR --recordings N --seconds S --seed K \
        [--voices en+m1,en+f2,...] [--split 20,10,10] [--text_out FILE --text_sentences M]
    python -m data_prep.synthesize --design podcast ...   # the second design, see
                                                          # data_prep/synthesize_podcast.py

Arguments are checked before any work (exit 2 with a one-line message: 0 recordings, seconds
< 2, a voice espeak-ng does not know, an --out that cannot be a directory, an --out holding
recording files this run would not write). Writing is resumable: every finished recording gets
a record (sha256 of its files) in DIR/.synthesize-progress/; a rerun skips the recordings whose
files still match and regenerates the rest. corpus.json is written last, atomically: a corpus
without it is incomplete.

Label design (also written to DIR/corpus.json and DIR/README.md):
  * arousal a(t): a smooth random curve (Gaussian-smoothed white noise, sigma = `curve_sigma_s`
    seconds, standardised, 0.9*tanh). It is carried ONLY by prosody: every word is spoken with
    espeak-ng rate, pitch, pitch range and a loudness gain chosen from a(t) at the word's start
    (quantised to `prosody_levels` levels). Word choice never looks at a(t).
  * valence v(t): an independent smooth random curve, made exactly uncorrelated with a(t) within
    each recording (Gram-Schmidt before the squashing). It is carried ONLY by word choice: each
    content word is drawn among the `pick_nearest` words of the content vocabulary whose VADER
    valence (scaled to [-1, 1]) is nearest to v(t) at the word's start; function words between
    them are neutral (absent from the lexicon). Prosody never looks at v(t).
  * liking l(t) = (a(t) + v(t)) / 2 exactly: both views are needed to predict it.
Labels are the curves sampled at the frame centres (k + 0.5) * 0.1 s, written with time k * 0.1.
Prosody for arousal level q in [-1, 1]: rate 170 + 70 q words/min, pitch 50 + 35 q (espeak 0-99),
pitch range 100 + 80 q %, gain 9 q dB (peak-safe base level 0.3 of full scale), gap between
words 0.05 - 0.04 q s. Sentences (2-4 content words, each after 0-2 function words) are separated
by pauses of 0.5-1.2 s; turns and transcription rows are the sentence spans; word_timings/ holds
the true word spans of the trimmed espeak-ng output.
Speakers are espeak-ng voices; partitions 50/25/25 % of recordings and of voices (disjoint).
The output is byte-for-byte identical for the same arguments (no timestamps, per-recording seeds).
"""

import dataclasses
import functools
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import subprocess
import time
import wave
from collections.abc import Callable, Sequence

import numpy as np
from absl import logging

from data_prep import lexicon
from emotion_tf import SAMPLE_RATE
from emotion_tf.data import word_timings as wt
from emotion_tf.util import cli, fileio

DEFAULT_VOICES = (
  "en+m1",
  "en+f2",
  "en-us+m3",
  "en+f4",  # train
  "en-gb-scotland+m2",
  "en-us+f3",  # devel
  "en+m5",
  "en+f1",
)  # test
FUNCTION_PREFIXES = (
  (),
  ("the",),
  ("a",),
  ("so",),
  ("and",),
  ("it", "was"),
  ("this", "is"),
  ("we", "felt"),
  ("they", "seemed"),
  ("i", "think"),
  ("and", "the"),
  ("a", "very"),
  ("that", "was"),
  ("you", "are"),
  ("then",),
  ("all", "the"),
  ("just",),
  ("my",),
  ("our",),
  ("in", "the"),
  ("with", "the"),
  ("about",),
  ("there", "was"),
  ("he", "said"),
  ("she", "is"),
)
FRAME_SECONDS = 0.1


@dataclasses.dataclass(frozen=True)
class SynthConfig:
  """Generation settings (all recorded in corpus.json)."""

  content_words: int = 240  # content vocabulary size (VADER words spread over valence)
  valence_bins: int = 18  # content words are balanced over this many bins of [-0.9, 0.9]
  pick_nearest: int = 5  # a content word is drawn among the k nearest in valence
  curve_sigma_s: float = 2.5  # smoothing of the label curves (seconds)
  prosody_levels: int = 9  # arousal quantisation for espeak-ng parameters
  gain_db: float = 9.0  # loudness gain at |arousal| = 1
  base_level: float = 0.3  # espeak-ng full scale is multiplied by this before the gain
  noise_dbfs: float = -60.0  # white noise floor of the recording
  pause_s: tuple[float, float] = (0.5, 1.2)
  lead_in_s: tuple[float, float] = (0.2, 0.6)

  def content_picker(self, partition: str) -> Callable[[np.random.Generator, float], str]:
    """(rng, target valence) -> content word of `partition` ('train', 'devel', 'test', or
    'text' for the Word2Vec text). This design: the same vocabulary everywhere, one draw
    among the `pick_nearest` words nearest in valence (`pick_content_word`). Other designs
    (data_prep/synthesize_zipf.py) draw from partition-specific vocabularies."""
    del partition
    vocab = content_vocabulary(self)
    vals = np.array([v for _, v in vocab])
    return lambda rng, target: vocab[pick_content_word(rng, vals, target, self.pick_nearest)][0]


@dataclasses.dataclass(frozen=True)
class RoomSynthConfig(SynthConfig):
  """SynthConfig plus room acoustics (`apply_room`), applied to each recording before it is
  written (options of `data_prep.synthesize`; without them SynthConfig and its bytes are
  unchanged). Word timings stay the dry word spans.

  Attributes:
    rt60_s: reverberation time of the synthetic impulse response (0: none).
    drr_db: direct-to-reverberant energy ratio of that response.
    snr_db: white noise added at this ratio to the speech power of the word spans (None: none).
    out_rate: sample rate of the written wav (resample_poly from 22 050 Hz).
    channels: channels of the written wav (the same signal, channel c scaled by -2c dB).
    room_partitions: partitions whose recordings are put in the room (reverberation and
      noise); the others stay dry (rate and channels apply to all). E.g. ('test',): Test in
      an unseen room, Train and Devel dry.
  """

  rt60_s: float = 0.0
  drr_db: float = 0.0
  snr_db: float | None = None
  out_rate: int = SAMPLE_RATE
  channels: int = 1
  room_partitions: tuple[str, ...] = ("train", "devel", "test")


def room_impulse_response(
  rng: np.random.Generator, rt60_s: float, drr_db: float, sr: int = SAMPLE_RATE
) -> np.ndarray:
  """[L] impulse response: a unit direct path, then (after 2.5 ms) Gaussian noise decaying by
  60 dB over `rt60_s` (L = 1.2 rt60), scaled to `drr_db` below the direct path's energy."""
  n = max(1, int(round(1.2 * rt60_s * sr)))
  t = np.arange(n) / sr
  tail = rng.standard_normal(n) * 10 ** (-3.0 * t / rt60_s)
  tail[: int(0.0025 * sr)] = 0.0
  tail *= np.sqrt(10 ** (-drr_db / 10) / max(float(np.sum(tail**2)), 1e-12))
  tail[0] = 1.0
  return tail


def apply_room(
  audio: np.ndarray,
  timings: Sequence[wt.WordTiming],
  config: RoomSynthConfig,
  rng: np.random.Generator,
) -> np.ndarray:
  """Reverberation (`room_impulse_response`, same length out), then white noise at
  `config.snr_db` against the mean power of the word spans. audio: [samples] at 22 050 Hz."""
  out = np.asarray(audio, np.float64)
  if config.rt60_s > 0:
    from scipy import signal

    h = room_impulse_response(rng, config.rt60_s, config.drr_db)
    out = signal.fftconvolve(out, h)[: len(out)]
  if config.snr_db is not None and timings:
    spans = np.concatenate(
      [out[int(t.start * SAMPLE_RATE) : int(t.end * SAMPLE_RATE)] for t in timings]
    )
    power = float(np.mean(spans**2)) if spans.size else 0.0
    out = out + rng.standard_normal(len(out)) * np.sqrt(power * 10 ** (-config.snr_db / 10))
  return out


def write_room_wav(path: str, audio: np.ndarray, config: RoomSynthConfig) -> None:
  """16-bit wav of [samples] at 22 050 Hz, resampled to config.out_rate, config.channels
  channels (channel c scaled by -2c dB); peaks above full scale are scaled down, not clipped."""
  x = np.asarray(audio, np.float64)
  if config.out_rate != SAMPLE_RATE:
    from scipy import signal

    g = int(np.gcd(config.out_rate, SAMPLE_RATE))
    x = signal.resample_poly(x, config.out_rate // g, SAMPLE_RATE // g)
  x = np.stack([x * 10 ** (-2.0 * c / 20) for c in range(config.channels)], axis=1)
  x /= max(1.0, float(np.abs(x).max()) / 0.99)
  pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2").tobytes()
  buf = io.BytesIO()
  with wave.open(buf, "wb") as w:
    w.setnchannels(config.channels)
    w.setsampwidth(2)
    w.setframerate(config.out_rate)
    w.writeframes(pcm)
  fileio.atomic_write(path, buf.getvalue())


# ----------------------------------------------------------------------------------- vocabulary


@functools.lru_cache(maxsize=8)
def content_vocabulary(config: SynthConfig = SynthConfig()) -> list[tuple[str, float]]:
  """[(word, valence)] sorted by valence: plain VADER words (4-9 letters) balanced over
  `valence_bins` bins of [-0.9, 0.9], within a bin the words with the lowest rater std first."""
  entries = lexicon.load_valence_entries()
  cands = [
    (w, v, s)
    for w, (v, s) in entries.items()
    if lexicon.is_plain_word(w) and 4 <= len(w) <= 9 and abs(v) <= 0.9
  ]
  return pick_across_valence_bins(cands, 0.9, config.valence_bins, config.content_words)


def pick_across_valence_bins(
  cands: Sequence[tuple[str, float, float]], max_abs: float, num_bins: int, count: int
) -> list[tuple[str, float]]:
  """`count` (word, valence) of `cands` (word, valence, rater std) spread over `num_bins`
  equal valence bins of [-max_abs, max_abs]: round-robin over the bins, within a bin the
  lowest rater std first; sorted by valence."""
  edges = np.linspace(-max_abs, max_abs, num_bins + 1)
  bins: list[list[tuple[str, float, float]]] = [[] for _ in range(num_bins)]
  for w, v, s in cands:
    b = min(int(np.searchsorted(edges, v, side="right")) - 1, num_bins - 1)
    bins[b].append((w, v, s))
  for b in bins:
    b.sort(key=lambda x: (x[2], x[0]))
  chosen: list[tuple[str, float]] = []
  depth = 0
  while len(chosen) < count and any(len(b) > depth for b in bins):
    for b in bins:
      if len(b) > depth and len(chosen) < count:
        chosen.append((b[depth][0], b[depth][1]))
    depth += 1
  chosen.sort(key=lambda x: (x[1], x[0]))
  return chosen


def function_words() -> list[str]:
  """The neutral function words used between content words (none is in the VADER lexicon)."""
  words = sorted({w for p in FUNCTION_PREFIXES for w in p})
  lex = lexicon.load_valence_lexicon()
  bad = [w for w in words if w in lex]
  if bad:
    raise ValueError(f"function words {bad} carry VADER valence")
  return words


# -------------------------------------------------------------------------------------- curves


def smooth_curve(rng: np.random.Generator, num: int, sigma_frames: float) -> np.ndarray:
  """Standardised Gaussian-smoothed white noise, float64 [num] (mean 0, std 1)."""
  pad = int(4 * sigma_frames) + 1
  noise = rng.standard_normal(num + 2 * pad)
  k = np.arange(-pad, pad + 1)
  kernel = np.exp(-0.5 * (k / sigma_frames) ** 2)
  x = np.convolve(noise, kernel / kernel.sum(), mode="valid")[:num]
  x = x - x.mean()
  return x / (x.std() + 1e-12)


def label_curves(
  rng: np.random.Generator, num_frames: int, config: SynthConfig = SynthConfig()
) -> np.ndarray:
  """Arousal, valence, liking at frame centres, float64 [num_frames, 3] in (-0.9, 0.9).

  Valence is orthogonalised against arousal (zero sample correlation of the pre-squash curves);
  liking = (arousal + valence) / 2.
  """
  sigma = config.curve_sigma_s / FRAME_SECONDS
  xa = smooth_curve(rng, num_frames, sigma)
  xv = smooth_curve(rng, num_frames, sigma)
  if num_frames > 2:
    xv = xv - (xv @ xa) / (xa @ xa) * xa
    xv = (xv - xv.mean()) / (xv.std() + 1e-12)
  a = 0.9 * np.tanh(0.9 * xa)
  v = 0.9 * np.tanh(0.9 * xv)
  return np.stack([a, v, (a + v) / 2.0], axis=1)


def _at(curve: np.ndarray, t: float) -> float:
  """Curve sampled at frame centres, linearly interpolated at time t (seconds)."""
  pos = min(max(t / FRAME_SECONDS - 0.5, 0.0), len(curve) - 1.0)
  i = min(int(pos), len(curve) - 2) if len(curve) > 1 else 0
  if len(curve) == 1:
    return float(curve[0])
  w = pos - i
  return float((1.0 - w) * curve[i] + w * curve[i + 1])


# ------------------------------------------------------------------------------------ sentences


def sentence_template(rng: np.random.Generator) -> list[str | None]:
  """A sentence as slots: function words (str) and content-word slots (None); 2-4 content words."""
  slots: list[str | None] = []
  for _ in range(int(rng.integers(2, 5))):
    slots.extend(FUNCTION_PREFIXES[int(rng.integers(len(FUNCTION_PREFIXES)))])
    slots.append(None)
  return slots


def pick_content_word(
  rng: np.random.Generator, vocab_valence: np.ndarray, target: float, k: int
) -> int:
  """Index of a content word drawn uniformly among the k whose valence is nearest `target`
  (all words tied with the k-th nearest included, so tied words are equally likely)."""
  dist = np.abs(vocab_valence - target)
  kth = np.partition(dist, min(k, len(dist)) - 1)[min(k, len(dist)) - 1]
  candidates = np.flatnonzero(dist <= kth + 1e-9)
  return int(candidates[int(rng.integers(len(candidates)))])


def generate_sentences(
  num_sentences: int, seed: int, config: SynthConfig = SynthConfig()
) -> list[str]:
  """`num_sentences` sentences from the corpus generator (a Word2Vec training text).

  The same templates, vocabulary and valence-matched word choice as the spoken corpus, with a
  smooth valence curve over virtual time (0.35 s per word, 0.8 s per pause), so words of similar
  valence co-occur as they do in the recordings.
  """
  pick = config.content_picker("text")
  rng = np.random.default_rng([seed, 7919])
  sentences: list[str] = []
  block = 2000  # sentences per curve segment
  while len(sentences) < num_sentences:
    n = min(block, num_sentences - len(sentences))
    frames = int(n * 7.0 / FRAME_SECONDS)
    curve = label_curves(rng, frames, config)[:, 1]
    t = 0.3
    for _ in range(n):
      words = []
      for slot in sentence_template(rng):
        if slot is None:
          slot = pick(rng, _at(curve, t))
        words.append(slot)
        t += 0.35
      sentences.append(" ".join(words))
      t += 0.8
  return sentences


# ------------------------------------------------------------------------------------- espeak-ng


def prosody(level: float, gain_db: float = SynthConfig.gain_db) -> dict[str, float]:
  """espeak-ng parameters for arousal level q in [-1, 1] (see the module docstring): rate
  (words/min), pitch (0-99), pitch range (%), loudness gain (dB) and the gap after the word (s)."""
  return {
    "rate": int(round(170 + 70 * level)),
    "pitch": int(round(50 + 35 * level)),
    "range": int(round(100 + 80 * level)),
    "gain_db": gain_db * level,
    "gap_s": 0.05 - 0.04 * level,
  }


def level_of(arousal: float, levels: int) -> float:
  """Arousal quantised to `levels` equally spaced values in [-1, 1]."""
  i = int(round((np.clip(arousal, -1, 1) + 1) / 2 * (levels - 1)))
  return -1.0 + 2.0 * i / (levels - 1)


def espeak_word(word: str, voice: str, level: float) -> np.ndarray:
  """One word from espeak-ng at arousal level `level`, int16 PCM decoded to float32 [samples]
  in [-1, 1] at 22 050 Hz, leading/trailing silence trimmed (5 ms margin kept)."""
  p = prosody(level)
  return espeak_synth(word, voice, p["rate"], p["pitch"], p["range"])


def _espeak_wav(text: str, voice: str, args: Sequence[str] = ()) -> bytes:
  """Raw `espeak-ng --stdout` wav bytes of `text` (SSML when args hold -m)."""
  cmd = ["espeak-ng", "-v", voice, *args, "--stdout", text]
  try:
    res = subprocess.run(cmd, capture_output=True, check=True, timeout=30)
  except FileNotFoundError as e:
    raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)") from e
  except subprocess.CalledProcessError as e:
    raise RuntimeError(f"espeak-ng failed for {text!r} voice {voice}: {e.stderr[-300:]!r}") from e
  return res.stdout


def espeak_synth(word: str, voice: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
  """One word from espeak-ng with explicit rate (words/min), pitch (0-99) and pitch range (%),
  int16 PCM decoded to float32 [samples] in [-1, 1] at 22 050 Hz, leading/trailing silence
  trimmed (5 ms margin kept). A voice `flite:<name>` is spoken by flite instead (`flite_synth`:
  the same parameters mapped to flite's duration stretch and F0 target)."""
  if voice.startswith(FLITE_PREFIX):
    return flite_synth(word, voice[len(FLITE_PREFIX) :], rate, pitch, pitch_range)
  ssml = f'<speak><prosody range="{pitch_range}%">{word}</prosody></speak>'
  data = _espeak_wav(ssml, voice, ["-m", "-s", str(rate), "-p", str(pitch), "-a", "100"])
  idx = data.find(b"data")
  if idx < 0:
    raise RuntimeError(f"espeak-ng returned no wav data for {word!r} voice {voice}")
  pcm = data[idx + 8 :]
  x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
  return _trim_word(x, word, voice)


def _trim_word(x: np.ndarray, word: str, voice: str) -> np.ndarray:
  """float32 [samples] at 22 050 Hz without leading/trailing silence (5 ms margin kept)."""
  loud = np.nonzero(np.abs(x) > 0.02 * max(float(np.abs(x).max()), 1e-6))[0]
  if loud.size == 0:
    raise RuntimeError(f"espeak-ng produced silence for {word!r} voice {voice}")
  margin = int(0.005 * SAMPLE_RATE)
  return x[max(0, loud[0] - margin) : loud[-1] + 1 + margin]


# ------------------------------------------------------------------------------------------ flite

FLITE_PREFIX = "flite:"
# Mean F0 (Hz) of flite's voices at espeak-ng pitch 50; pitch p scales it by 2 ** ((p - 50) / 100).
FLITE_F0 = {
  "slt": 170.0,
  "kal": 100.0,
  "kal16": 100.0,
  "awb": 110.0,
  "awb_time": 110.0,
  "rms": 100.0,
}
FLITE_VOICES = ("flite:slt", "flite:kal16", "flite:rms", "flite:awb")  # 2 train, devel, test


def flite_voices() -> list[str]:
  """Voice names `flite -lv` lists ([] when flite is not installed)."""
  try:
    res = subprocess.run(["flite", "-lv"], capture_output=True, check=True, timeout=30)
  except (OSError, subprocess.SubprocessError):
    return []
  text = res.stdout.decode("utf-8", "replace")
  return text.split(":", 1)[-1].split()


def flite_synth(word: str, name: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
  """One word from flite voice `name` (`flite -voice NAME -t WORD -o FILE`): espeak-ng's rate
  (words/min, 175 neutral) becomes `duration_stretch` 175 / rate, pitch (0-99) the F0 target
  FLITE_F0[name] * 2 ** ((pitch - 50) / 100), pitch range (%) the F0 standard deviation
  (12 % of the mean at 100 %). Returns float32 [samples] at 22 050 Hz, silence trimmed."""
  import tempfile

  f0 = FLITE_F0.get(name, 110.0) * 2.0 ** ((pitch - 50) / 100.0)
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "w.wav")
    cmd = [
      "flite",
      "-voice",
      name,
      "--setf",
      f"duration_stretch={175.0 / rate:.4f}",
      "--setf",
      f"int_f0_target_mean={f0:.2f}",
      "--setf",
      f"int_f0_target_stddev={0.12 * f0 * pitch_range / 100.0:.2f}",
      "-t",
      word,
      "-o",
      path,
    ]
    try:
      subprocess.run(cmd, capture_output=True, check=True, timeout=30)
      with wave.open(path, "rb") as w:
        rate_in, width = w.getframerate(), w.getsampwidth()
        pcm = w.readframes(w.getnframes())
    except FileNotFoundError as e:
      raise RuntimeError("flite is not installed (apt-get install flite)") from e
    except (OSError, EOFError, wave.Error, subprocess.SubprocessError) as e:
      raise RuntimeError(f"flite failed for {word!r} voice {name}: {e}") from e
  if width != 2:
    raise RuntimeError(f"flite wrote {8 * width}-bit audio for {word!r} voice {name}")
  x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
  if rate_in != SAMPLE_RATE and x.size:
    from scipy import signal

    g = np.gcd(rate_in, SAMPLE_RATE)
    x = signal.resample_poly(x, SAMPLE_RATE // g, rate_in // g).astype(np.float32)
  return _trim_word(x, word, FLITE_PREFIX + name)


def unknown_voices(voices: Sequence[str]) -> list[str]:
  """The voices of `voices` that espeak-ng (or flite, for `flite:<name>`) cannot speak, asking
  espeak-ng once per voice.

  A voice `base+variant` is unknown when `base` fails, or when its output equals the plain
  `base` output (espeak-ng silently ignores an unknown variant).
  """
  bad: list[str] = []
  plain: dict[str, bytes | None] = {}
  flite = [v for v in dict.fromkeys(voices) if v.startswith(FLITE_PREFIX)]
  if flite:
    known = set(flite_voices())
    bad += [v for v in flite if v[len(FLITE_PREFIX) :] not in known]
  for voice in dict.fromkeys(v for v in voices if not v.startswith(FLITE_PREFIX)):
    base, _, variant = voice.partition("+")
    for v in [base, voice] if variant else [voice]:
      if v not in plain:
        try:
          data = _espeak_wav("hello", v)
          plain[v] = data if data.find(b"data") >= 0 and len(data) > 1000 else None
        except RuntimeError:
          plain[v] = None
    if plain[voice] is None or (variant and plain[voice] == plain[base]):
      bad.append(voice)
  return bad


# --------------------------------------------------------------------------------- one recording


@dataclasses.dataclass(frozen=True)
class RecordingSpec:
  recording_id: str
  partition: str
  voice: str
  index: int


def _write_wav(path: str, audio: np.ndarray) -> None:
  pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2").tobytes()
  buf = io.BytesIO()
  with wave.open(buf, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(SAMPLE_RATE)
    w.writeframes(pcm)
  fileio.atomic_write(path, buf.getvalue())


def _label_lines(rid: str, curves: np.ndarray) -> str:
  """Label rows `rid;time;arousal;valence;liking` of curves [F, 3], row k at time k * 0.1 s."""
  return "".join(
    f"{rid};{k * FRAME_SECONDS:.1f};{a:.6f};{v:.6f};{l:.6f}\n" for k, (a, v, l) in enumerate(curves)
  )


def synthesize_recording(
  spec: RecordingSpec, out_dir: str, seconds: float, seed: int, config: SynthConfig, cache: dict
) -> dict[str, object]:
  """Generates and writes one recording's audio, labels, turns, transcription, word timings.

  Returns a summary dict (id, words, sentences, seconds, espeak calls).
  """
  rng = np.random.default_rng([seed, spec.index, 1])
  pick = config.content_picker(spec.partition)
  num_frames = int(round(seconds / FRAME_SECONDS))
  num_samples = num_frames * int(round(FRAME_SECONDS * SAMPLE_RATE))
  curves = label_curves(rng, num_frames, config)
  arousal, valence = curves[:, 0], curves[:, 1]
  noise = rng.standard_normal(num_samples) * 10 ** (config.noise_dbfs / 20)
  audio = np.zeros(num_samples, np.float64)
  timings: list[wt.WordTiming] = []
  sentence_of: list[int] = []
  sentences: list[tuple[float, float, list[str]]] = []
  calls = 0
  t = float(rng.uniform(*config.lead_in_s))
  end_limit = seconds - 0.15
  while t < end_limit - 0.5:
    slots = sentence_template(rng)
    words: list[str] = []
    for slot in slots:
      word = slot if slot is not None else pick(rng, _at(valence, t))
      level = level_of(_at(arousal, t), config.prosody_levels)
      key = (spec.voice, word, level)
      if key not in cache:
        cache[key] = espeak_word(word, spec.voice, level)
        calls += 1
      p = prosody(level, config.gain_db)
      seg = cache[key] * config.base_level * 10 ** (p["gain_db"] / 20)
      start = int(round(t * SAMPLE_RATE))
      if (start + len(seg)) / SAMPLE_RATE > end_limit:
        break
      audio[start : start + len(seg)] += seg
      w_end = (start + len(seg)) / SAMPLE_RATE
      timings.append(wt.WordTiming(start / SAMPLE_RATE, w_end, word))
      sentence_of.append(len(sentences))
      words.append(word)
      t = w_end + p["gap_s"]
    if not words:
      break
    first = len(timings) - len(words)
    sentences.append((timings[first].start, timings[-1].end, words))
    t = timings[-1].end + float(rng.uniform(*config.pause_s))
  audio += noise
  rid = spec.recording_id
  if isinstance(config, RoomSynthConfig):
    if spec.partition.lower() in config.room_partitions:
      audio = apply_room(audio, timings, config, np.random.default_rng([seed, spec.index, 2]))
    write_room_wav(os.path.join(out_dir, "audio", rid + ".wav"), audio, config)
  else:
    _write_wav(os.path.join(out_dir, "audio", rid + ".wav"), audio)
  wt.atomic_write_text(os.path.join(out_dir, "labels", rid + ".csv"), _label_lines(rid, curves))
  wt.atomic_write_text(
    os.path.join(out_dir, "turns", rid + ".csv"),
    "".join(f"{s:.4f};{e:.4f}\n" for s, e, _ in sentences),
  )
  wt.atomic_write_text(
    os.path.join(out_dir, "transcriptions", rid + ".csv"),
    "".join(f"{s:.4f};{e:.4f};'{' '.join(ws)}'\n" for s, e, ws in sentences),
  )
  wt.write_timings_csv(os.path.join(out_dir, "word_timings", rid + ".csv"), timings, sentence_of)
  return {
    "recording_id": rid,
    "partition": spec.partition,
    "voice": spec.voice,
    "seconds": num_samples / SAMPLE_RATE,
    "sentences": len(sentences),
    "words": len(timings),
    "espeak_calls": calls,
  }


# -------------------------------------------------------------------------------------- corpus


def split_counts(n: int) -> tuple[int, int, int]:
  """Recordings per partition, 50/25/25 % (train gets the rounding; each non-empty when n >= 3)."""
  if n < 3:
    return (n, 0, 0)
  devel = max(1, int(round(n * 0.25)))
  test = max(1, int(round(n * 0.25)))
  return (n - devel - test, devel, test)


def plan_recordings(
  num_recordings: int, voices: Sequence[str], split: Sequence[int] | None = None
) -> list[RecordingSpec]:
  """Ids, partitions and voices: voices split 50/25/25 % (disjoint), round-robin within a partition.

  `split` = (train, devel, test) recording counts overrides the 50/25/25 % split of
  `num_recordings`.
  """
  counts = tuple(split) if split is not None else split_counts(num_recordings)
  num_recordings = sum(counts)
  nv = len(voices)
  if len(set(voices)) != nv:
    raise ValueError(f"voices must be distinct, got {list(voices)}")
  if num_recordings >= 3 and nv < 3:
    raise ValueError(f"need at least 3 voices for disjoint train/devel/test speakers, got {nv}")
  v_dev = max(1, int(round(nv * 0.25))) if nv >= 3 else 0
  v_test = max(1, int(round(nv * 0.25))) if nv >= 3 else 0
  groups = {
    "train": list(voices[: nv - v_dev - v_test]),
    "devel": list(voices[nv - v_dev - v_test : nv - v_test]),
    "test": list(voices[nv - v_test :]),
  }
  for part, n in zip(("train", "devel", "test"), counts, strict=False):
    if n and not groups[part]:
      raise ValueError(f"{n} {part} recordings but no {part} voice ({nv} voices)")
  specs, index = [], 0
  for (part, prefix), n in zip(
    (("train", "Train"), ("devel", "Devel"), ("test", "Test")), counts, strict=False
  ):
    for i in range(n):
      specs.append(
        RecordingSpec(f"{prefix}_{i + 1:02d}", part, groups[part][i % len(groups[part])], index)
      )
      index += 1
  return specs


SEWA_FILES = (
  ("audio", ".wav"),
  ("labels", ".csv"),
  ("turns", ".csv"),
  ("transcriptions", ".csv"),
  ("word_timings", ".csv"),
)
# Folders whose files belong to recordings; files there that a run would not write are refused.
RECORDING_DIRS = (
  "audio",
  "labels",
  "turns",
  "transcriptions",
  "word_timings",
  os.path.join("truth", "word_timings"),
  os.path.join("truth", "labels"),
  os.path.join("truth", "partner_word_timings"),
)
PROGRESS_DIR = ".synthesize-progress"  # per-recording resume records; removed when complete


def sewa_files(recording_id: str) -> list[str]:
  """Paths (relative to the corpus root) that `synthesize_recording` writes for one recording."""
  return [os.path.join(sub, recording_id + ext) for sub, ext in SEWA_FILES]


def recording_key(
  design: str, spec: RecordingSpec, seconds: float, seed: int, config: object
) -> str:
  """SHA-256 of everything that determines a recording's bytes (its resume key)."""
  doc = {
    "design": design,
    "spec": dataclasses.asdict(spec),
    "seconds": float(seconds),
    "seed": int(seed),
    "config": dataclasses.asdict(config),
  }
  return hashlib.sha256(json.dumps(doc, sort_keys=True).encode("utf-8")).hexdigest()


def _verified_summary(
  out_dir: str, record: dict | None, key: str, files: Sequence[str]
) -> dict[str, object] | None:
  """The stored summary when `record` matches `key` and every file still hashes as recorded."""
  if not record or record.get("key") != key or sorted(record.get("files", {})) != sorted(files):
    return None
  for rel, digest in record["files"].items():
    path = os.path.join(out_dir, rel)
    if not os.path.isfile(path) or fileio.file_sha256(path) != digest:
      return None
  return dict(record["summary"])


def _worker(args) -> list[dict[str, object]]:
  """Synthesises (or verifies and skips) a group of recordings sharing one espeak-ng cache.

  Returns per-recording summaries, each with `espeak_calls`, `resumed` and `resume` (the record
  written to the progress folder: key, file sha256s, summary).
  """
  design, record_fn, files_fn, jobs, out_dir, seconds, seed, config = args
  cache: dict = {}
  out = []
  for spec, prior in jobs:
    key = recording_key(design, spec, seconds, seed, config)
    files = files_fn(spec.recording_id)
    summary = _verified_summary(out_dir, prior, key, files)
    if summary is not None:
      out.append(dict(summary, espeak_calls=0, resumed=True, resume=prior))
      continue
    summary = record_fn(spec, out_dir, seconds, seed, config, cache)
    calls = summary.pop("espeak_calls")
    record = {
      "key": key,
      "summary": summary,
      "files": {rel: fileio.file_sha256(os.path.join(out_dir, rel)) for rel in files},
    }
    fileio.atomic_write_text(
      os.path.join(out_dir, PROGRESS_DIR, spec.recording_id + ".json"),
      json.dumps(record, sort_keys=True) + "\n",
    )
    out.append(dict(summary, espeak_calls=calls, resumed=False, resume=record))
  return out


def _prior_records(out_dir: str) -> dict[str, dict]:
  """Resume records of an earlier run: the progress folder, and `resume` in corpus.json."""
  records: dict[str, dict] = {}
  meta_path = os.path.join(out_dir, "corpus.json")
  try:
    with open(meta_path, encoding="utf-8") as f:
      records.update(json.load(f).get("resume", {}))
  except (OSError, ValueError, AttributeError):
    pass
  prog = os.path.join(out_dir, PROGRESS_DIR)
  if os.path.isdir(prog):
    for name in sorted(os.listdir(prog)):
      if name.endswith(".json") and not name.startswith("."):
        try:
          with open(os.path.join(prog, name), encoding="utf-8") as f:
            records[name[:-5]] = json.load(f)
        except (OSError, ValueError):
          pass
  return records


def run_recordings(
  design: str,
  record_fn: Callable,
  files_fn: Callable[[str], list[str]],
  specs: Sequence[RecordingSpec],
  out_dir: str,
  seconds: float,
  seed: int,
  config: object,
  num_workers: int,
) -> list[dict[str, object]]:
  """Writes every recording of `specs` resumably; returns their summaries sorted by id.

  A recording whose resume record (progress folder or corpus.json) has the same key and whose
  files still hash as recorded is skipped; the others are (re)generated and get a new record.
  corpus.json is removed first: until `finish_corpus` writes it again the corpus is incomplete.
  `record_fn(spec, out_dir, seconds, seed, config, cache)` must be a module-level function
  (worker processes are spawned) returning a summary dict with `espeak_calls`.
  """
  prior = _prior_records(out_dir)
  meta_path = os.path.join(out_dir, "corpus.json")
  if os.path.exists(meta_path):
    os.remove(meta_path)
  by_voice: dict[str, list[RecordingSpec]] = {}
  for s in specs:
    by_voice.setdefault(s.voice, []).append(s)
  tasks = [
    (
      design,
      record_fn,
      files_fn,
      [(s, prior.get(s.recording_id)) for s in group],
      out_dir,
      seconds,
      seed,
      config,
    )
    for group in sorted(by_voice.values(), key=len, reverse=True)
  ]
  results: list[dict[str, object]] = []
  if num_workers <= 1 or len(tasks) == 1:
    for task in tasks:
      results.extend(_worker(task))
  else:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(num_workers, len(tasks))) as pool:
      for res in pool.imap_unordered(_worker, tasks):
        results.extend(res)
        logging.info("synthesised %d/%d recordings", len(results), len(specs))
  results.sort(key=lambda r: r["recording_id"])
  resumed = sum(bool(r["resumed"]) for r in results)
  if resumed:
    logging.info(
      "%s: %d of %d recordings were already complete (verified by sha256), skipped",
      out_dir,
      resumed,
      len(results),
    )
  return results


def finish_corpus(out_dir: str, meta: dict[str, object], readme: str) -> None:
  """Writes README.md, then corpus.json atomically (last: its presence marks a complete
  corpus), then removes the progress folder."""
  wt.atomic_write_text(os.path.join(out_dir, "README.md"), readme)
  wt.atomic_write_text(
    os.path.join(out_dir, "corpus.json"), json.dumps(meta, indent=1, sort_keys=True) + "\n"
  )
  shutil.rmtree(os.path.join(out_dir, PROGRESS_DIR), ignore_errors=True)


# ---------------------------------------------------------------------------------- validation


def check_output_dir(path: str, flag: str = "--out") -> None:
  """Raises cli.InputError unless directory `path` exists or can be created and written."""
  p = os.path.abspath(path)
  if os.path.exists(p) and not os.path.isdir(p):
    raise cli.InputError(f"{path}: {flag} exists and is not a directory")
  anc = p
  while not os.path.exists(anc):
    anc = os.path.dirname(anc)
  if not os.path.isdir(anc):
    raise cli.InputError(f"{path}: cannot create {flag}: {anc} is a regular file, not a directory")
  if not os.access(anc, os.W_OK | os.X_OK):
    raise cli.InputError(f"{path}: cannot write {flag} under {anc} (permission denied)")


def check_output_file(path: str, flag: str) -> None:
  """Raises cli.InputError unless file `path` can be (over)written."""
  if os.path.isdir(path):
    raise cli.InputError(f"{path}: {flag} is a directory, expected a file path")
  anc = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(anc):
    anc = os.path.dirname(anc)
  if not os.path.isdir(anc):
    raise cli.InputError(f"{path}: cannot write {flag}: {anc} is a regular file, not a directory")
  if not os.access(anc, os.W_OK | os.X_OK):
    raise cli.InputError(f"{path}: cannot write {flag} under {anc} (permission denied)")


def validate_request(
  out_dir: str,
  num_recordings: int,
  seconds: float,
  voices: Sequence[str],
  num_workers: int,
  split: Sequence[int] | None,
  files_fn: Callable[[str], list[str]],
) -> list[RecordingSpec]:
  """Checks a corpus request before any work; returns the recording plan.

  Raises:
    cli.InputError: a one-line message for 0 recordings, a bad --split, seconds < 2, no or
      unknown espeak-ng voices, too few voices for disjoint partitions, an --out that cannot be
      a directory, or an --out holding recording files this request would not write.
  """
  if split is not None:
    split = tuple(int(n) for n in split)
    if len(split) != 3 or min(split) < 0:
      raise cli.InputError(f"--split must be three counts train,devel,test >= 0, got {split}")
    if num_recordings is not None and num_recordings != sum(split):
      raise cli.InputError(f"--recordings {num_recordings} != sum of --split {split}")
    num_recordings = sum(split)
  if num_recordings is None or num_recordings < 1:
    raise cli.InputError(f"--recordings must be at least 1, got {num_recordings}")
  if not np.isfinite(seconds) or seconds < 2:
    raise cli.InputError(
      f"--seconds must be at least 2 (one sentence per recording), got {seconds}"
    )
  if num_workers < 1:
    raise cli.InputError(f"--num_workers must be at least 1, got {num_workers}")
  voices = [v.strip() for v in voices]
  if not voices or not all(voices):
    raise cli.InputError(f"--voices must list espeak-ng voices, got {list(voices)}")
  try:
    specs = plan_recordings(num_recordings, voices, split)
  except ValueError as e:
    raise cli.InputError(f"--voices: {e}") from e
  check_output_dir(out_dir)
  expected = {f for s in specs for f in files_fn(s.recording_id)}
  foreign = []
  for sub in RECORDING_DIRS:
    d = os.path.join(out_dir, sub)
    if os.path.isdir(d):
      foreign += [
        os.path.join(sub, n)
        for n in sorted(os.listdir(d))
        if not n.startswith(".")
        and os.path.isfile(os.path.join(d, n))
        and os.path.join(sub, n) not in expected
      ]
  if foreign:
    raise cli.InputError(
      f"{out_dir}: holds {len(foreign)} recording file(s) this command would not write "
      f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}): another corpus or "
      f"other --recordings/--design; use a new --out or remove them"
    )
  if shutil.which("espeak-ng") is None and not all(v.startswith(FLITE_PREFIX) for v in voices):
    raise cli.InputError("espeak-ng is not installed (apt-get install espeak-ng)")
  if any(v.startswith(FLITE_PREFIX) for v in voices) and shutil.which("flite") is None:
    raise cli.InputError("--voices: flite:<voice> needs flite (apt-get install flite)")
  bad = unknown_voices(voices)
  if bad:
    raise cli.InputError(
      f"--voices: espeak-ng does not know {', '.join(bad)} (see "
      f"`espeak-ng --voices=en` and `espeak-ng --voices=variant`; "
      f"flite voices: `flite -lv`)"
    )
  return specs


def design_text(doc: str | None, heading: str, config) -> str:
  """The design section of a module docstring (from `heading` on) plus the config dataclass
  as JSON, as written to a corpus' README.md."""
  doc = doc or ""
  return (
    doc[doc.index(heading) :].strip()
    + "\n\nConfig: "
    + json.dumps(dataclasses.asdict(config), sort_keys=True)
    + "\n"
  )


def describe_design(config: SynthConfig) -> str:
  """The label design, as written to README.md (the module docstring's design section)."""
  return design_text(__doc__, "Label design", config)


def synthesize_corpus(
  out_dir: str,
  num_recordings: int | None = 40,
  seconds: float = 60.0,
  seed: int = 0,
  voices: Sequence[str] = DEFAULT_VOICES,
  num_workers: int = 2,
  config: SynthConfig = SynthConfig(),
  split: Sequence[int] | None = None,
) -> dict[str, object]:
  """Writes a synthetic SEWA-layout corpus to `out_dir` (see the module docstring).

  Args:
    out_dir: created if needed; audio/ labels/ turns/ transcriptions/ word_timings/,
      README.md and, last, corpus.json are (over)written. Resumable: a rerun skips the
      recordings that are complete (verified by sha256) until corpus.json is written.
    num_recordings: total recordings, split 50/25/25 % into Train/Devel/Test.
    seconds: length of every recording.
    seed: the only source of randomness; same arguments -> byte-identical files.
    voices: espeak-ng voices (speakers), split 50/25/25 % over the partitions (disjoint).
    num_workers: processes (recordings of one voice share a worker and its espeak-ng cache).
    config: generation settings.
    split: (train, devel, test) recording counts instead of the 50/25/25 % split.

  Returns:
    summary dict: recordings (list of per-recording dicts), seconds of audio, espeak calls,
    wall seconds.

  Raises:
    cli.InputError: bad arguments (see `validate_request`), before anything is written.
  """
  t0 = time.time()
  specs = validate_request(out_dir, num_recordings, seconds, voices, num_workers, split, sewa_files)
  function_words()  # validates neutrality
  for sub, _ in SEWA_FILES:
    os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
  results = run_recordings(
    "sewa", synthesize_recording, sewa_files, specs, out_dir, seconds, seed, config, num_workers
  )
  vocab = content_vocabulary(config)
  meta = {
    "generator": "data_prep.synthesize",
    "seed": seed,
    "seconds": seconds,
    "sample_rate": SAMPLE_RATE,
    "label_names": ["arousal", "valence", "liking"],
    "label_design": describe_design(config),
    "config": dataclasses.asdict(config),
    "prosody_levels": {
      f"{q:+.2f}": prosody(float(q), config.gain_db)
      for q in np.linspace(-1, 1, config.prosody_levels)
    },
    "speakers": {
      p: sorted({s.voice for s in specs if s.partition == p}) for p in ("train", "devel", "test")
    },
    "recordings": [
      {k: r[k] for k in ("recording_id", "partition", "voice", "seconds", "sentences", "words")}
      for r in results
    ],
    "function_words": function_words(),
    "content_words": [{"word": w, "valence": round(v, 4)} for w, v in vocab],
  }
  finish_corpus(
    out_dir,
    meta,
    "# Synthetic SEWA-layout corpus (data_prep.synthesize)\n\n"
    + describe_design(config)
    + "\nSpeakers: "
    + json.dumps(meta["speakers"], sort_keys=True)
    + "\n",
  )
  return _summary(results, t0)


def _summary(results: list[dict[str, object]], t0: float) -> dict[str, object]:
  wall = time.time() - t0
  summary = {
    "recordings": results,
    "seconds_of_audio": float(sum(r["seconds"] for r in results)),
    "espeak_calls": int(sum(r["espeak_calls"] for r in results)),
    "resumed": int(sum(bool(r["resumed"]) for r in results)),
    "wall_s": wall,
  }
  logging.info(
    "synthetic corpus: %d recordings (%d already complete), %.0f s of audio, "
    "%d espeak-ng calls, %.1f s wall",
    len(results),
    summary["resumed"],
    summary["seconds_of_audio"],
    summary["espeak_calls"],
    wall,
  )
  return summary


def write_text_corpus(
  path: str, num_sentences: int, seed: int, config: SynthConfig = SynthConfig()
) -> None:
  """Writes `generate_sentences(num_sentences, seed)` one per line, atomically."""
  wt.atomic_write_text(path, "\n".join(generate_sentences(num_sentences, seed, config)) + "\n")


def check_room(room: dict[str, object]) -> None:
  """Raises cli.InputError naming the flag of an invalid room-acoustics value."""
  if not 0 <= float(room.get("rt60_s", 0.0)) <= 5:
    raise cli.InputError(f"--rt60 must be in [0, 5] seconds, got {room['rt60_s']}")
  snr = room.get("snr_db")
  if snr is not None and not -20 <= float(snr) <= 100:
    raise cli.InputError(f"--snr must be in [-20, 100] dB, got {snr}")
  if not 8000 <= int(room.get("out_rate", SAMPLE_RATE)) <= 192000:
    raise cli.InputError(f"--sample_rate must be in [8000, 192000] Hz, got {room['out_rate']}")
  if not 1 <= int(room.get("channels", 1)) <= 8:
    raise cli.InputError(f"--channels must be in [1, 8], got {room['channels']}")
  parts = room.get("room_partitions", ("train", "devel", "test"))
  unknown = sorted(set(parts) - {"train", "devel", "test"})
  if unknown or not parts:
    raise cli.InputError(
      f"--room_partitions must name some of train, devel, test, got {','.join(parts)}"
    )
