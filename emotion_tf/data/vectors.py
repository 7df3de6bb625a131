"""Word-vector files in word2vec text format (`.vec`), the embedding contract of DESIGN.md.

A `.vec` file starts with a header line `count dim`, then one line per word:
`word v1 ... vd`. gensim's `KeyedVectors.load_word2vec_format(path, binary=False)`
reads what `write_vec` writes.
"""

from collections.abc import Sequence

import numpy as np

from emotion_tf.util import fileio


class VecFormatError(ValueError):
  """A `.vec` file that does not follow the word2vec text format."""


def read_vec(path: str) -> tuple[list[str], np.ndarray]:
  """Reads a word2vec text file.

  Args:
    path: file with header `count dim` and `count` lines `word v1 .. vd`.

  Returns:
    (words, vectors): `words` a list of `count` strings, `vectors` float32
    array of shape [count, dim].

  Raises:
    VecFormatError: naming the file and line, for a bad header, a row whose
      dimension differs from the header, a non-numeric value, a row count
      that differs from the header, duplicate words or non-UTF-8 bytes; naming the
      format for a gzip/bzip2/zip-compressed file or the binary word2vec format.
  """
  try:
    with open(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise VecFormatError(f"{path}: cannot read embeddings file ({e})") from e
  try:
    return _parse_text(path, data)
  except VecFormatError:
    other = _other_format(path, data)
    if other:
      raise VecFormatError(other) from None
    raise


# Magic numbers of compressed files a `.vec` download often comes as.
_COMPRESSED = (
  (b"\x1f\x8b", "a gzip-compressed file", "gunzip -k"),
  (b"BZh", "a bzip2-compressed file", "bunzip2 -k"),
  (b"PK\x03\x04", "a zip archive", "unzip"),
)


def _other_format(path: str, data: bytes) -> str:
  """A message naming the format of a file that is not word2vec text, or '' if unknown.

  Recognised: gzip / bzip2 / zip (by magic number) and the binary word2vec format (header
  `count dim` as text, then per word `word` + one space + dim little-endian float32, an optional
  newline after each), checked by walking all `count` entries to the end of the file.
  """
  for magic, what, tool in _COMPRESSED:
    if data.startswith(magic):
      return (
        f"{path}: looks like {what}, not a word2vec text file; decompress it first ({tool} {path})"
      )
  end = data.find(b"\n")
  header = data[:end].split() if end > 0 else []
  if len(header) != 2 or not all(h.isdigit() for h in header):
    return ""
  count, dim = int(header[0]), int(header[1])
  pos = end + 1
  for _ in range(count):
    space = data.find(b" ", pos)
    if space < 0 or dim <= 0:
      return ""
    pos = space + 1 + 4 * dim
    if pos > len(data):
      return ""
    if data[pos : pos + 1] == b"\n":
      pos += 1
  if data[pos:].strip():
    return ""
  return (
    f"{path}: looks like the binary word2vec format ({count} words x {dim} float32), not "
    "the text format; convert with gensim: KeyedVectors.load_word2vec_format(path, "
    "binary=True).save_word2vec_format(out, binary=False)"
  )


def _parse_text(path: str, data: bytes) -> tuple[list[str], np.ndarray]:
  """`read_vec` of the file's bytes."""
  try:
    lines = data.decode("utf-8").splitlines()
  except UnicodeDecodeError as e:
    raise VecFormatError(f"{path}: not valid UTF-8 ({e})") from e
  if not lines:
    raise VecFormatError(f"{path}: empty embeddings file (expected header 'count dim')")
  header = lines[0].split()
  if len(header) != 2 or not all(h.isdigit() for h in header):
    raise VecFormatError(f"{path}:1: bad header {lines[0]!r} (expected two integers 'count dim')")
  count, dim = int(header[0]), int(header[1])
  if dim <= 0:
    raise VecFormatError(f"{path}:1: dimension must be positive, got {dim}")
  rows = [(i + 2, line) for i, line in enumerate(lines[1:]) if line.strip()]
  if len(rows) != count:
    raise VecFormatError(
      f"{path}: header says {count} words but the file has {len(rows)} vector lines"
    )
  words: list[str] = []
  vectors = np.zeros((count, dim), dtype=np.float32)
  seen: dict[str, int] = {}
  for k, (lineno, line) in enumerate(rows):
    parts = line.rstrip().split(" ")
    word, values = parts[0], parts[1:]
    if len(values) != dim:
      raise VecFormatError(
        f"{path}:{lineno}: word {word!r} has {len(values)} values, header says dim={dim}"
      )
    try:
      vectors[k] = np.asarray(values, dtype=np.float32)
    except ValueError as e:
      raise VecFormatError(f"{path}:{lineno}: non-numeric value for word {word!r}") from e
    if word in seen:
      raise VecFormatError(f"{path}:{lineno}: duplicate word {word!r} (first on line {seen[word]})")
    seen[word] = lineno
    words.append(word)
  if not np.all(np.isfinite(vectors)):
    bad = int(np.argwhere(~np.isfinite(vectors))[0, 0])
    raise VecFormatError(f"{path}:{rows[bad][0]}: NaN/inf in vector of {words[bad]!r}")
  return words, vectors


def write_vec(path: str, words: Sequence[str], vectors: np.ndarray) -> None:
  """Writes `words` and `vectors` [count, dim] atomically in word2vec text format."""
  vectors = np.asarray(vectors, dtype=np.float32)
  if vectors.ndim != 2 or vectors.shape[0] != len(words):
    raise ValueError(f"{path}: expected vectors of shape [{len(words)}, dim], got {vectors.shape}")
  for w in words:
    if not w or any(c.isspace() for c in w):
      raise ValueError(f"{path}: word {w!r} is empty or contains whitespace")
  lines = [f"{len(words)} {vectors.shape[1]}"]
  lines += [w + " " + " ".join(f"{x:.6g}" for x in v) for w, v in zip(words, vectors, strict=False)]
  fileio.atomic_write_text(path, "\n".join(lines) + "\n")


def read_vec_dict(path: str) -> dict[str, np.ndarray]:
  """Reads a `.vec` file into {word: float32 vector [dim]}."""
  words, vectors = read_vec(path)
  return dict(zip(words, vectors, strict=False))
