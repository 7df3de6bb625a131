"""Word timings: which word is spoken when (DESIGN.md "Word timings").

Three sources, all returning `WordTiming(start, end, word)` lists sorted by start, with words put
through the one normalisation `normalize_word`:
  (a) `uniform_timings`: each transcript sentence's span split evenly over its words (the
      original code's fallback when no alignment exists);
  (b) `read_timings_csv`: the sync-map CSV `id;start;end;word` (`id` = `s<sentence>w<word>`);
  (c) `read_textgrid`: a Praat TextGrid word tier (what forced aligners such as MFA write).
"""

import os
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from absl import logging

from emotion_tf.data import corpus
from emotion_tf.util import fileio


class WordTiming(NamedTuple):
  """One spoken word: times in seconds, normalised word."""

  start: float
  end: float
  word: str


# Non-verbal tags mapped to lexical words, so that a vector exists for them in a text-trained
# space (the original code replaced SEWA's tags by ordinary words before the Word2Vec lookup):
#   <laughter> <laugh> <laughing> <giggle> <chuckle>  -> laugh
#   <smile> <smiling>                                  -> smile
#   <sigh> <sighing>                                   -> sigh
#   <cough> <coughing>                                 -> cough
#   <breath> <breathing> <inhale> <exhale>             -> breath
#   <filler> <hesitation> <uh> <um> <hmm>              -> um
#   <cry> <crying> <sob>                               -> cry
#   <scream> <shout>                                   -> scream
# Any other tag is kept verbatim (lower case, with its angle brackets), e.g. `<noise>`.
TAG_SYNONYMS = {
  "laughter": "laugh",
  "laugh": "laugh",
  "laughing": "laugh",
  "giggle": "laugh",
  "chuckle": "laugh",
  "smile": "smile",
  "smiling": "smile",
  "sigh": "sigh",
  "sighing": "sigh",
  "cough": "cough",
  "coughing": "cough",
  "breath": "breath",
  "breathing": "breath",
  "inhale": "breath",
  "exhale": "breath",
  "filler": "um",
  "hesitation": "um",
  "uh": "um",
  "um": "um",
  "hmm": "um",
  "cry": "cry",
  "crying": "cry",
  "sob": "cry",
  "scream": "scream",
  "shout": "scream",
}

_TAG_RE = re.compile(r"^<\s*([^<>]*?)\s*>$")
_NON_WORD_RE = re.compile(r"[^\w]+", re.UNICODE)
_TOKEN_RE = re.compile(r"<[^<>]*>|[^\s<>]+")
_SPLIT_RE = re.compile(r"[-/]+")


def normalize_word(token: str) -> str:
  """The one word normalisation.

  Lower case; a tag `<...>` is mapped by TAG_SYNONYMS (e.g. `<laughter>` -> `laugh`) or kept as
  `<tag>`; otherwise every non-alphanumeric character (punctuation, apostrophes, underscores) is
  removed (`Don't!` -> `dont`). Returns '' when nothing is left.
  """
  token = token.strip().lower()
  m = _TAG_RE.match(token)
  if m:
    name = re.sub(r"\s+", "_", m.group(1))
    if not name:
      return ""
    return TAG_SYNONYMS.get(name, f"<{name}>")
  return _NON_WORD_RE.sub("", token).replace("_", "")


def tokenize(text: str) -> list[str]:
  """Normalised words of one transcript sentence: split on whitespace, hyphens and slashes; tags
  `<...>` are single tokens even when glued to a word (`yes<laughter>`); empty results dropped."""
  out = []
  for raw in _TOKEN_RE.findall(text):
    parts = [raw] if raw.startswith("<") else _SPLIT_RE.split(raw)
    for p in parts:
      w = normalize_word(p)
      if w:
        out.append(w)
  return out


def uniform_timings(transcription_rows: Iterable[tuple[float, float, str]]) -> list[WordTiming]:
  """Splits each (start, end, text) span evenly over its words: word i of n gets
  [start + i*(end-start)/n, start + (i+1)*(end-start)/n]."""
  out = []
  for start, end, text in transcription_rows:
    words = tokenize(text)
    n = len(words)
    for i, w in enumerate(words):
      out.append(WordTiming(start + i * (end - start) / n, start + (i + 1) * (end - start) / n, w))
  out.sort(key=lambda t: (t.start, t.end))
  return out


def _check_span(path: str, lineno: int, start: float, end: float) -> None:
  if end < start or start < 0:
    raise corpus.CorpusError(f"{path}:{lineno}: bad word span start={start} end={end}")


def read_timings_csv(path: str) -> list[WordTiming]:
  """Reads `id;start;end;word` rows (an optional header `id;start;end;word` is skipped).

  Raises:
    CorpusError: `<path>:<line>: ...` for a wrong field count, non-numeric/NaN times or end < start.
  """
  out = []
  for lineno, line in enumerate(corpus.read_text_lines(path, "word timings"), start=1):
    if not line.strip():
      continue
    parts = line.strip().split(";")
    if len(parts) < 4:
      raise corpus.CorpusError(
        f"{path}:{lineno}: expected 'id;start;end;word', got {line.strip()!r}"
      )
    if lineno == 1 and parts[1].strip().lower() == "start":
      continue
    start = corpus._float(parts[1], path, lineno, "start")
    end = corpus._float(parts[2], path, lineno, "end")
    _check_span(path, lineno, start, end)
    for w in tokenize(";".join(parts[3:])):
      out.append(WordTiming(start, end, w))
  out.sort(key=lambda t: (t.start, t.end))
  return out


def write_timings_csv(
  path: str,
  timings: Sequence[WordTiming],
  sentences: Sequence[int] | None = None,
  sentence_gap_s: float = 0.3,
) -> None:
  """Writes `id;start;end;word` rows atomically, no header, times with 4 decimals.

  Args:
    path: output CSV.
    timings: words in order.
    sentences: sentence number per word (ids become `s<sentence>w<k>`, k counting from 0 within
      the sentence); None infers a new sentence wherever the gap to the previous word is at least
      `sentence_gap_s` seconds (sentences counted from 0).
  """
  if sentences is None:
    sentences, s, prev_end = [], 0, None
    for t in timings:
      if prev_end is not None and t.start - prev_end >= sentence_gap_s:
        s += 1
      sentences.append(s)
      prev_end = t.end
  if len(sentences) != len(timings):
    raise ValueError(f"{path}: {len(sentences)} sentence numbers for {len(timings)} words")
  lines, k, prev = [], 0, None
  for t, s in zip(timings, sentences, strict=False):
    k = k + 1 if s == prev else 0
    prev = s
    lines.append(f"s{s}w{k};{t.start:.4f};{t.end:.4f};{t.word}\n")
  atomic_write_text(path, "".join(lines))


atomic_write_text = fileio.atomic_write_text

# ------------------------------------------------------------------------------------- TextGrid

# Quoted strings ("" escapes a quote) or bare numbers that are not an index such as `[3]`.
_TG_TOKEN_RE = re.compile(
  r'"((?:[^"]|"")*)"|(?<![\[\w.])(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\]\w])'
)
SILENCE_MARKS = frozenset({"", "sil", "sp", "spn", "<sil>", "<sp>", "#", "<eps>"})


def _textgrid_tokens(path: str) -> list[tuple[str, object]]:
  corpus.check_readable_file(path, "TextGrid")
  try:
    with open(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise corpus.CorpusError(f"{path}: cannot read TextGrid file ({e.strerror or e})") from e
  if data.startswith((b"\xff\xfe", b"\xfe\xff")):
    text = data.decode("utf-16")
  else:
    try:
      text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
      line = data[: e.start].count(b"\n") + 1
      raise corpus.CorpusError(f"{path}:{line}: not valid UTF-8 or UTF-16") from e
  tokens = []
  for m in _TG_TOKEN_RE.finditer(text):
    if m.group(1) is not None:
      tokens.append(("s", m.group(1).replace('""', '"')))
    else:
      tokens.append(("n", float(m.group(2))))
  return tokens


def read_textgrid(path: str, tier: str | None = None) -> list[WordTiming]:
  """Reads a word tier of a Praat TextGrid (long or short text format, UTF-8 or UTF-16).

  Args:
    path: the .TextGrid file.
    tier: tier name; None picks the interval tier named `words`/`word` (any case), else the
      first interval tier.

  Returns:
    WordTiming per non-silent interval (marks '', 'sil', 'sp', 'spn', '<eps>' skipped), each mark
    tokenised/normalised (a multi-word mark shares the interval).

  Raises:
    CorpusError: naming the file for a malformed file or a missing tier.
  """
  tokens = _textgrid_tokens(path)
  pos = 0

  def take(kind: str):
    nonlocal pos
    if pos >= len(tokens) or tokens[pos][0] != kind:
      got = tokens[pos] if pos < len(tokens) else "end of file"
      raise corpus.CorpusError(
        f"{path}: malformed TextGrid (expected a {'string' if kind == 's' else 'number'} "
        f"at token {pos}, got {got!r})"
      )
    pos += 1
    return tokens[pos - 1][1]

  if take("s") != "ooTextFile" or take("s") != "TextGrid":
    raise corpus.CorpusError(f"{path}: not a Praat TextGrid (header 'ooTextFile' 'TextGrid')")
  take("n")
  take("n")
  num_tiers = int(take("n"))
  tiers = {}
  order = []
  for _ in range(num_tiers):
    cls, name = take("s"), take("s")
    take("n")
    take("n")
    count = int(take("n"))
    items = []
    for _ in range(count):
      if cls == "IntervalTier":
        items.append((take("n"), take("n"), take("s")))
      else:
        t = take("n")
        items.append((t, t, take("s")))
    tiers.setdefault(name, (cls, items))
    order.append(name)
  if tier is None:
    interval = [n for n in order if tiers[n][0] == "IntervalTier"]
    named = [n for n in interval if n.strip().lower() in ("words", "word")]
    if not interval:
      raise corpus.CorpusError(f"{path}: TextGrid has no interval tier")
    tier = (named or interval)[0]
  if tier not in tiers:
    raise corpus.CorpusError(f"{path}: TextGrid has no tier {tier!r} (tiers: {order})")
  out = []
  for start, end, mark in tiers[tier][1]:
    if mark.strip().lower() in SILENCE_MARKS:
      continue
    if end < start:
      raise corpus.CorpusError(f"{path}: interval {mark!r} ends ({end}) before it starts ({start})")
    for w in tokenize(mark):
      out.append(WordTiming(float(start), float(end), w))
  out.sort(key=lambda t: (t.start, t.end))
  return out


def write_textgrid(
  path: str, timings: Sequence[WordTiming], duration: float, tier: str = "words"
) -> None:
  """Writes `timings` as a long-format TextGrid with one interval tier (gaps as empty intervals)."""
  intervals, cursor = [], 0.0
  for t in sorted(timings, key=lambda t: t.start):
    if t.start > cursor:
      intervals.append((cursor, t.start, ""))
    intervals.append((max(t.start, cursor), t.end, t.word))
    cursor = t.end
  if duration > cursor:
    intervals.append((cursor, duration, ""))
  lines = [
    'File type = "ooTextFile"',
    'Object class = "TextGrid"',
    "",
    "xmin = 0",
    f"xmax = {duration}",
    "tiers? <exists>",
    "size = 1",
    "item []:",
    "    item [1]:",
    '        class = "IntervalTier"',
    f'        name = "{tier}"',
    "        xmin = 0",
    f"        xmax = {duration}",
    f"        intervals: size = {len(intervals)}",
  ]
  for i, (a, b, w) in enumerate(intervals, start=1):
    lines += [
      f"        intervals [{i}]:",
      f"            xmin = {a}",
      f"            xmax = {b}",
      '            text = "{}"'.format(w.replace('"', '""')),
    ]
  atomic_write_text(path, "\n".join(lines) + "\n")


def resolve_timings_dir(corpus_dir: str, word_timings_dir: str | None = None) -> str | None:
  """The word-timings directory a binary uses: `word_timings_dir` when given, else
  `<corpus_dir>/word_timings` when that directory exists (what `python -m data_prep.align_words`
  writes), else None (uniform split of the transcripts)."""
  if word_timings_dir:
    return word_timings_dir
  default = os.path.join(corpus_dir, "word_timings")
  if os.path.isdir(default):
    logging.info("word timings from %s (no --word_timings given)", default)
    return default
  return None


def find_timings_file(directory: str, stem: str) -> str | None:
  """`<directory>/<stem>.csv`, else `<stem>.TextGrid` / `.textgrid`, or None: the one finder
  of a recording's word-timings file (TFRecord writer, predict)."""
  for ext in (".csv", ".TextGrid", ".textgrid"):
    path = os.path.join(directory, stem + ext)
    if os.path.exists(path):
      return path
  return None


def _timings_source(
  corpus_dir: str, recording_id: str, word_timings_dir: str | None
) -> tuple[str, str]:
  path = find_timings_file(word_timings_dir, recording_id) if word_timings_dir else None
  if path is not None:
    return path, "csv" if path.endswith(".csv") else "textgrid"
  return os.path.join(corpus_dir, "transcriptions", recording_id + ".csv"), "transcript"


def timings_source(corpus_dir: str, recording_id: str, word_timings_dir: str | None = None) -> str:
  """The file `load_word_timings` reads for a recording (the transcript may not exist).

  `<word_timings_dir>/<id>.csv`, else `<word_timings_dir>/<id>.TextGrid` when the directory
  is given and the file exists; otherwise `<corpus_dir>/transcriptions/<id>.csv`.
  """
  return _timings_source(corpus_dir, recording_id, word_timings_dir)[0]


def load_word_timings(
  corpus_dir: str, recording_id: str, word_timings_dir: str | None = None
) -> list[WordTiming]:
  """Word timings of one recording.

  Source (`timings_source`): `<word_timings_dir>/<id>.csv`, else
  `<word_timings_dir>/<id>.TextGrid` when the directory is given and the file exists;
  otherwise the uniform split of `<corpus_dir>/transcriptions/<id>.csv`. A recording without
  a transcription has no words (logged as a warning).
  """
  path, kind = _timings_source(corpus_dir, recording_id, word_timings_dir)
  if kind == "csv":
    return read_timings_csv(path)
  if kind == "textgrid":
    return read_textgrid(path)
  if word_timings_dir:
    logging.info(
      "%s: no %s.csv or .TextGrid; using the uniform split of the transcript",
      word_timings_dir,
      recording_id,
    )
  if not os.path.exists(path):
    logging.warning("%s: transcription missing; recording %s has no words", path, recording_id)
    return []
  return uniform_timings(corpus.read_transcription(path))
