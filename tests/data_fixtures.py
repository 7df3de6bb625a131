"""Shared fixtures of the data tests: a tiny synthetic corpus, word vectors, TFRecords, wav writer.

conftest.py registers the fixtures for every test module (helpers: `from data_fixtures import
write_wav`); they are session-scoped, so each pytest worker builds them once.
"""

import os
import shutil
import wave

import numpy as np
import pytest

TINY_RECORDINGS = 4
TINY_SECONDS = 24.0
TINY_SEED = 3
VEC_DIM = 8


def write_wav(path, samples, rate, sampwidth=2):
  """Writes PCM `samples` float [N] or [N, C] in [-1, 1] as a wav (8/16/32-bit integer)."""
  x = np.asarray(samples, np.float64)
  if x.ndim == 1:
    x = x[:, None]
  if sampwidth == 1:
    pcm = np.clip(np.round(x * 127 + 128), 0, 255).astype(np.uint8)
  elif sampwidth == 2:
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
  else:
    pcm = np.clip(np.round(x * 2147483647), -2147483648, 2147483647).astype("<i4")
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with wave.open(path, "wb") as w:
    w.setnchannels(x.shape[1])
    w.setsampwidth(sampwidth)
    w.setframerate(rate)
    w.writeframes(pcm.tobytes())


def tree_bytes(directory):
  """{relative path: bytes} of every file under `directory` (recursively)."""
  out = {}
  for base, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(base, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = f.read()
  return out


def corpus_words(corpus_dir):
  """Sorted set of words in a corpus' word_timings/ CSVs."""
  from emotion_tf.data import word_timings as wt

  words = set()
  d = os.path.join(corpus_dir, "word_timings")
  for f in os.listdir(d):
    words.update(t.word for t in wt.read_timings_csv(os.path.join(d, f)))
  return sorted(words)


def copy_recording(src_dir, src_id, dst_dir, dst_id):
  """Copies one recording's files (audio, labels, turns, transcription, timings) under a new id."""
  for sub, ext in (
    ("audio", ".wav"),
    ("labels", ".csv"),
    ("turns", ".csv"),
    ("transcriptions", ".csv"),
    ("word_timings", ".csv"),
  ):
    src = os.path.join(src_dir, sub, src_id + ext)
    if os.path.exists(src):
      os.makedirs(os.path.join(dst_dir, sub), exist_ok=True)
      shutil.copyfile(src, os.path.join(dst_dir, sub, dst_id + ext))


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
  """Path of a synthetic corpus: 4 recordings x 24 s (Train_01, Train_02, Devel_01, Test_01)."""
  from data_prep import synthesize_lib

  out = str(tmp_path_factory.mktemp("tiny_corpus"))
  synthesize_lib.synthesize_corpus(out, TINY_RECORDINGS, TINY_SECONDS, TINY_SEED, num_workers=1)
  return out


@pytest.fixture(scope="session")
def tiny_vec(tiny_corpus, tmp_path_factory):
  """(path, words, vectors) of an 8-d `.vec` holding every corpus word except the last 5
  (alphabetically), which are therefore out of vocabulary."""
  from emotion_tf.data import vectors as vec_io

  words = corpus_words(tiny_corpus)[:-5]
  vectors = np.random.default_rng(0).standard_normal((len(words), VEC_DIM)).astype(np.float32)
  path = str(tmp_path_factory.mktemp("vec") / "tiny.vec")
  vec_io.write_vec(path, words, vectors)
  words, vectors = vec_io.read_vec(path)  # the values as stored (6 significant digits)
  return path, words, vectors


@pytest.fixture(scope="session")
def tiny_tfrecords(tiny_corpus, tiny_vec, tmp_path_factory):
  """(out_dir, report) of write_tfrecords on the tiny corpus with its true word timings,
  one recording per shard."""
  from data_prep import write_tfrecords_lib

  out = str(tmp_path_factory.mktemp("tfrecords"))
  report = write_tfrecords_lib.write_tfrecords(
    write_tfrecords_lib.WriteJobConfig(
      corpus=tiny_corpus,
      embeddings=tiny_vec[0],
      out=out,
      word_timings=os.path.join(tiny_corpus, "word_timings"),
      records_per_shard=1,
      num_workers=1,
    )
  )
  assert report["ok"], report["errors"]
  return out, report
