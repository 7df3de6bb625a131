"""The second built-in corpus design ("podcast"): unlike the first in every way the pipeline sees.

    python -m data_prep.synthesize --design podcast --out DIR [--recordings 16 | --split 8,4,4] \
        --seconds 60 --seed 0 [--interlocutor] [--text_out FILE --text_sentences M]

With --interlocutor (`InterlocutorConfig`) a conversation partner speaks in pauses between the
subject's sentences (see `INTERLOCUTOR_DESIGN`); without it nothing below changes, byte for byte.

Podcast design (also written to DIR/corpus.json and DIR/README.md):
  * Layout: SEWA layout without word timings. transcriptions/ rows span whole sentences
    (capitalised, punctuated: `Um, really wonderful!`); turns/ rows span runs of sentences
    separated by pauses shorter than `turn_gap_s`; there is NO word_timings/ folder. The true
    word spans and the noise-free label curves are kept apart in truth/word_timings/ and
    truth/labels/ so aligners and models can be measured; the pipeline does not look there.
  * Audio: 48 kHz, 2 channels, 16-bit. Words are spoken by espeak-ng at 22 050 Hz, mixed and
    resampled with scipy.signal.resample_poly (320/147); the channels get different gains
    (left 0 to -1.5 dB, right -1 to -4 dB, drawn per recording) and independent noise floors.
  * Speakers: 8 espeak-ng accent+variant voices, none of the first design's (other accents:
    RP, New York, Caribbean, Lancaster, West Midlands; other variants); Train/Devel/Test
    speakers disjoint.
  * Vocabulary: content words are VADER words (4-12 letters, |valence| <= 0.95) NOT in the first
    design's vocabulary (the next slice: within each of `valence_bins` bins the lowest rater
    std first, as the first design; profanity and slurs left out); function words, openers
    and sentence templates share no word with the first design; no function word is in the
    VADER lexicon.
  * True arousal a(t): Gaussian-smoothed noise with sigma `sigma_a_s` (faster than the first
    design's 2.5 s), 0.95 tanh(0.85 x). Carried mainly by prosody (rate 165 + 55 qa words/min,
    pitch range 95 + 60 qa %, gain 7 qa dB, gap 0.07 - 0.045 qa s, qa = a quantised to
    `arousal_levels` levels) and partly by words: before each content word an intensifier
    (really, totally, ...) is said with probability `cue_p` * a when a > 0 and a hedge (maybe,
    somewhat, ...) with probability `cue_p` * (-a) when a < 0.
  * True valence v(t): smoothed noise with sigma `sigma_v_s` (slower), correlated with arousal
    (rho = `av_corr` before squashing). Carried mainly by word choice (each content word drawn
    among the `pick_nearest` words whose VADER valence is nearest v(t)) and partly by prosody:
    pitch 48 + 22 qa + 12 qv and pitch range + 15 qv (qv = v quantised to `valence_levels`).
  * True liking l(t): NOT (a + v) / 2 but a lagged weighted mix: the squashed standardisation of
    `liking_weights` . (x_a(t - lag_a), x_v(t - lag_v), x_own(t)) with `liking_lags_s`, x_own
    an independent smooth curve (sigma `sigma_l_s`) that no view carries.
  * Gold labels (labels/): like real continuous annotation, the mean of `raters` simulated
    raters, each the true curve delayed by a reaction lag drawn from `rater_lag_s`, scaled by
    a factor from `rater_scale`, shifted by a bias (sd `rater_bias_sd`) plus smooth noise (sd
    `rater_noise_sd`, sigma `rater_noise_sigma_s`), clipped to [-1, 1]; sampled every 0.1 s at
    the frame centres (k + 0.5) * 0.1 s, written with time k * 0.1.
The output is byte-for-byte identical for the same arguments (per-recording seeds, no times).
"""

import dataclasses
import functools
import io
import json
import os
import time
import wave
from collections.abc import Sequence

import numpy as np
from scipy import signal

from data_prep import lexicon
from data_prep import synthesize_lib as synthesize
from emotion_tf import SAMPLE_RATE
from emotion_tf.data import word_timings as wt
from emotion_tf.util import cli, fileio

PODCAST_VOICES = (
  "en-gb-x-rp+Annie",
  "en-us-nyc+max",
  "en-029+klatt",  # train
  "en-gb-x-gbclan+belinda",
  "en-gb-x-gbcwmd+Andy",  # train, devel
  "en-us+linda",  # devel
  "en-gb-scotland+steph",
  "en-gb-x-rp+john",
)  # test
# Partner (interlocutor) voices, none a subject voice of either design; split 50/25/25 % over
# Train/Devel/Test like the subjects' (disjoint across partitions).
PARTNER_VOICES = (
  "en-us+Alicia",
  "en-us-nyc+norbert",  # train
  "en-gb-x-gbcwmd+shelby",  # devel
  "en-029+victor",
)  # test
OPENERS = (
  (),
  (),
  (),
  ("um",),
  ("actually",),
  ("basically",),
  ("anyway",),
  ("look",),
  ("listen",),
  ("oh",),
  ("right",),
)
PREFIXES = (
  (),
  (),
  ("his",),
  ("her",),
  ("their",),
  ("your",),
  ("some",),
  ("those",),
  ("these",),
  ("every",),
  ("people", "found"),
  ("folks", "had"),
  ("everyone", "got"),
  ("nobody", "saw"),
  ("one", "thing"),
  ("what", "an"),
  ("for", "me"),
  ("to", "them"),
  ("from", "us"),
  ("at", "last"),
  ("also",),
  ("still",),
  ("even",),
  ("only",),
  ("because",),
  ("or",),
  ("but",),
  ("when", "his"),
  ("if", "those"),
  ("by", "night"),
  ("today",),
  ("yesterday",),
)
INTENSIFIERS = ("really", "totally", "extremely", "absolutely", "incredibly")
HEDGES = ("maybe", "perhaps", "somewhat", "slightly", "rather", "fairly", "mostly")
# Content words containing one of these are left out (profanity, slurs, sexual terms, junk).
BLOCKED_SUBSTRINGS = (
  "fuck",
  "shit",
  "rape",
  "raping",
  "fag",
  "nigg",
  "bitch",
  "cunt",
  "whore",
  "slut",
  "dick",
  "cock",
  "pussy",
  "bastard",
  "damn",
  "porn",
  "sex",
  "ass",
  "piss",
  "crap",
  "retard",
  "douche",
  "wank",
  "twat",
  "prick",
  "tit",
  "boob",
  "horny",
  "hooker",
  "suck",
  "xox",
  "lmao",
  "lol",
  "haha",
  "hell",
  "jerk",
  "dumb",
  "idiot",
  "stupid",
  "moron",
  "screw",
  "bull",
  "ambw",
)
OUT_RATE = 48000
FRAME_SECONDS = synthesize.FRAME_SECONDS
_at = synthesize._at


@dataclasses.dataclass(frozen=True)
class PodcastConfig:
  """Generation settings of the podcast design (all recorded in corpus.json)."""

  content_words: int = 200
  valence_bins: int = 16
  pick_nearest: int = 7
  content_per_sentence: tuple[int, int] = (1, 5)
  sigma_a_s: float = 1.5
  sigma_v_s: float = 4.0
  sigma_l_s: float = 3.0
  av_corr: float = 0.3
  liking_weights: tuple[float, float, float] = (0.35, 0.75, 0.3)  # arousal, valence, own
  liking_lags_s: tuple[float, float] = (1.0, 2.0)  # arousal, valence
  cue_p: float = 0.5
  arousal_levels: int = 7
  valence_levels: int = 5
  gain_db: float = 7.0
  base_level: float = 0.3
  noise_dbfs: float = -54.0
  left_gain_db: tuple[float, float] = (-1.5, 0.0)
  right_gain_db: tuple[float, float] = (-4.0, -1.0)
  pause_s: tuple[float, float] = (0.3, 1.6)
  turn_gap_s: float = 0.8
  lead_in_s: tuple[float, float] = (0.3, 0.8)
  raters: int = 3
  rater_lag_s: tuple[float, float] = (0.2, 0.7)
  rater_scale: tuple[float, float] = (0.85, 1.1)
  rater_bias_sd: float = 0.05
  rater_noise_sd: float = 0.08
  rater_noise_sigma_s: float = 0.6


@dataclasses.dataclass(frozen=True)
class InterlocutorConfig(PodcastConfig):
  """`PodcastConfig` plus a conversation partner (--interlocutor; all recorded in corpus.json).

  A separate class so that the plain design's config, resume keys and corpus.json stay as they
  were (`dataclasses.asdict` of a `PodcastConfig` has no partner fields).
  """

  partner_voices: tuple[str, ...] = PARTNER_VOICES
  partner_p: float = 0.6  # P(partner speaks in a pause after a sentence)
  partner_gap_s: tuple[float, float] = (0.25, 0.6)  # silence before and after a partner sentence
  partner_gain_db: float = -2.0  # partner level relative to the subject's


INTERLOCUTOR_DESIGN = """Interlocutor (--interlocutor):
  * After each subject sentence, with probability `partner_p`, a partner voice (`partner_voices`,
    none a subject voice; split 50/25/25 % over Train/Devel/Test, disjoint) says one sentence of
    this design's templates and vocabulary, starting `partner_gap_s` after the subject's
    sentence; the subject's next sentence starts no earlier than `partner_gap_s` after the
    partner's (the pause is lengthened, speech never overlaps; the recording keeps its length).
  * The partner's words and prosody follow the partner's OWN true curves (drawn like the
    subject's, from an independent random stream), so partner speech is independent of the
    labels: a confound for a model that listens to everything. Level `partner_gain_db` dB.
  * labels/ stay the subject's emotion; turns/ list only the subject's sentences (a turn never
    spans a partner sentence); transcriptions/ and truth/word_timings/ hold only the subject's
    words (the partner is not transcribed, so the semantic path sees only the subject). The
    partner's true word spans are kept in truth/partner_word_timings/ (not read by the pipeline).
"""


def config_for(content_words: int | None = None, interlocutor: bool = False) -> PodcastConfig:
  """The default config (an `InterlocutorConfig` when `interlocutor`), with `content_words`
  when given."""
  cls = InterlocutorConfig if interlocutor else PodcastConfig
  return cls() if content_words is None else cls(content_words=content_words)


def partner_groups(voices: Sequence[str]) -> dict[str, list[str]]:
  """Partner voices per partition, 50/25/25 % as the subjects' (`synthesize.plan_recordings`)."""
  nv = len(voices)
  v_dev = max(1, int(round(nv * 0.25))) if nv >= 3 else 0
  v_test = max(1, int(round(nv * 0.25))) if nv >= 3 else 0
  return {
    "train": list(voices[: nv - v_dev - v_test]),
    "devel": list(voices[nv - v_dev - v_test : nv - v_test]),
    "test": list(voices[nv - v_test :]),
  }


def partner_voice(spec: synthesize.RecordingSpec, voices: Sequence[str]) -> str:
  """The partner voice of a recording: round-robin within its partition's partner voices."""
  group = partner_groups(voices)[spec.partition]
  return group[(int(spec.recording_id.rsplit("_", 1)[1]) - 1) % len(group)]


# ----------------------------------------------------------------------------------- vocabulary


def function_words() -> list[str]:
  """Openers, template words and arousal cue words, sorted.

  Raises:
    ValueError: when one is in the VADER lexicon or among the first design's function words.
  """
  words = sorted(
    {w for group in (OPENERS, PREFIXES) for p in group for w in p} | set(INTENSIFIERS) | set(HEDGES)
  )
  lex = lexicon.load_valence_lexicon()
  bad = [w for w in words if w in lex]
  if bad:
    raise ValueError(f"podcast function words {bad} carry VADER valence")
  shared = sorted(set(words) & set(synthesize.function_words()))
  if shared:
    raise ValueError(f"podcast function words {shared} are also the first design's")
  return words


@functools.lru_cache(maxsize=8)
def content_vocabulary(config: PodcastConfig = PodcastConfig()) -> list[tuple[str, float]]:
  """[(word, valence)] sorted by valence: the next slice of VADER after the first design's.

  VADER words (4-12 letters, |v| <= 0.95) outside the first design's default vocabulary and
  without a profanity/slur substring (`BLOCKED_SUBSTRINGS`), balanced over `valence_bins` bins
  of [-0.95, 0.95], within a bin the lowest rater std first (as the first design, which took
  the top of each bin).
  """
  first = {w for w, _ in synthesize.content_vocabulary()}
  own = set(function_words())
  cands = [
    (w, v, s)
    for w, (v, s) in lexicon.load_valence_entries().items()
    if lexicon.is_plain_word(w)
    and 4 <= len(w) <= 12
    and abs(v) <= 0.95
    and w not in first
    and w not in own
    and not any(b in w for b in BLOCKED_SUBSTRINGS)
  ]
  return synthesize.pick_across_valence_bins(cands, 0.95, config.valence_bins, config.content_words)


# -------------------------------------------------------------------------------------- curves


def true_curves(
  rng: np.random.Generator, num_frames: int, config: PodcastConfig = PodcastConfig()
) -> np.ndarray:
  """True arousal, valence, liking at the frame centres, float64 [num_frames, 3] in (-0.95, 0.95).

  Arousal and valence are correlated (rho = av_corr before the squashing); liking is the lagged
  weighted mix of the module docstring.
  """
  lag_a, lag_v = (int(round(s / FRAME_SECONDS)) for s in config.liking_lags_s)
  pad = max(lag_a, lag_v)
  n = num_frames + pad
  xa = synthesize.smooth_curve(rng, n, config.sigma_a_s / FRAME_SECONDS)
  z = synthesize.smooth_curve(rng, n, config.sigma_v_s / FRAME_SECONDS)
  z = z - (z @ xa) / (xa @ xa) * xa
  z = (z - z.mean()) / (z.std() + 1e-12)
  rho = config.av_corr
  xv = rho * xa + np.sqrt(1.0 - rho * rho) * z
  own = synthesize.smooth_curve(rng, num_frames, config.sigma_l_s / FRAME_SECONDS)
  wa, wv, wo = config.liking_weights
  xl = wa * xa[pad - lag_a : n - lag_a] + wv * xv[pad - lag_v : n - lag_v] + wo * own
  xl = (xl - xl.mean()) / (xl.std() + 1e-12)
  squash = lambda x: 0.95 * np.tanh(0.85 * x)
  return np.stack([squash(xa[pad:]), squash(xv[pad:]), squash(xl)], axis=1)


def rater_labels(
  rng: np.random.Generator, truth: np.ndarray, config: PodcastConfig = PodcastConfig()
) -> np.ndarray:
  """Gold labels: the mean of `config.raters` noisy, delayed raters of `truth` [F, 3], clipped
  to [-1, 1]; float64 [F, 3] (see the module docstring)."""
  num_frames = len(truth)
  times = np.arange(num_frames, dtype=np.float64)
  gold = np.zeros_like(truth)
  for _ in range(config.raters):
    for d in range(truth.shape[1]):
      lag = rng.uniform(*config.rater_lag_s) / FRAME_SECONDS
      scale = rng.uniform(*config.rater_scale)
      bias = rng.normal(0.0, config.rater_bias_sd)
      noise = synthesize.smooth_curve(rng, num_frames, config.rater_noise_sigma_s / FRAME_SECONDS)
      delayed = np.interp(times - lag, times, truth[:, d])
      gold[:, d] += scale * delayed + bias + config.rater_noise_sd * noise
  return np.clip(gold / config.raters, -1.0, 1.0)


# ------------------------------------------------------------------------------------ sentences


def sentence_template(
  rng: np.random.Generator, config: PodcastConfig = PodcastConfig()
) -> tuple[list[tuple[str, str]], int]:
  """A sentence as slots ('f', word) | ('cue', '') | ('c', ''), and the opener's length."""
  opener = OPENERS[int(rng.integers(len(OPENERS)))]
  slots = [("f", w) for w in opener]
  lo, hi = config.content_per_sentence
  for _ in range(int(rng.integers(lo, hi + 1))):
    slots.extend(("f", w) for w in PREFIXES[int(rng.integers(len(PREFIXES)))])
    slots.append(("cue", ""))
    slots.append(("c", ""))
  return slots, len(opener)


def cue_word(rng: np.random.Generator, arousal: float, cue_p: float) -> str | None:
  """An intensifier (with probability cue_p * a, a > 0), a hedge (cue_p * -a, a < 0) or None."""
  u = float(rng.random())
  k = int(rng.integers(len(INTENSIFIERS) * len(HEDGES)))
  if u < cue_p * abs(arousal):
    return INTENSIFIERS[k % len(INTENSIFIERS)] if arousal > 0 else HEDGES[k % len(HEDGES)]
  return None


def sentence_text(words: Sequence[str], opener_len: int, arousal: float) -> str:
  """Transcript text: capitalised, a comma after the opener, '!' when arousal > 0.45 else '.'."""
  ws = list(words)
  if opener_len and len(ws) > opener_len:
    ws[opener_len - 1] += ","
  text = " ".join(ws)
  return text[:1].upper() + text[1:] + ("!" if arousal > 0.45 else ".")


def generate_sentences(
  num_sentences: int, seed: int, config: PodcastConfig = PodcastConfig()
) -> list[str]:
  """`num_sentences` lower-case sentences of the podcast design (a Word2Vec training text): the
  same templates, cue words and valence-matched word choice as the recordings, over true curves
  in virtual time (0.35 s per word, 0.9 s per pause)."""
  vocab = content_vocabulary(config)
  vals = np.array([v for _, v in vocab])
  rng = np.random.default_rng([seed, 7927])
  sentences: list[str] = []
  block = 2000
  while len(sentences) < num_sentences:
    n = min(block, num_sentences - len(sentences))
    curves = true_curves(rng, int(n * 8.0 / FRAME_SECONDS), config)
    t = 0.3
    for _ in range(n):
      words: list[str] = []
      for kind, word in sentence_template(rng, config)[0]:
        if kind == "cue":
          word = cue_word(rng, _at(curves[:, 0], t), config.cue_p)
          if word is None:
            continue
        elif kind == "c":
          word = vocab[
            synthesize.pick_content_word(rng, vals, _at(curves[:, 1], t), config.pick_nearest)
          ][0]
        words.append(word)
        t += 0.35
      sentences.append(" ".join(words))
      t += 0.9
  return sentences


def write_text_corpus(
  path: str, num_sentences: int, seed: int, config: PodcastConfig = PodcastConfig()
) -> None:
  """Writes `generate_sentences(num_sentences, seed)` one per line, atomically."""
  wt.atomic_write_text(path, "\n".join(generate_sentences(num_sentences, seed, config)) + "\n")


# ------------------------------------------------------------------------------------ recording


def prosody(qa: float, qv: float, config: PodcastConfig = PodcastConfig()) -> dict[str, float]:
  """espeak-ng parameters for quantised arousal qa and valence qv in [-1, 1]."""
  return {
    "rate": int(round(165 + 55 * qa)),
    "pitch": int(round(48 + 22 * qa + 12 * qv)),
    "range": int(round(95 + 60 * qa + 15 * qv)),
    "gain_db": config.gain_db * qa,
    "gap_s": 0.07 - 0.045 * qa,
  }


def podcast_files(recording_id: str) -> list[str]:
  """Paths (relative to the corpus root) written for one recording (none in word_timings/)."""
  return [
    os.path.join("audio", recording_id + ".wav"),
    os.path.join("labels", recording_id + ".csv"),
    os.path.join("turns", recording_id + ".csv"),
    os.path.join("transcriptions", recording_id + ".csv"),
    os.path.join("truth", "word_timings", recording_id + ".csv"),
    os.path.join("truth", "labels", recording_id + ".csv"),
  ]


PARTNER_TIMINGS_DIR = os.path.join("truth", "partner_word_timings")


def interlocutor_files(recording_id: str) -> list[str]:
  """`podcast_files` plus the partner's true word spans (--interlocutor)."""
  return podcast_files(recording_id) + [os.path.join(PARTNER_TIMINGS_DIR, recording_id + ".csv")]


def write_stereo_wav(path: str, audio: np.ndarray, rate: int = OUT_RATE) -> None:
  """float [N, 2] in [-1, 1] -> 16-bit PCM wav, atomically."""
  pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
  buf = io.BytesIO()
  with wave.open(buf, "wb") as w:
    w.setnchannels(audio.shape[1])
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(pcm.tobytes())
  fileio.atomic_write(path, buf.getvalue())


def _label_lines(rid: str, curves: np.ndarray) -> str:
  return "".join(
    f"{rid};{k * FRAME_SECONDS:.1f};{a:.6f};{v:.6f};{lk:.6f}\n"
    for k, (a, v, lk) in enumerate(curves)
  )


def slot_word(
  rng: np.random.Generator,
  kind: str,
  word: str | None,
  a_t: float,
  v_t: float,
  vocab: Sequence[tuple[str, float]],
  vals: np.ndarray,
  config: PodcastConfig,
) -> str | None:
  """The word of one template slot at arousal `a_t`, valence `v_t`: a cue word (or None: the
  slot is skipped), a content word picked by valence, or the template's own word."""
  if kind == "cue":
    return cue_word(rng, a_t, config.cue_p)
  if kind == "c":
    return vocab[synthesize.pick_content_word(rng, vals, v_t, config.pick_nearest)][0]
  return word


def partner_sentence(
  rng: np.random.Generator,
  curves: np.ndarray,
  voice: str,
  t: float,
  end_limit: float,
  audio: np.ndarray,
  timings: list[wt.WordTiming],
  config: InterlocutorConfig,
  cache: dict,
) -> int:
  """Says one partner sentence from time `t` (s) into `audio` [samples] at 22 050 Hz.

  Words and prosody follow the partner's own true curves [F, 3] (`curves`), never the
  subject's; the sentence stops before a word would end after `end_limit`. Appends the spoken
  words to `timings`; returns the number of new espeak-ng calls.
  """
  vocab = content_vocabulary(config)
  vals = np.array([v for _, v in vocab])
  calls = 0
  for kind, word in sentence_template(rng, config)[0]:
    a_t, v_t = _at(curves[:, 0], t), _at(curves[:, 1], t)
    word = slot_word(rng, kind, word, a_t, v_t, vocab, vals, config)
    if word is None:
      continue
    p = prosody(
      synthesize.level_of(a_t, config.arousal_levels),
      synthesize.level_of(v_t, config.valence_levels),
      config,
    )
    key = (voice, word, p["rate"], p["pitch"], p["range"])
    if key not in cache:
      cache[key] = synthesize.espeak_synth(word, voice, p["rate"], p["pitch"], p["range"])
      calls += 1
    seg = cache[key] * config.base_level * 10 ** ((p["gain_db"] + config.partner_gain_db) / 20)
    start = int(round(t * SAMPLE_RATE))
    if (start + len(seg)) / SAMPLE_RATE > end_limit:
      break
    audio[start : start + len(seg)] += seg
    timings.append(wt.WordTiming(start / SAMPLE_RATE, (start + len(seg)) / SAMPLE_RATE, word))
    t = timings[-1].end + p["gap_s"]
  return calls


def synthesize_recording(
  spec: synthesize.RecordingSpec,
  out_dir: str,
  seconds: float,
  seed: int,
  config: PodcastConfig,
  cache: dict,
) -> dict[str, object]:
  """Generates and writes one podcast recording (`podcast_files`, or `interlocutor_files` for an
  `InterlocutorConfig`); returns its summary dict."""
  rng = np.random.default_rng([seed, spec.index, 2])
  vocab = content_vocabulary(config)
  vals = np.array([v for _, v in vocab])
  num_frames = int(round(seconds / FRAME_SECONDS))
  num_samples = num_frames * int(round(FRAME_SECONDS * SAMPLE_RATE))
  truth = true_curves(rng, num_frames, config)
  gold = rater_labels(rng, truth, config)
  arousal, valence = truth[:, 0], truth[:, 1]
  audio = np.zeros(num_samples, np.float64)
  timings: list[wt.WordTiming] = []
  sentence_of: list[int] = []
  sentences: list[tuple[float, float, str]] = []
  calls = 0
  t = float(rng.uniform(*config.lead_in_s))
  end_limit = seconds - 0.15
  partner = isinstance(config, InterlocutorConfig)
  if partner:  # its own random stream: the subject's draws are those of the plain design
    prng = np.random.default_rng([seed, spec.index, 3])
    p_voice = partner_voice(spec, config.partner_voices)
    p_curves = true_curves(prng, num_frames, config)
    p_timings: list[wt.WordTiming] = []
    p_sentence_of: list[int] = []
  after_partner = set()  # indices of subject sentences that a partner sentence precedes
  while t < end_limit - 0.5:
    slots, opener_len = sentence_template(rng, config)
    words: list[str] = []
    levels: list[float] = []
    for kind, word in slots:
      a_t, v_t = _at(arousal, t), _at(valence, t)
      word = slot_word(rng, kind, word, a_t, v_t, vocab, vals, config)
      if word is None:
        continue
      qa = synthesize.level_of(a_t, config.arousal_levels)
      qv = synthesize.level_of(v_t, config.valence_levels)
      p = prosody(qa, qv, config)
      key = (spec.voice, word, p["rate"], p["pitch"], p["range"])
      if key not in cache:
        cache[key] = synthesize.espeak_synth(word, spec.voice, p["rate"], p["pitch"], p["range"])
        calls += 1
      seg = cache[key] * config.base_level * 10 ** (p["gain_db"] / 20)
      start = int(round(t * SAMPLE_RATE))
      if (start + len(seg)) / SAMPLE_RATE > end_limit:
        break
      audio[start : start + len(seg)] += seg
      w_end = (start + len(seg)) / SAMPLE_RATE
      timings.append(wt.WordTiming(start / SAMPLE_RATE, w_end, word))
      sentence_of.append(len(sentences))
      words.append(word)
      levels.append(a_t)
      t = w_end + p["gap_s"]
    if not words:
      break
    first = len(timings) - len(words)
    sentences.append(
      (
        timings[first].start,
        timings[-1].end,
        sentence_text(words, opener_len if len(words) > opener_len else 0, float(np.mean(levels))),
      )
    )
    t = timings[-1].end + float(rng.uniform(*config.pause_s))
    if partner and prng.random() < config.partner_p:
      n_before = len(p_timings)
      calls += partner_sentence(
        prng,
        p_curves,
        p_voice,
        timings[-1].end + float(prng.uniform(*config.partner_gap_s)),
        end_limit,
        audio,
        p_timings,
        config,
        cache,
      )
      if len(p_timings) > n_before:
        p_sentence_of.extend([len(after_partner)] * (len(p_timings) - n_before))
        after_partner.add(len(sentences))
        t = max(t, p_timings[-1].end + float(prng.uniform(*config.partner_gap_s)))
  up = signal.resample_poly(audio, OUT_RATE // 150, SAMPLE_RATE // 150)  # 320 / 147
  gains_db = (float(rng.uniform(*config.left_gain_db)), float(rng.uniform(*config.right_gain_db)))
  noise = rng.standard_normal((len(up), 2)) * 10 ** (config.noise_dbfs / 20)
  stereo = up[:, None] * (10 ** (np.array(gains_db) / 20))[None, :] + noise
  rid = spec.recording_id
  write_stereo_wav(os.path.join(out_dir, "audio", rid + ".wav"), stereo)
  wt.atomic_write_text(os.path.join(out_dir, "labels", rid + ".csv"), _label_lines(rid, gold))
  wt.atomic_write_text(
    os.path.join(out_dir, "truth", "labels", rid + ".csv"), _label_lines(rid, truth)
  )
  turns: list[list[float]] = []
  for i, (s, e, _) in enumerate(sentences):
    if turns and s - turns[-1][1] < config.turn_gap_s and i not in after_partner:
      turns[-1][1] = e
    else:
      turns.append([s, e])
  wt.atomic_write_text(
    os.path.join(out_dir, "turns", rid + ".csv"), "".join(f"{s:.4f};{e:.4f}\n" for s, e in turns)
  )
  wt.atomic_write_text(
    os.path.join(out_dir, "transcriptions", rid + ".csv"),
    "".join(f"{s:.4f};{e:.4f};'{text}'\n" for s, e, text in sentences),
  )
  wt.write_timings_csv(
    os.path.join(out_dir, "truth", "word_timings", rid + ".csv"), timings, sentence_of
  )
  summary = {
    "recording_id": rid,
    "partition": spec.partition,
    "voice": spec.voice,
    "seconds": num_samples / SAMPLE_RATE,
    "sentences": len(sentences),
    "turns": len(turns),
    "words": len(timings),
    "channel_gains_db": [round(g, 3) for g in gains_db],
    "espeak_calls": calls,
  }
  if partner:
    wt.write_timings_csv(
      os.path.join(out_dir, PARTNER_TIMINGS_DIR, rid + ".csv"), p_timings, p_sentence_of
    )
    summary.update(
      partner_voice=p_voice,
      partner_sentences=len(after_partner),
      partner_words=len(p_timings),
      partner_seconds=round(sum(w.end - w.start for w in p_timings), 3),
    )
  return summary


# -------------------------------------------------------------------------------------- corpus


def describe_design(config: PodcastConfig) -> str:
  """The design section of the module docstring plus the config, as written to README.md."""
  return synthesize.design_text(__doc__, "Podcast design", config)


def synthesize_corpus(
  out_dir: str,
  num_recordings: int | None = 16,
  seconds: float = 60.0,
  seed: int = 0,
  voices: Sequence[str] = PODCAST_VOICES,
  num_workers: int = 2,
  config: PodcastConfig = PodcastConfig(),
  split: Sequence[int] | None = None,
) -> dict[str, object]:
  """Writes a podcast-design corpus to `out_dir` (see the module docstring), resumably, with
  corpus.json written last; arguments as `synthesize.synthesize_corpus`.

  Raises:
    cli.InputError: bad arguments (see `synthesize.validate_request`), before anything is written.
  """
  t0 = time.time()
  partner = isinstance(config, InterlocutorConfig)
  files_fn = interlocutor_files if partner else podcast_files
  specs = synthesize.validate_request(
    out_dir, num_recordings, seconds, voices, num_workers, split, files_fn
  )
  if partner:
    check_partner_voices(config, specs, voices)
  words = function_words()
  for sub in (
    "audio",
    "labels",
    "turns",
    "transcriptions",
    os.path.join("truth", "word_timings"),
    os.path.join("truth", "labels"),
  ) + ((PARTNER_TIMINGS_DIR,) if partner else ()):
    os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
  results = synthesize.run_recordings(
    "podcast", synthesize_recording, files_fn, specs, out_dir, seconds, seed, config, num_workers
  )
  speakers = {
    p: sorted({s.voice for s in specs if s.partition == p}) for p in ("train", "devel", "test")
  }
  meta = {
    "generator": "data_prep.synthesize --design podcast",
    "design": "podcast",
    "seed": seed,
    "seconds": seconds,
    "sample_rate": OUT_RATE,
    "channels": 2,
    "sample_width_bits": 16,
    "label_names": ["arousal", "valence", "liking"],
    "label_step_s": FRAME_SECONDS,
    "label_design": describe_design(config),
    "config": dataclasses.asdict(config),
    "truth": {
      "word_timings": "truth/word_timings",
      "labels": "truth/labels",
      "note": "true word spans and noise-free label curves; not part of the corpus "
      "the pipeline reads (there is no word_timings/ folder)",
    },
    "speakers": speakers,
    "recordings": [
      {
        k: r[k]
        for k in (
          "recording_id",
          "partition",
          "voice",
          "seconds",
          "sentences",
          "turns",
          "words",
          "channel_gains_db",
        )
      }
      for r in results
    ],
    "function_words": words,
    "intensifiers": list(INTENSIFIERS),
    "hedges": list(HEDGES),
    "content_words": [{"word": w, "valence": round(v, 4)} for w, v in content_vocabulary(config)],
    "resume": {r["recording_id"]: r["resume"] for r in results},
  }
  readme_extra = ""
  if partner:
    partners = {
      p: sorted({r["partner_voice"] for r in results if r["partition"] == p})
      for p in ("train", "devel", "test")
    }
    meta["interlocutor"] = {
      "enabled": True,
      "design": INTERLOCUTOR_DESIGN,
      "partner_voices": partners,
      "partner_word_timings": PARTNER_TIMINGS_DIR,
      "transcriptions": "subject only (the partner is not transcribed)",
      "turns": "subject only",
    }
    meta["generator"] += " --interlocutor"
    for rec, r in zip(meta["recordings"], results, strict=False):
      rec.update(
        {
          k: r[k]
          for k in ("partner_voice", "partner_sentences", "partner_words", "partner_seconds")
        }
      )
    readme_extra = (
      "\n"
      + INTERLOCUTOR_DESIGN
      + "\nPartner voices: "
      + json.dumps(partners, sort_keys=True)
      + "\n"
    )
  synthesize.finish_corpus(
    out_dir,
    meta,
    "# Synthetic podcast-design corpus (data_prep.synthesize --design podcast)"
    "\n\n"
    + describe_design(config)
    + "\nSpeakers: "
    + json.dumps(speakers, sort_keys=True)
    + "\n"
    + readme_extra,
  )
  return synthesize._summary(results, t0)


def check_partner_voices(
  config: InterlocutorConfig,
  specs: Sequence[synthesize.RecordingSpec],
  subject_voices: Sequence[str],
) -> None:
  """Raises cli.InputError unless the partner voices are distinct, none is one of the subject
  voices (`subject_voices`, the whole pool), every partition with recordings has one, and
  espeak-ng knows them all."""
  voices = list(config.partner_voices)
  subjects = [v.strip() for v in subject_voices]
  if not voices or len(set(voices)) != len(voices):
    raise cli.InputError(f"--interlocutor: partner voices must be distinct, got {voices}")
  shared = sorted(set(voices) & set(subjects))
  if shared:
    raise cli.InputError(
      f"--voices: {', '.join(shared)} is also an --interlocutor partner voice "
      f"(partners: {', '.join(voices)})"
    )
  groups = partner_groups(voices)
  empty = sorted({s.partition for s in specs if not groups[s.partition]})
  if empty:
    raise cli.InputError(
      f"--interlocutor: no partner voice for partition(s) {', '.join(empty)} "
      f"({len(voices)} partner voices)"
    )
  bad = synthesize.unknown_voices(voices)
  if bad:
    raise cli.InputError(
      f"--interlocutor: espeak-ng does not know partner voice(s) {', '.join(bad)}"
    )


def synthesize_design(
  out_dir: str,
  num_recordings: int | None,
  seconds: float,
  seed: int,
  voices: Sequence[str] | None,
  num_workers: int,
  content_words: int | None = None,
  split: Sequence[int] | None = None,
  interlocutor: bool = False,
) -> dict[str, object]:
  """`synthesize_corpus` with the design's defaults for None arguments (16 recordings); an
  `InterlocutorConfig` when `interlocutor`."""
  if num_recordings is None and split is None:
    num_recordings = 16
  return synthesize_corpus(
    out_dir,
    num_recordings,
    seconds,
    seed,
    voices or PODCAST_VOICES,
    num_workers,
    config_for(content_words, interlocutor),
    split,
  )
