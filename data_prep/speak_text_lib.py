"""A Speech2Vec pretraining corpus spoken from a text corpus, in the LibriSpeech layout.

    python -m data_prep.speak_text --text FILE --out DIR --hours H [--voices ...] --seed K

Reads sentences (one a line, e.g. the Word2Vec text of `python -m data_prep.synthesize
--text_out`) and speaks them, in order from a seeded start line and cycling, with many
voices until H hours of audio are written. Every word is synthesised on its own
(`synthesize_lib.espeak_synth`: espeak-ng, or flite for `flite:<name>` voices) and placed
after the previous one with a short gap, so the word spans are the synthesiser's own, exact.

Layout (`emotion_tf.semantic.pretrain_corpus` reads it):
  <out>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   `<id> WORDS` (upper case)
  <out>/<speaker>/<chapter>/<id>.wav                        22.05 kHz mono 16-bit
  <out>/<speaker>/<chapter>/<id>.csv                        word spans `s0w<k>;start;end;word`
  <out>/speak_text.json                                     settings and totals (written last)
Speaker = voice (numbered 1.. in --voices order); a chapter is `utterances_per_chapter`
consecutive sentences of one voice; chapters take the voices in a seeded round-robin order.
Each utterance draws its own rate (130-230 words/min), pitch (25-75) and pitch range
(50-150 %), gaps between words (20-90 ms) and 0.1-0.3 s of lead-in/tail, seeded by
(seed, utterance number): the output is byte-identical for the same arguments.

Resumable: an utterance whose wav and csv exist is kept (both are written atomically, the
csv last); chapters are written in order and the corpus stops at the first chapter that
reaches H hours, so a rerun with a larger H extends the same corpus.
"""

import dataclasses
import io
import json
import multiprocessing
import os
import shutil
import time
import wave
from collections.abc import Sequence

import numpy as np
from absl import logging

from data_prep import synthesize_lib
from emotion_tf import SAMPLE_RATE
from emotion_tf.data import word_timings as wt
from emotion_tf.util import fileio

DEFAULT_VOICES = tuple(
  [f"en+m{i}" for i in range(1, 8)]
  + [f"en+f{i}" for i in range(1, 6)]
  + [
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-us-nyc",
    "en-029",
    "flite:slt",
    "flite:kal16",
    "flite:rms",
    "flite:awb",
  ]
)
SETTINGS_FILE = "speak_text.json"
NOISE_DBFS = -60.0


@dataclasses.dataclass(frozen=True)
class SpeakConfig:
  """What to speak: sentences file, hours, voices, seed, chapter size."""

  text: str
  hours: float
  voices: tuple[str, ...] = DEFAULT_VOICES
  seed: int = 0
  utterances_per_chapter: int = 20


def read_sentences(path: str) -> list[list[str]]:
  """Token lists (`word_timings.tokenize`) of the non-empty lines of `path`."""
  from emotion_tf.data import corpus

  out = [wt.tokenize(line) for line in corpus.read_text_lines(path, "text corpus")]
  out = [s for s in out if s]
  if not out:
    raise ValueError(f"{path}: the text corpus holds no words")
  return out


def utterance_plan(index: int, seed: int) -> dict[str, object]:
  """Prosody of utterance `index`: rate, pitch, pitch range, word gaps, lead-in, tail."""
  rng = np.random.default_rng([seed, index, 7])
  return {
    "rate": int(rng.integers(130, 231)),
    "pitch": int(rng.integers(25, 76)),
    "range": int(rng.integers(50, 151)),
    "gap_s": (0.02, 0.09),
    "lead_s": float(rng.uniform(0.1, 0.3)),
    "tail_s": float(rng.uniform(0.1, 0.3)),
    "noise_seed": [seed, index, 8],
  }


def speak_utterance(
  words: Sequence[str], voice: str, plan: dict[str, object]
) -> tuple[np.ndarray, list[wt.WordTiming]]:
  """Speaks `words` one by one with `voice` -> (audio float32 [samples] at SAMPLE_RATE, spans)."""
  rng = np.random.default_rng(plan["noise_seed"])
  pieces, timings = [], []
  t = int(round(plan["lead_s"] * SAMPLE_RATE))
  for word in words:
    x = synthesize_lib.espeak_synth(word, voice, plan["rate"], plan["pitch"], plan["range"])
    x = x * (0.3 / max(float(np.abs(x).max()), 1e-6))
    pieces.append((t, x))
    timings.append(wt.WordTiming(t / SAMPLE_RATE, (t + len(x)) / SAMPLE_RATE, word))
    t += len(x) + int(round(rng.uniform(*plan["gap_s"]) * SAMPLE_RATE))
  total = t + int(round(plan["tail_s"] * SAMPLE_RATE))
  audio = rng.standard_normal(total) * 10 ** (NOISE_DBFS / 20)
  for start, x in pieces:
    audio[start : start + len(x)] += x
  return audio.astype(np.float32), timings


def _wav_bytes(audio: np.ndarray) -> bytes:
  pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2").tobytes()
  buf = io.BytesIO()
  with wave.open(buf, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(SAMPLE_RATE)
    w.writeframes(pcm)
  return buf.getvalue()


def _wav_seconds(path: str) -> float:
  with wave.open(path, "rb") as w:
    return w.getnframes() / float(w.getframerate())


def chapter_voice(chapter: int, voices: Sequence[str], seed: int) -> int:
  """Index into `voices` of chapter `chapter`: a seeded permutation, repeated."""
  order = np.random.default_rng([seed, 3]).permutation(len(voices))
  return int(order[chapter % len(voices)])


def speak_chapter(args) -> dict[str, object]:
  """Writes (or keeps) the utterances of one chapter; returns its seconds and word counts."""
  out_dir, config, sentences, chapter = args
  v = chapter_voice(chapter, config.voices, config.seed)
  speaker = str(v + 1)
  directory = os.path.join(out_dir, speaker, str(chapter))
  os.makedirs(directory, exist_ok=True)
  seconds, words, kept, lines = 0.0, 0, 0, []
  first_line = int(np.random.default_rng([config.seed, 1]).integers(len(sentences)))
  for k in range(config.utterances_per_chapter):
    index = chapter * config.utterances_per_chapter + k
    sentence = sentences[(first_line + index) % len(sentences)]
    uid = f"{speaker}-{chapter}-{k:04d}"
    wav_path, csv_path = (os.path.join(directory, uid + e) for e in (".wav", ".csv"))
    if os.path.exists(csv_path) and os.path.exists(wav_path):
      seconds += _wav_seconds(wav_path)
      kept += 1
    else:
      audio, timings = speak_utterance(
        sentence, config.voices[v], utterance_plan(index, config.seed)
      )
      fileio.atomic_write(wav_path, _wav_bytes(audio))
      wt.write_timings_csv(csv_path, timings, [0] * len(timings))
      seconds += len(audio) / SAMPLE_RATE
    words += len(sentence)
    lines.append(f"{uid} {' '.join(sentence).upper()}\n")
  fileio.atomic_write_text(
    os.path.join(directory, f"{speaker}-{chapter}.trans.txt"), "".join(lines)
  )
  return {
    "chapter": chapter,
    "voice": config.voices[v],
    "seconds": seconds,
    "words": words,
    "kept": kept,
  }


def check_settings(out_dir: str, config: SpeakConfig) -> None:
  """An --out spoken with another text, voices, seed or chapter size is an error (not hours)."""
  path = os.path.join(out_dir, SETTINGS_FILE)
  if not os.path.exists(path):
    return
  try:
    with open(path, encoding="utf-8") as f:
      old = json.load(f)["settings"]
  except (OSError, ValueError, KeyError) as e:
    raise ValueError(f"{path}: unreadable settings file ({e}); remove it to start over") from e
  new = _settings(config)
  diff = {k: (old.get(k), v) for k, v in new.items() if k != "hours" and old.get(k) != v}
  if diff:
    raise ValueError(
      f"{out_dir}: holds a corpus spoken with other settings {diff}; "
      "use a new --out or the same flags"
    )


def _settings(config: SpeakConfig) -> dict[str, object]:
  d = dataclasses.asdict(config)
  d["voices"] = list(config.voices)
  d["text"] = os.path.abspath(config.text)
  d["text_sha256"] = fileio.file_sha256(config.text)
  return d


def speak_corpus(out_dir: str, config: SpeakConfig, num_workers: int = 1) -> dict[str, object]:
  """Speaks chapters (`num_workers` in parallel) until `config.hours` hours are written.

  Returns the summary also written to <out>/speak_text.json.
  Raises:
    ValueError: empty text, unknown voices, an --out with other settings.
  """
  t0 = time.time()
  sentences = read_sentences(config.text)
  bad = synthesize_lib.unknown_voices(config.voices)
  if bad:
    raise ValueError(f"voices espeak-ng/flite cannot speak: {bad}")
  os.makedirs(out_dir, exist_ok=True)
  check_settings(out_dir, config)
  target, seconds, chapters = config.hours * 3600.0, 0.0, []
  pool = multiprocessing.Pool(num_workers) if num_workers > 1 else None
  try:
    while seconds < target:
      jobs = [(out_dir, config, sentences, len(chapters) + i) for i in range(max(num_workers, 1))]
      results = pool.map(speak_chapter, jobs) if pool else [speak_chapter(j) for j in jobs]
      for r in results:  # in chapter order; stop at the first chapter that reaches the target
        if seconds >= target:  # spoken in parallel beyond the target: not part of the corpus
          speaker_dir = os.path.join(
            out_dir, str(chapter_voice(r["chapter"], config.voices, config.seed) + 1)
          )
          shutil.rmtree(os.path.join(speaker_dir, str(r["chapter"])))
          if not os.listdir(speaker_dir):
            os.rmdir(speaker_dir)
          continue
        chapters.append(r)
        seconds += r["seconds"]
        logging.info(
          "chapter %d (%s): %.0f s%s; %.2f of %.2f h",
          r["chapter"],
          r["voice"],
          r["seconds"],
          " (kept)" if r["kept"] == config.utterances_per_chapter else "",
          seconds / 3600,
          config.hours,
        )
  finally:
    if pool:
      pool.close()
      pool.join()
  summary = {
    "settings": _settings(config),
    "chapters": len(chapters),
    "utterances": len(chapters) * config.utterances_per_chapter,
    "words": int(sum(r["words"] for r in chapters)),
    "seconds_of_audio": seconds,
    "voices_used": sorted({r["voice"] for r in chapters}),
    "wall_s": time.time() - t0,
  }
  fileio.write_json(os.path.join(out_dir, SETTINGS_FILE), summary)
  return summary


def speak_file_names(out_dir: str) -> list[str]:
  """Every file of a spoken corpus, relative to `out_dir`, sorted (for checks and tests)."""
  out = []
  for dirpath, _, files in os.walk(out_dir):
    out += [os.path.relpath(os.path.join(dirpath, f), out_dir) for f in files]
  return sorted(out)


def load_summary(out_dir: str) -> dict[str, object] | None:
  path = os.path.join(out_dir, SETTINGS_FILE)
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)
