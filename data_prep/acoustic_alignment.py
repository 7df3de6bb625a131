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
     of the span and up to `noise_context_s` around it). In a noisy recording (estimated
     SNR below `noisy_snr_db`) the denoised attempts come first, with stronger subtraction
     and a higher silence insertion probability. When every attempt's best path ends early
     (the last words lost to noise), the words but the last of the longest path are kept and
     the rest decoded in the remaining audio, else split evenly over it (`_recover_tail`);
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


class PartialAlignmentError(AcousticAlignmentError):
  """The decoder's best path covers only the first words of the transcript.

  Attributes:
    spans: (start, end) seconds, relative to the decoded audio, of those first words.
  """

  def __init__(self, message: str, spans: list[tuple[float, float]]):
    super().__init__(message)
    self.spans = spans


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
      first it lost sentences on the espeak-ng corpora, so it is the second try there and
      the first only in a noisy recording, see `noisy_snr_db`).
    noise_context_s: audio either side of the span used for the noise estimate only.
    noisy_snr_db: a recording whose `estimate_snr_db` is below this is noisy: its sentences
      are decoded after `spectral_subtraction` first (recording estimates: flite room at
      15 dB SNR 14 dB, at 25 dB 23 dB, espeak-ng corpora and real fixtures 25-42 dB).
    noisy_over: over-subtraction factor of `spectral_subtraction` in a noisy recording (1.5
      otherwise); chosen on a tuning corpus (flite room, 15 dB, seed 1; BUILD.md).
    noisy_silprob: pocketsphinx's silence insertion probability in a noisy recording
      (default 0.005): at 0.2 fewer short words are squeezed into the noise between words.
    tail_recovery: complete a path that ends before the last words (`_recover_tail`) instead
      of failing the sentence when it covers at least this share of them (0: never; a path
      through fewer words says the transcript does not fit the audio).
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
  noisy_snr_db: float = 20.0
  noisy_over: float = 4.0
  noisy_silprob: float = 0.2
  tail_recovery: float = 0.5


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

_DECODERS: dict[tuple[str, str, tuple[tuple[str, float], ...]], object] = {}


def decoder_for(config: AcousticConfig, options: tuple[tuple[str, float], ...] = ()):
  """The process' pocketsphinx Decoder for this model/dictionary (created on first use).

  Args:
    options: (pocketsphinx option, value) pairs set beyond the model's (e.g. silprob).

  Raises:
    AcousticAlignmentError: pocketsphinx is not installed or the model cannot be loaded.
  """
  key = (config.model_dir, config.dictionary, tuple(options))
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
    kwargs.update(options)
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
  got = [s[0] for s in spans]
  if got and len(got) < len(words) and got == words[: len(got)]:
    raise PartialAlignmentError(
      f"the decoder's path ends after {len(got)} of {len(words)} words",
      [(a, b) for _, a, b in spans],
    )
  if got != words:
    raise AcousticAlignmentError(
      f"decoder words {[s[0] for s in spans]} differ from the transcript {words}"
    )
  return [(a, b) for _, a, b in spans]


def estimate_snr_db(x: np.ndarray, sr: int, quiet: float = 10.0) -> float:
  """Rough SNR (dB) of mono float [S] against stationary noise: the mean STFT frame energy E
  (512-sample Hann, hop 128) and the mean energy N of the frames in the lowest `quiet` percent,
  10 log10((E - N) / N); inf when N is zero (digital silence), -inf when E <= N."""
  from scipy import signal

  x = np.asarray(x, np.float64)
  if len(x) < 1024:
    return math.inf
  _, _, z = signal.stft(x, sr, nperseg=512, noverlap=384)
  energy = (np.abs(z) ** 2).sum(0)
  noise = float(energy[energy <= np.percentile(energy, quiet)].mean())
  speech = float(energy.mean()) - noise
  if noise <= 0:
    return math.inf
  return 10 * math.log10(speech / noise) if speech > 0 else -math.inf


def retry_ladder(config: AcousticConfig, noisy: bool = False) -> list[tuple[float, bool]]:
  """The decoding attempts of one sentence, in order: (pad_s, denoise).

  The span as given, then widened by `retry_pad_s`; both again after `spectral_subtraction`
  (`denoise`), first instead of second when the recording is `noisy`.
  """
  pads = [config.pad_s, config.pad_s + config.retry_pad_s]
  plain = [(p, False) for p in pads]
  if not config.denoise:
    return plain
  cleaned = [(p, True) for p in pads]
  return cleaned + plain if noisy else plain + cleaned


def _decode_with_retries(
  audio: np.ndarray,
  sr: int,
  start: float,
  end: float,
  words: Sequence[str],
  config: AcousticConfig,
  decoder=None,
) -> list[tuple[float, float]]:
  """`decode_words` of the sentence span through `retry_ladder` until one attempt aligns;
  if none does, `_recover_tail` of the attempt whose path covered the most words.

  A recording whose `estimate_snr_db` is below `config.noisy_snr_db` is noisy: denoised
  first with over-subtraction `noisy_over`, decoded with silence insertion probability
  `noisy_silprob` (unless `decoder` is given).

  Returns:
    (start, end) seconds in the recording of each word (not yet clipped to the span).

  Raises:
    AcousticAlignmentError: the last attempt's error (no attempt aligned or recovered).
  """
  reach = config.pad_s + config.retry_pad_s + config.noise_context_s
  c0 = max(0, int(round((start - reach) * sr)))
  c1 = min(len(audio), int(round((end + reach) * sr)))
  context = audio[c0:c1]
  noisy = config.denoise and estimate_snr_db(audio, sr) < config.noisy_snr_db
  if decoder is None and noisy and config.noisy_silprob > 0:
    decoder = decoder_for(config, (("silprob", config.noisy_silprob),))
  cleaned = None
  error, partial = None, None
  for pad, denoise in retry_ladder(config, noisy):
    a = max(c0, int(round((start - pad) * sr)))
    b = min(c1, int(round((end + pad) * sr)))
    source = context
    if denoise:
      if cleaned is None:
        cleaned = spectral_subtraction(context, sr, over=config.noisy_over if noisy else 1.5)
      source = cleaned
    try:
      spans = decode_words(source[a - c0 : b - c0], sr, words, config, decoder)
      return [(a / sr + s, a / sr + e) for s, e in spans]
    except PartialAlignmentError as e:
      if partial is None or len(e.spans) > len(partial[0]):
        partial = ([(a / sr + s, a / sr + t) for s, t in e.spans], source)
      error = e
    except AcousticAlignmentError as e:
      error = e
  if (
    config.tail_recovery > 0
    and partial is not None
    and len(partial[0]) >= config.tail_recovery * len(words)
  ):
    return _recover_tail(*partial, c0, sr, end, words, config, decoder)
  raise error


def _recover_tail(
  spans: list[tuple[float, float]],
  source: np.ndarray,
  c0: int,
  sr: int,
  end: float,
  words: Sequence[str],
  config: AcousticConfig,
  decoder=None,
) -> list[tuple[float, float]]:
  """Completes a partial path: its words but the last are kept; the remaining words are
  decoded in the audio from the end of the last kept word to the sentence `end` (plus
  `pad_s + retry_pad_s`), or split evenly up to `end` when that fails too.

  Args:
    spans: (start, end) seconds in the recording of the words on the partial path.
    source: the audio they were decoded from, mono float [S] starting at sample c0.
  """
  keep = spans[:-1]
  t0 = keep[-1][1] if keep else spans[0][0] - config.start_shift_s
  rest = list(words[len(keep) :])
  a = max(c0, int(round(t0 * sr)))
  b = min(c0 + len(source), int(round((end + config.pad_s + config.retry_pad_s) * sr)))
  try:
    tail = decode_words(source[a - c0 : b - c0], sr, rest, config, decoder)
    tail = [(a / sr + s, a / sr + e) for s, e in tail]
  except AcousticAlignmentError:
    t1 = max(min(b / sr, end), t0)
    step = (t1 - t0) / len(rest)
    tail = [(t0 + k * step, t0 + (k + 1) * step) for k in range(len(rest))]
  logging.debug("acoustic: %d of %d words from a partial path", len(keep), len(words))
  return keep + tail


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
  spans = _decode_with_retries(audio, sr, start, end, words, config, decoder)
  spans = [(min(max(s, lo_t), hi_t), min(max(e, lo_t), hi_t)) for s, e in spans]
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
