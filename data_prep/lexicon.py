"""Human-rated valence lexicon: VADER (Hutto & Gilbert 2014), shipped in the vaderSentiment wheel.

`vader_lexicon.txt` rows are `token<TAB>mean<TAB>std<TAB>[ten raw ratings]`, mean in [-4, 4].
Nothing is downloaded: the file is located in the installed package.
"""

import importlib.resources
import os
import re

LEXICON_SCALE = 4.0  # VADER means lie in [-4, 4]; divided by this they lie in [-1, 1].


def lexicon_path() -> str:
  """Path of `vader_lexicon.txt` inside the installed vaderSentiment package."""
  try:
    path = importlib.resources.files("vaderSentiment").joinpath("vader_lexicon.txt")
  except ModuleNotFoundError as e:
    raise FileNotFoundError(
      "vaderSentiment is not installed (pip install -r requirements.txt); it ships "
      "vader_lexicon.txt, the valence lexicon"
    ) from e
  path = str(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: vader_lexicon.txt missing from the vaderSentiment package")
  return path


def load_valence_entries() -> dict[str, tuple[float, float]]:
  """Reads the lexicon as {token: (valence in [-1, 1], rater std / 4)}.

  Raises:
    ValueError: naming the file and line for a malformed row.
  """
  path = lexicon_path()
  entries: dict[str, tuple[float, float]] = {}
  with open(path, encoding="utf-8") as f:
    for lineno, line in enumerate(f, start=1):
      if not line.strip():
        continue
      parts = line.rstrip("\n").split("\t")
      if len(parts) < 3:
        raise ValueError(f"{path}:{lineno}: expected 'token<TAB>mean<TAB>std<TAB>ratings'")
      try:
        mean, std = float(parts[1]), float(parts[2])
      except ValueError as e:
        raise ValueError(f"{path}:{lineno}: non-numeric mean/std {parts[1:3]!r}") from e
      value = max(-1.0, min(1.0, mean / LEXICON_SCALE))
      entries[parts[0]] = (value, std / LEXICON_SCALE)
  return entries


def load_valence_lexicon() -> dict[str, float]:
  """Returns {token: valence}, VADER's mean rating scaled from [-4, 4] to [-1, 1].

  Tokens include emoticons and slang exactly as VADER lists them (lower case words).
  """
  return {token: value for token, (value, _) in load_valence_entries().items()}


_WORD_RE = re.compile(r"[a-z]+")


def is_plain_word(token: str) -> bool:
  """True for a lower-case alphabetic token that contains a vowel (pronounceable by espeak-ng)."""
  return bool(_WORD_RE.fullmatch(token)) and any(c in "aeiouy" for c in token)
