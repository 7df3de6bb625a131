"""A synthetic corpus in the SEWA layout, spoken by espeak-ng, whose labels each live in one view.

    python -m data_prep.synthesize --out DIR --recordings N --seconds S --seed K \
        [--voices en+m1,en+f2,...] [--text_out FILE --text_sentences M]

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
import io
import json
import multiprocessing
import os
import subprocess
import time
import wave
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from absl import logging

from data_prep import lexicon
from emotion_tf.data import word_timings as wt
from emotion_tf import SAMPLE_RATE

DEFAULT_VOICES = ("en+m1", "en+f2", "en-us+m3", "en+f4",       # train
                  "en-gb-scotland+m2", "en-us+f3",             # devel
                  "en+m5", "en+f1")                            # test
FUNCTION_PREFIXES = (
    (), ("the",), ("a",), ("so",), ("and",), ("it", "was"), ("this", "is"), ("we", "felt"),
    ("they", "seemed"), ("i", "think"), ("and", "the"), ("a", "very"), ("that", "was"),
    ("you", "are"), ("then",), ("all", "the"), ("just",), ("my",), ("our",), ("in", "the"),
    ("with", "the"), ("about",), ("there", "was"), ("he", "said"), ("she", "is"),
)
FRAME_SECONDS = 0.1


@dataclasses.dataclass(frozen=True)
class SynthConfig:
  """Generation settings (all recorded in corpus.json)."""
  content_words: int = 240       # content vocabulary size (VADER words spread over valence)
  valence_bins: int = 18         # content words are balanced over this many bins of [-0.9, 0.9]
  pick_nearest: int = 5          # a content word is drawn among the k nearest in valence
  curve_sigma_s: float = 2.5     # smoothing of the label curves (seconds)
  prosody_levels: int = 9        # arousal quantisation for espeak-ng parameters
  gain_db: float = 9.0           # loudness gain at |arousal| = 1
  base_level: float = 0.3        # espeak-ng full scale is multiplied by this before the gain
  noise_dbfs: float = -60.0      # white noise floor of the recording
  pause_s: Tuple[float, float] = (0.5, 1.2)
  lead_in_s: Tuple[float, float] = (0.2, 0.6)


# ----------------------------------------------------------------------------------- vocabulary

@functools.lru_cache(maxsize=8)
def content_vocabulary(config: SynthConfig = SynthConfig()) -> List[Tuple[str, float]]:
  """[(word, valence)] sorted by valence: plain VADER words (4-9 letters) balanced over
  `valence_bins` bins of [-0.9, 0.9], within a bin the words with the lowest rater std first."""
  entries = lexicon.load_valence_entries()
  cands = [(w, v, s) for w, (v, s) in entries.items()
           if lexicon.is_plain_word(w) and 4 <= len(w) <= 9 and abs(v) <= 0.9]
  edges = np.linspace(-0.9, 0.9, config.valence_bins + 1)
  bins: List[List[Tuple[str, float, float]]] = [[] for _ in range(config.valence_bins)]
  for w, v, s in cands:
    b = min(int(np.searchsorted(edges, v, side="right")) - 1, config.valence_bins - 1)
    bins[b].append((w, v, s))
  for b in bins:
    b.sort(key=lambda x: (x[2], x[0]))
  chosen: List[Tuple[str, float]] = []
  depth = 0
  while len(chosen) < config.content_words and any(len(b) > depth for b in bins):
    for b in bins:
      if len(b) > depth and len(chosen) < config.content_words:
        chosen.append((b[depth][0], b[depth][1]))
    depth += 1
  chosen.sort(key=lambda x: (x[1], x[0]))
  return chosen


def function_words() -> List[str]:
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


def label_curves(rng: np.random.Generator, num_frames: int,
                 config: SynthConfig = SynthConfig()) -> np.ndarray:
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

def sentence_template(rng: np.random.Generator) -> List[Optional[str]]:
  """A sentence as slots: function words (str) and content-word slots (None); 2-4 content words."""
  slots: List[Optional[str]] = []
  for _ in range(int(rng.integers(2, 5))):
    slots.extend(FUNCTION_PREFIXES[int(rng.integers(len(FUNCTION_PREFIXES)))])
    slots.append(None)
  return slots


def pick_content_word(rng: np.random.Generator, vocab_valence: np.ndarray, target: float,
                      k: int) -> int:
  """Index of a content word drawn uniformly among the k whose valence is nearest `target`
  (all words tied with the k-th nearest included, so tied words are equally likely)."""
  dist = np.abs(vocab_valence - target)
  kth = np.partition(dist, min(k, len(dist)) - 1)[min(k, len(dist)) - 1]
  candidates = np.flatnonzero(dist <= kth + 1e-9)
  return int(candidates[int(rng.integers(len(candidates)))])


def generate_sentences(num_sentences: int, seed: int,
                       config: SynthConfig = SynthConfig()) -> List[str]:
  """`num_sentences` sentences from the corpus generator (a Word2Vec training text).

  The same templates, vocabulary and valence-matched word choice as the spoken corpus, with a
  smooth valence curve over virtual time (0.35 s per word, 0.8 s per pause), so words of similar
  valence co-occur as they do in the recordings.
  """
  vocab = content_vocabulary(config)
  vals = np.array([v for _, v in vocab])
  rng = np.random.default_rng([seed, 7919])
  sentences: List[str] = []
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
          slot = vocab[pick_content_word(rng, vals, _at(curve, t), config.pick_nearest)][0]
        words.append(slot)
        t += 0.35
      sentences.append(" ".join(words))
      t += 0.8
  return sentences


# ------------------------------------------------------------------------------------- espeak-ng

def prosody(level: float, gain_db: float = SynthConfig.gain_db) -> Dict[str, float]:
  """espeak-ng parameters for arousal level q in [-1, 1] (see the module docstring): rate
  (words/min), pitch (0-99), pitch range (%), loudness gain (dB) and the gap after the word (s)."""
  return {"rate": int(round(170 + 70 * level)), "pitch": int(round(50 + 35 * level)),
          "range": int(round(100 + 80 * level)), "gain_db": gain_db * level,
          "gap_s": 0.05 - 0.04 * level}


def level_of(arousal: float, levels: int) -> float:
  """Arousal quantised to `levels` equally spaced values in [-1, 1]."""
  i = int(round((np.clip(arousal, -1, 1) + 1) / 2 * (levels - 1)))
  return -1.0 + 2.0 * i / (levels - 1)


def espeak_word(word: str, voice: str, level: float) -> np.ndarray:
  """One word from espeak-ng at arousal level `level`, int16 PCM decoded to float32 [samples]
  in [-1, 1] at 22 050 Hz, leading/trailing silence trimmed (5 ms margin kept)."""
  p = prosody(level)
  ssml = f'<speak><prosody range="{p["range"]}%">{word}</prosody></speak>'
  cmd = ["espeak-ng", "-v", voice, "-m", "-s", str(p["rate"]), "-p", str(p["pitch"]),
         "-a", "100", "--stdout", ssml]
  try:
    res = subprocess.run(cmd, capture_output=True, check=True, timeout=30)
  except FileNotFoundError as e:
    raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)") from e
  except subprocess.CalledProcessError as e:
    raise RuntimeError(f"espeak-ng failed for {word!r} voice {voice}: {e.stderr[-300:]!r}") from e
  data = res.stdout
  idx = data.find(b"data")
  if idx < 0:
    raise RuntimeError(f"espeak-ng returned no wav data for {word!r} voice {voice}")
  pcm = data[idx + 8:]
  x = np.frombuffer(pcm[:len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
  loud = np.nonzero(np.abs(x) > 0.02 * max(float(np.abs(x).max()), 1e-6))[0]
  if loud.size == 0:
    raise RuntimeError(f"espeak-ng produced silence for {word!r} voice {voice}")
  margin = int(0.005 * SAMPLE_RATE)
  return x[max(0, loud[0] - margin):loud[-1] + 1 + margin]


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
  _atomic_write_bytes(path, buf.getvalue())


def _atomic_write_bytes(path: str, data: bytes) -> None:
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(data)
  os.replace(tmp, path)


def synthesize_recording(spec: RecordingSpec, out_dir: str, seconds: float, seed: int,
                         config: SynthConfig, cache: Dict) -> Dict[str, object]:
  """Generates and writes one recording's audio, labels, turns, transcription, word timings.

  Returns a summary dict (id, words, sentences, seconds, espeak calls).
  """
  rng = np.random.default_rng([seed, spec.index, 1])
  vocab = content_vocabulary(config)
  vals = np.array([v for _, v in vocab])
  num_frames = int(round(seconds / FRAME_SECONDS))
  num_samples = num_frames * int(round(FRAME_SECONDS * SAMPLE_RATE))
  curves = label_curves(rng, num_frames, config)
  arousal, valence = curves[:, 0], curves[:, 1]
  noise = rng.standard_normal(num_samples) * 10 ** (config.noise_dbfs / 20)
  audio = np.zeros(num_samples, np.float64)
  timings: List[wt.WordTiming] = []
  sentence_of: List[int] = []
  sentences: List[Tuple[float, float, List[str]]] = []
  calls = 0
  t = float(rng.uniform(*config.lead_in_s))
  end_limit = seconds - 0.15
  while t < end_limit - 0.5:
    slots = sentence_template(rng)
    words: List[str] = []
    for slot in slots:
      word = slot if slot is not None else vocab[pick_content_word(
          rng, vals, _at(valence, t), config.pick_nearest)][0]
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
      audio[start:start + len(seg)] += seg
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
  _write_wav(os.path.join(out_dir, "audio", rid + ".wav"), audio)
  label_lines = "".join(
      f"{rid};{k * FRAME_SECONDS:.1f};{a:.6f};{v:.6f};{l:.6f}\n"
      for k, (a, v, l) in enumerate(curves))
  wt.atomic_write_text(os.path.join(out_dir, "labels", rid + ".csv"), label_lines)
  wt.atomic_write_text(os.path.join(out_dir, "turns", rid + ".csv"),
                       "".join(f"{s:.4f};{e:.4f}\n" for s, e, _ in sentences))
  wt.atomic_write_text(os.path.join(out_dir, "transcriptions", rid + ".csv"),
                       "".join(f"{s:.4f};{e:.4f};'{' '.join(ws)}'\n" for s, e, ws in sentences))
  wt.write_timings_csv(os.path.join(out_dir, "word_timings", rid + ".csv"), timings, sentence_of)
  return {"recording_id": rid, "partition": spec.partition, "voice": spec.voice,
          "seconds": num_samples / SAMPLE_RATE, "sentences": len(sentences),
          "words": len(timings), "espeak_calls": calls}


def _worker(args) -> List[Dict[str, object]]:
  specs, out_dir, seconds, seed, config = args
  cache: Dict = {}
  return [synthesize_recording(s, out_dir, seconds, seed, config, cache) for s in specs]


# -------------------------------------------------------------------------------------- corpus

def split_counts(n: int) -> Tuple[int, int, int]:
  """Recordings per partition, 50/25/25 % (train gets the rounding; each non-empty when n >= 3)."""
  if n < 3:
    return (n, 0, 0)
  devel = max(1, int(round(n * 0.25)))
  test = max(1, int(round(n * 0.25)))
  return (n - devel - test, devel, test)


def plan_recordings(num_recordings: int, voices: Sequence[str]) -> List[RecordingSpec]:
  """Ids, partitions and voices: voices split 50/25/25 % (disjoint), round-robin within a partition."""
  counts = split_counts(num_recordings)
  nv = len(voices)
  if num_recordings >= 3 and nv < 3:
    raise ValueError(f"need at least 3 voices for disjoint train/devel/test speakers, got {nv}")
  v_dev = max(1, int(round(nv * 0.25))) if nv >= 3 else 0
  v_test = max(1, int(round(nv * 0.25))) if nv >= 3 else 0
  groups = {"train": list(voices[:nv - v_dev - v_test]),
            "devel": list(voices[nv - v_dev - v_test:nv - v_test]),
            "test": list(voices[nv - v_test:])}
  specs, index = [], 0
  for (part, prefix), n in zip((("train", "Train"), ("devel", "Devel"), ("test", "Test")), counts):
    for i in range(n):
      specs.append(RecordingSpec(f"{prefix}_{i + 1:02d}", part, groups[part][i % len(groups[part])],
                                 index))
      index += 1
  return specs


def describe_design(config: SynthConfig) -> str:
  """The label design, as written to README.md (the module docstring's design section)."""
  doc = __doc__ or ""
  return doc[doc.index("Label design"):].strip() + "\n\nConfig: " + json.dumps(
      dataclasses.asdict(config), sort_keys=True) + "\n"


def synthesize_corpus(out_dir: str, num_recordings: int = 40, seconds: float = 60.0, seed: int = 0,
                      voices: Sequence[str] = DEFAULT_VOICES, num_workers: int = 2,
                      config: SynthConfig = SynthConfig()) -> Dict[str, object]:
  """Writes a synthetic SEWA-layout corpus to `out_dir` (see the module docstring).

  Args:
    out_dir: created if needed; audio/ labels/ turns/ transcriptions/ word_timings/,
      corpus.json and README.md are (over)written.
    num_recordings: total recordings, split 50/25/25 % into Train/Devel/Test.
    seconds: length of every recording.
    seed: the only source of randomness; same arguments -> byte-identical files.
    voices: espeak-ng voices (speakers), split 50/25/25 % over the partitions (disjoint).
    num_workers: processes (recordings of one voice share a worker and its espeak-ng cache).

  Returns:
    summary dict: recordings (list of per-recording dicts), seconds of audio, espeak calls,
    wall seconds.
  """
  if num_recordings < 1 or seconds < 2:
    raise ValueError(f"need >= 1 recording of >= 2 s, got {num_recordings} x {seconds} s")
  t0 = time.time()
  for sub in ("audio", "labels", "turns", "transcriptions", "word_timings"):
    os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
  function_words()  # validates neutrality
  specs = plan_recordings(num_recordings, voices)
  by_voice: Dict[str, List[RecordingSpec]] = {}
  for s in specs:
    by_voice.setdefault(s.voice, []).append(s)
  tasks = [(group, out_dir, seconds, seed, config)
           for group in sorted(by_voice.values(), key=len, reverse=True)]
  results: List[Dict[str, object]] = []
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
  vocab = content_vocabulary(config)
  meta = {
      "generator": "data_prep.synthesize", "seed": seed, "seconds": seconds,
      "sample_rate": SAMPLE_RATE, "label_names": ["arousal", "valence", "liking"],
      "label_design": describe_design(config),
      "config": dataclasses.asdict(config),
      "prosody_levels": {f"{q:+.2f}": prosody(float(q), config.gain_db)
                         for q in np.linspace(-1, 1, config.prosody_levels)},
      "speakers": {p: sorted({s.voice for s in specs if s.partition == p})
                   for p in ("train", "devel", "test")},
      "recordings": [{k: r[k] for k in ("recording_id", "partition", "voice", "seconds",
                                         "sentences", "words")} for r in results],
      "function_words": function_words(),
      "content_words": [{"word": w, "valence": round(v, 4)} for w, v in vocab],
  }
  wt.atomic_write_text(os.path.join(out_dir, "corpus.json"),
                       json.dumps(meta, indent=1, sort_keys=True) + "\n")
  wt.atomic_write_text(os.path.join(out_dir, "README.md"),
                       "# Synthetic SEWA-layout corpus (data_prep.synthesize)\n\n" +
                       describe_design(config) + "\nSpeakers: " +
                       json.dumps(meta["speakers"], sort_keys=True) + "\n")
  wall = time.time() - t0
  summary = {"recordings": results, "seconds_of_audio": float(sum(r["seconds"] for r in results)),
             "espeak_calls": int(sum(r["espeak_calls"] for r in results)), "wall_s": wall}
  logging.info("synthetic corpus: %d recordings, %.0f s of audio, %d espeak-ng calls, %.1f s wall",
               len(results), summary["seconds_of_audio"], summary["espeak_calls"], wall)
  return summary


def write_text_corpus(path: str, num_sentences: int, seed: int,
                      config: SynthConfig = SynthConfig()) -> None:
  """Writes `generate_sentences(num_sentences, seed)` one per line, atomically."""
  wt.atomic_write_text(path, "\n".join(generate_sentences(num_sentences, seed, config)) + "\n")
