"""Word2Vec binary: tokenisation, determinism, frequency order, gensim round trip, bad input."""

import os
import subprocess
import sys

import numpy as np
import pytest

from data_prep import lexicon, synthesize_lib, train_word2vec_lib
from emotion_tf.data import vectors
from emotion_tf.semantic import quality

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def sentences():
  return [s.split() for s in synthesize_lib.generate_sentences(1500, seed=3)]


def test_read_sentences_tokenises_and_skips_blank_lines(tmp_path):
  p = tmp_path / "t.txt"
  p.write_text("Hello, World!\n\n  <laughter> don't-stop\n")
  assert train_word2vec_lib.read_sentences([str(p)]) == [
    ["hello", "world"],
    ["laugh", "dont", "stop"],
  ]


def test_empty_or_missing_text_is_a_clear_error(tmp_path):
  empty = tmp_path / "empty.txt"
  empty.write_text("\n  \n!!!\n")
  with pytest.raises(ValueError, match="empty.txt: text corpus is empty"):
    train_word2vec_lib.read_sentences([str(empty)])
  with pytest.raises(ValueError, match="missing.txt: cannot read"):
    train_word2vec_lib.read_sentences([str(tmp_path / "missing.txt")])
  with pytest.raises(ValueError, match="min_count=5"):
    train_word2vec_lib.train_word2vec([["a", "b"]], dim=4, min_count=5, epochs=1)


def test_deterministic_frequency_sorted_and_gensim_readable(tmp_path, sentences):
  kv1, hist = train_word2vec_lib.train_word2vec(
    sentences, dim=16, window=3, min_count=2, epochs=3, seed=7
  )
  kv2, _ = train_word2vec_lib.train_word2vec(
    sentences, dim=16, window=3, min_count=2, epochs=3, seed=7
  )
  np.testing.assert_array_equal(kv1.vectors, kv2.vectors)
  assert [h["epoch"] for h in hist] == [1, 2, 3] and all(h["loss"] > 0 for h in hist)
  counts = {}
  for s in sentences:
    for w in s:
      counts[w] = counts.get(w, 0) + 1
  freq = [counts[w] for w in kv1.index_to_key]
  assert freq == sorted(freq, reverse=True)
  assert min(freq) >= 2
  path = tmp_path / "w.vec"
  words, vecs = train_word2vec_lib.save_vec(kv1, str(path))
  from gensim.models import KeyedVectors

  back = KeyedVectors.load_word2vec_format(str(path), binary=False)
  assert back.index_to_key == words
  np.testing.assert_allclose(back.vectors, vecs, rtol=1e-5, atol=1e-6)


def test_vectors_carry_corpus_valence(sentences):
  kv, _ = train_word2vec_lib.train_word2vec(
    sentences, dim=32, window=3, min_count=2, epochs=25, seed=0
  )
  probe = quality.valence_probe(
    list(kv.index_to_key), kv.vectors, lexicon.load_valence_lexicon(), seed=0
  )
  assert probe["words"] > 100
  assert probe["r2"] > 0.5 and probe["r2_shuffled"] < 0.1


def test_cli_writes_vec_and_fails_on_empty_text(tmp_path):
  text = tmp_path / "t.txt"
  text.write_text("\n".join(synthesize_lib.generate_sentences(200, seed=1)) + "\n")
  out = tmp_path / "w2v.vec"
  env = dict(os.environ, PYTHONPATH=ROOT)
  cmd = [
    sys.executable,
    "-m",
    "data_prep.train_word2vec",
    "--text",
    str(text),
    "--out",
    str(out),
    "--dim",
    "8",
    "--epochs",
    "2",
    "--probe=false",
  ]
  r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
  assert r.returncode == 0, r.stderr
  words, vecs = vectors.read_vec(str(out))
  assert vecs.shape == (len(words), 8) and len(words) > 50
  (tmp_path / "e.txt").write_text("")
  r = subprocess.run(
    cmd[:4] + [str(tmp_path / "e.txt")] + cmd[5:],
    capture_output=True,
    text=True,
    env=env,
    cwd=ROOT,
    timeout=120,
  )
  assert r.returncode == 2 and "text corpus is empty" in r.stderr  # bad input (emotion_tf.util.cli)
