"""Forced alignment with an acoustic model trained on human speech (pocketsphinx).

For every transcript sentence (start, end, text):
  1. the sentence's tokens are split into words and tags (`<laughter>`, `<filler>`, any `<...>`:
     `tagged_tokens`); tags are left out of the text to align: pocketsphinx's finite-state
     search inserts its silence and noise words (`<sil>`, `[NOISE]`, `[SPEECH]` of the en-us
     model's noise dictionary) between words wherever the audio has them;
  2. each word is looked up in the model's dictionary (CMUdict for en-us); a word outside it
     gets a pronunciation from espeak-ng's phonemes (`espeak-ng -q --ipa`) mapped to the
     model's ARPAbet phone set by `ipa_to_arpabet` (`g2p`), added with `Decoder.add_word`;
  3. the span (16 kHz, 16-bit mono) is decoded against the transcript
     (`Decoder.set_align_text`); `Decoder.seg()` gives each word's first and last 10 ms
     frame (word starts moved by `start_shift_s`); when the decoder finds no path, the span
     is decoded again widened by `retry_pad_s`, then both after subtracting stationary noise
     (`spectral_subtraction`; the noise spectrum from the quietest tenth of the STFT frames
     of the span and up to `noise_context_s` around it);
  4. a tag gets the stretch between its neighbouring words (split evenly between adjacent
     tags): the silence/noise the decoder put there.

A sentence that cannot be decoded (no path through the transcript, a word without a
pronunciation, no pocketsphinx installed) raises `AcousticAlignmentError`; the corpus driver
(`forced_alignment.align_recording`, method `auto`) then falls back to TTS + DTW, then to the
uniform split.

pocketsphinx's wheel ships the US-English model only; `AcousticConfig.model_dir` /
`dictionary` select another installed CMU Sphinx model (a language for which none is installed
is aligned by TTS + DTW with espeak-ng's voice for it; see BUILD.md).
"""

import dataclasses
import math
import os
import shutil
import subprocess
from collections.abc import Sequence

import numpy as np
from absl import logging

from emotion_tf.data import word_timings as wt

DECODER_RATE = 16000  # pocketsphinx's en-us model: 16 kHz audio, 100 frames/s
FRAME_S = 0.01


class AcousticAlignmentError(RuntimeError):
  """This sentence (or this installation) cannot be aligned with the acoustic model."""


@dataclasses.dataclass(frozen=True)
class AcousticConfig:
  """Acoustic aligner settings.

  Attributes:
    model_dir: CMU Sphinx acoustic model directory ('' = pocketsphinx's bundled en-us model).
    dictionary: pronunciation dictionary ('' = the bundled cmudict-en-us.dict).
    g2p_voice: espeak-ng voice whose phonemes give out-of-dictionary pronunciations.
    pad_s: audio decoded beyond each end of the sentence span (clipped to the recording),
      so that a word touching the span edge can still begin/end in silence.
    retry_pad_s: a span the decoder cannot align is decoded again with this much more audio
      either side (words still clipped to the span): the last word's weak end may lie past
      the transcript's end time.
    denoise: a span the decoder cannot align is decoded again after `spectral_subtraction`
      (white noise at 15 dB SNR on flite speech: 25 -> 40 of 42 sentences decoded; used
      first it lost sentences on the espeak-ng corpora, so it is the second try only).
    noise_context_s: audio either side of the span used for the noise estimate only.
    start_shift_s: added to every word start (never past its end): the decoder's first frame
      of a word lies early by about 2 frames (median signed start error -0.017 to -0.021 s on
      the real fixtures and both espeak-ng corpora, ends -0.012 to +0.014 s; bench/align_words).
  """

  model_dir: str = ""
  dictionary: str = ""
  g2p_voice: str = "en-us"
  pad_s: float = 0.0
  start_shift_s: float = 0.015
  retry_pad_s: float = 0.2
  denoise: bool = True
  noise_context_s: float = 0.5


def pocketsphinx_available() -> bool:
  """True when the pocketsphinx package (and so its en-us model) can be imported."""
  try:
    import pocketsphinx  # noqa: F401
  except ImportError:
    return False
  return True


# ------------------------------------------------------------------------------- tokens & tags


def tagged_tokens(text: str) -> list[tuple[str, bool]]:
  """(normalised word, is_tag) per token; the words are exactly `word_timings.tokenize(text)`.

  A token is a tag when it is written `<...>` (`<laughter>` -> ('laugh', True)); `um` written
  as a word stays a word.
  """
  out = []
  for raw in wt._TOKEN_RE.findall(text):
    if raw.startswith("<"):
      w = wt.normalize_word(raw)
      if w:
        out.append((w, True))
      continue
    for p in wt._SPLIT_RE.split(raw):
      w = wt.normalize_word(p)
      if w:
        out.append((w, False))
  return out


# ------------------------------------------------------------------------------------------ g2p

# espeak-ng IPA (en-us voice) -> ARPAbet (CMUdict, no stress). Longest match first; stress and
# syllable marks are dropped before matching. Two-letter entries are the diphthongs/affricates.
IPA_TO_ARPABET: dict[str, tuple[str, ...]] = {
  "eɪ": ("EY",),
  "aɪ": ("AY",),
  "ɔɪ": ("OY",),
  "aʊ": ("AW",),
  "oʊ": ("OW",),
  "əʊ": ("OW",),
  "tʃ": ("CH",),
  "dʒ": ("JH",),
  "ɪɹ": ("IH", "R"),
  "ɛɹ": ("EH", "R"),
  "ʊɹ": ("UH", "R"),
  "oːɹ": ("AO", "R"),
  "oɹ": ("AO", "R"),
  "ɚɹ": ("ER",),
  "ɜːɹ": ("ER",),
  "iː": ("IY",),
  "i": ("IY",),
  "ɪ": ("IH",),
  "ᵻ": ("IH",),
  "e": ("EH",),
  "ɛ": ("EH",),
  "æ": ("AE",),
  "a": ("AE",),
  "ɑː": ("AA",),
  "ɑ": ("AA",),
  "ɒ": ("AA",),
  "ɔː": ("AO",),
  "ɔ": ("AO",),
  "o": ("OW",),
  "ʊ": ("UH",),
  "uː": ("UW",),
  "u": ("UW",),
  "ʌ": ("AH",),
  "ə": ("AH",),
  "ɐ": ("AH",),
  "ɚ": ("ER",),
  "ɜː": ("ER",),
  "ɜ": ("ER",),
  "ɝ": ("ER",),
  "p": ("P",),
  "b": ("B",),
  "t": ("T",),
  "d": ("D",),
  "k": ("K",),
  "ɡ": ("G",),
  "g": ("G",),
  "f": ("F",),
  "v": ("V",),
  "θ": ("TH",),
  "ð": ("DH",),
  "s": ("S",),
  "z": ("Z",),
  "ʃ": ("SH",),
  "ʒ": ("ZH",),
  "h": ("HH",),
  "x": ("HH",),
  "ç": ("HH",),
  "m": ("M",),
  "n": ("N",),
  "ŋ": ("NG",),
  "l": ("L",),
  "ɫ": ("L",),
  "ɬ": ("L",),
  "ɹ": ("R",),
  "r": ("R",),
  "ɾ": ("T",),
  "ʔ": ("T",),
  "j": ("Y",),
  "w": ("W",),
  "ʍ": ("W",),
  "n̩": ("AH", "N"),
  "l̩": ("AH", "L"),
  "m̩": ("AH", "M"),
}
_IGNORED = set("ˈˌ.-_‿ˑ|‖ ") | {"\u0303"}  # stress, syllable and length-only marks
_MAX_KEY = max(len(k) for k in IPA_TO_ARPABET)


def ipa_to_arpabet(ipa: str) -> list[str]:
  """ARPAbet phones of one espeak-ng IPA transcription (greedy longest match of
  IPA_TO_ARPABET; a lone length mark `ː` and unknown symbols are dropped, the latter logged)."""
  s = "".join(c for c in ipa if c not in _IGNORED)
  out, i = [], 0
  while i < len(s):
    for n in range(min(_MAX_KEY, len(s) - i), 0, -1):
      if s[i : i + n] in IPA_TO_ARPABET:
        out.extend(IPA_TO_ARPABET[s[i : i + n]])
        i += n
        break
    else:
      if s[i] != "ː":
        logging.debug("g2p: no ARPAbet phone for IPA %r in %r", s[i], ipa)
      i += 1
  return out


def espeak_ipa(words: Sequence[str], voice: str = "en-us") -> list[str]:
  """espeak-ng's IPA transcription of each word (one `espeak-ng` call for all of them).

  Raises:
    AcousticAlignmentError: espeak-ng is not installed or fails.
  """
  words = list(words)
  if not words:
    return []
  exe = shutil.which("espeak-ng")
  if not exe:
    raise AcousticAlignmentError(
      "espeak-ng not found: no pronunciations for words outside the "
      "acoustic model's dictionary (apt-get install espeak-ng)"
    )

  def call(text: str) -> list[str]:
    try:
      res = subprocess.run(
        [exe, "-q", "-v", voice, "--ipa"],
        input=text.encode("utf-8"),
        capture_output=True,
        timeout=60,
        check=True,
      )
    except (OSError, subprocess.SubprocessError) as e:
      raise AcousticAlignmentError(f"espeak-ng --ipa failed for voice {voice!r}: {e}") from e
    return [ln.strip() for ln in res.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]

  # One clause per word ("word." per line); if espeak-ng merges or splits a line, word by word.
  lines = call("".join(f"{w}.\n" for w in words))
  if len(lines) == len(words):
    return lines
  return [" ".join(call(f"{w}.\n")) for w in words]


def g2p(words: Sequence[str], voice: str = "en-us") -> list[list[str]]:
  """ARPAbet pronunciation of each word from espeak-ng (`espeak_ipa` + `ipa_to_arpabet`)."""
  return [ipa_to_arpabet(ipa) for ipa in espeak_ipa(words, voice)]


# ------------------------------------------------------------------------------------- decoder

_DECODERS: dict[tuple[str, str], object] = {}


def decoder_for(config: AcousticConfig):
  """The process' pocketsphinx Decoder for this model/dictionary (created on first use).

  Raises:
    AcousticAlignmentError: pocketsphinx is not installed or the model cannot be loaded.
  """
  key = (config.model_dir, config.dictionary)
  if key not in _DECODERS:
    try:
      import pocketsphinx
    except ImportError as e:
      raise AcousticAlignmentError(
        "pocketsphinx is not installed (pip install -r requirements.txt)"
      ) from e
    kwargs = {"loglevel": "FATAL"}
    if config.model_dir:
      kwargs["hmm"] = config.model_dir
    if config.dictionary:
      kwargs["dict"] = config.dictionary
    for path in (config.model_dir, config.dictionary):
      if path and not os.path.exists(path):
        raise AcousticAlignmentError(f"{path}: acoustic model/dictionary not found")
    try:
      _DECODERS[key] = pocketsphinx.Decoder(**kwargs)
    except (RuntimeError, ValueError, OSError) as e:
      raise AcousticAlignmentError(f"cannot load the pocketsphinx model {key}: {e}") from e
  return _DECODERS[key]


def ensure_pronunciations(decoder, words: Sequence[str], voice: str) -> None:
  """Adds a g2p pronunciation for every word the decoder's dictionary lacks.

  Raises:
    AcousticAlignmentError: a word gets no phones (espeak-ng missing or nothing mapped).
  """
  missing = sorted({w for w in words if decoder.lookup_word(w) is None})
  if not missing:
    return
  for w, phones in zip(missing, g2p(missing, voice), strict=False):
    if not phones:
      raise AcousticAlignmentError(f"no pronunciation for {w!r}")
    try:
      decoder.add_word(w, " ".join(phones), True)
    except (RuntimeError, ValueError) as e:
      raise AcousticAlignmentError(f"cannot add {w!r} /{' '.join(phones)}/: {e}") from e
    logging.debug("g2p %s -> %s", w, " ".join(phones))


def spectral_subtraction(
  x: np.ndarray, sr: int, over: float = 1.5, floor: float = 0.05, quiet: float = 10.0
) -> np.ndarray:
  """Power spectral subtraction (Boll 1979) of stationary noise from mono float [S].

  STFT (512-sample Hann, hop 128); noise power N(f) = mean power of the frames whose energy is
  in the lowest `quiet` percent; gain G = max(1 - over N / P, floor) on the power P; inverse
  STFT. Returns float64 [S].
  """
  from scipy import signal

  x = np.asarray(x, np.float64)
  if len(x) < 1024:
    return x
  _, _, z = signal.stft(x, sr, nperseg=512, noverlap=384)
  power = np.abs(z) ** 2
  energy = power.sum(0)
  noise = power[:, energy <= np.percentile(energy, quiet)].mean(1, keepdims=True)
  gain = np.maximum(1.0 - over * noise / np.maximum(power, 1e-20), floor)
  _, y = signal.istft(z * np.sqrt(gain), sr, nperseg=512, noverlap=384)
  y = y[: len(x)]
  return np.pad(y, (0, len(x) - len(y)))


def _pcm16(audio: np.ndarray, sr: int) -> np.ndarray:
  """Mono float [S] at `sr` -> int16 [S'] at DECODER_RATE."""
  x = np.asarray(audio, np.float64)
  if sr != DECODER_RATE:
    from scipy import signal

    g = math.gcd(int(sr), DECODER_RATE)
    x = signal.resample_poly(x, DECODER_RATE // g, int(sr) // g)
  return (np.clip(x, -1.0, 1.0 - 1.0 / 32768) * 32768.0).astype(np.int16)


def decode_words(
  audio: np.ndarray,
  sr: int,
  words: Sequence[str],
  config: AcousticConfig = AcousticConfig(),
  decoder=None,
) -> list[tuple[float, float]]:
  """(start, end) seconds, relative to `audio`, of each word forced-aligned by pocketsphinx.

  Args:
    audio: mono float [samples] at `sr` (resampled to 16 kHz here).
    words: dictionary words or words that `g2p` can pronounce; no tags.

  Raises:
    AcousticAlignmentError: no alignment (the decoder found no path through all the words).
  """
  words = list(words)
  if not words:
    return []
  decoder = decoder or decoder_for(config)
  ensure_pronunciations(decoder, words, config.g2p_voice)
  pcm = _pcm16(audio, sr)
  if len(pcm) < DECODER_RATE * FRAME_S * 3 * len(words):
    raise AcousticAlignmentError(
      f"{len(pcm) / DECODER_RATE:.2f} s is too short for {len(words)} words"
    )
  try:
    decoder.set_align_text(" ".join(words))
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
  except (RuntimeError, ValueError) as e:
    raise AcousticAlignmentError(f"pocketsphinx: {e}") from e
  if decoder.hyp() is None:
    raise AcousticAlignmentError("no alignment path through the transcript")
  spans = []
  for seg in decoder.seg():
    base = seg.word.split("(")[0]
    if base.startswith(("<", "[", "+")) or not base:
      continue  # silence and noise words
    end = (seg.end_frame + 1) * FRAME_S
    spans.append((base, min(seg.start_frame * FRAME_S + config.start_shift_s, end), end))
  if [s[0] for s in spans] != words:
    raise AcousticAlignmentError(
      f"decoder words {[s[0] for s in spans]} differ from the transcript {words}"
    )
  return [(a, b) for _, a, b in spans]


def align_sentence(
  audio: np.ndarray,
  sr: int,
  start: float,
  end: float,
  text_or_tokens,
  config: AcousticConfig = AcousticConfig(),
  decoder=None,
) -> list[wt.WordTiming]:
  """Word timings of one transcript sentence by the acoustic model.

  Args:
    audio: the whole recording, mono float [samples] at `sr`.
    start, end: the sentence span in seconds.
    text_or_tokens: the transcript text, or `tagged_tokens` of it.

  Returns:
    one WordTiming per token of `word_timings.tokenize(text)` (tags included), in order, inside
    [start, end], non-overlapping.

  Raises:
    AcousticAlignmentError: the sentence cannot be aligned this way (the caller falls back).
  """
  tokens = (
    tagged_tokens(text_or_tokens) if isinstance(text_or_tokens, str) else list(text_or_tokens)
  )
  if not tokens:
    return []
  words = [w for w, tag in tokens if not tag]
  if not words:
    raise AcousticAlignmentError("only tags, no words to align")
  lo_t, hi_t = max(0.0, start), min(end, len(audio) / sr)
  if hi_t <= lo_t:
    raise AcousticAlignmentError(f"empty span {start:.3f}-{end:.3f} s")
  attempts = [(config.pad_s, False), (config.pad_s + config.retry_pad_s, False)]
  if config.denoise:
    attempts += [(p, True) for p, _ in attempts]
  error = None
  for pad, denoise in attempts:
    a = max(0, int(round((start - pad) * sr)))
    b = min(len(audio), int(round((end + pad) * sr)))
    offset = a / sr
    span = audio[a:b]
    if denoise:
      c0 = max(0, a - int(round(config.noise_context_s * sr)))
      c1 = min(len(audio), b + int(round(config.noise_context_s * sr)))
      span = spectral_subtraction(audio[c0:c1], sr)[a - c0 : b - c0]
    try:
      spans = decode_words(span, sr, words, config, decoder)
      break
    except AcousticAlignmentError as e:
      error = e
  else:
    raise error
  spans = [(min(max(offset + s, lo_t), hi_t), min(max(offset + e, lo_t), hi_t)) for s, e in spans]
  out: list[wt.WordTiming | None] = [None] * len(tokens)
  k = 0
  for i, (w, tag) in enumerate(tokens):
    if not tag:
      out[i] = wt.WordTiming(spans[k][0], spans[k][1], w)
      k += 1
  # Tags: the stretch between the neighbouring words, shared evenly by adjacent tags.
  i = 0
  while i < len(tokens):
    if out[i] is not None:
      i += 1
      continue
    j = i
    while j < len(tokens) and out[j] is None:
      j += 1
    left = out[i - 1].end if i > 0 else lo_t
    right = out[j].start if j < len(tokens) else hi_t
    right = max(right, left)
    n = j - i
    for m in range(n):
      out[i + m] = wt.WordTiming(
        left + m * (right - left) / n, left + (m + 1) * (right - left) / n, tokens[i + m][0]
      )
    i = j
  return list(out)


# ------------------------------------------------------------------------ recogniser segments

_RECOGNISERS: dict[tuple[str, str], object] = {}


def recognise_word_spans(
  audio: np.ndarray, sr: int, config: AcousticConfig = AcousticConfig(), utterance_s: float = 60.0
) -> list[tuple[float, float]]:
  """Word spans (start, end) in seconds from pocketsphinx's recogniser (its n-gram language
  model, no transcript): the recognised words are discarded, silence/noise words dropped.

  A word segmenter for speech without a transcript (compare emotion_tf.semantic.segmenter);
  long audio is decoded in pieces of `utterance_s` seconds.

  Raises:
    AcousticAlignmentError: pocketsphinx is not installed.
  """
  key = (config.model_dir, config.dictionary)
  if key not in _RECOGNISERS:
    try:
      import pocketsphinx
    except ImportError as e:
      raise AcousticAlignmentError("pocketsphinx is not installed") from e
    kwargs = {"loglevel": "FATAL"}
    if config.model_dir:
      kwargs["hmm"] = config.model_dir
    if config.dictionary:
      kwargs["dict"] = config.dictionary
    _RECOGNISERS[key] = pocketsphinx.Decoder(**kwargs)
  decoder = _RECOGNISERS[key]
  pcm = _pcm16(audio, sr)
  step = int(utterance_s * DECODER_RATE)
  out = []
  for a in range(0, len(pcm), step):
    decoder.start_utt()
    decoder.process_raw(pcm[a : a + step].tobytes(), full_utt=True)
    decoder.end_utt()
    for seg in decoder.seg():
      base = seg.word.split("(")[0]
      if base.startswith(("<", "[", "+")) or not base:
        continue
      out.append(
        (
          a / DECODER_RATE + seg.start_frame * FRAME_S,
          a / DECODER_RATE + (seg.end_frame + 1) * FRAME_S,
        )
      )
  return out
