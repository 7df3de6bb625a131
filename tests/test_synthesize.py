"""Synthetic corpus: layout, byte-for-byte determinism, and the label-to-signal design."""

import collections
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
from data_fixtures import tree_bytes

from data_prep import lexicon, synthesize_lib
from emotion_tf.data import corpus
from emotion_tf.data import word_timings as wt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_byte_identical_for_a_seed(tmp_path):
  a, b, c = (str(tmp_path / n) for n in "abc")
  synthesize_lib.synthesize_corpus(a, 3, 6.0, seed=11, num_workers=1)
  synthesize_lib.synthesize_corpus(b, 3, 6.0, seed=11, num_workers=2)  # pool: same bytes
  synthesize_lib.synthesize_corpus(c, 3, 6.0, seed=12, num_workers=1)
  ta, tb, tc = tree_bytes(a), tree_bytes(b), tree_bytes(c)
  assert len(ta) == 3 * 5 + 2 and ta == tb
  assert ta["audio/Train_01.wav"] != tc["audio/Train_01.wav"]


def test_layout_labels_and_speakers(tiny_corpus):  # noqa: F811
  meta = json.loads(
    pathlib.Path(os.path.join(tiny_corpus, "corpus.json")).read_text(encoding="utf-8")
  )
  speakers = meta["speakers"]
  assert all(speakers.values())
  assert not set(speakers["train"]) & (set(speakers["devel"]) | set(speakers["test"]))
  assert not set(speakers["devel"]) & set(speakers["test"])
  assert "liking" in meta["label_design"] and os.path.exists(os.path.join(tiny_corpus, "README.md"))
  for rec in corpus.list_recordings(tiny_corpus):
    times, labels = corpus.read_labels(rec.labels_path)
    np.testing.assert_allclose(times, np.arange(240) * 0.1, atol=1e-9)
    np.testing.assert_allclose(labels[:, 2], (labels[:, 0] + labels[:, 1]) / 2, atol=2e-6)
    assert np.abs(labels).max() < 0.9
    timings = wt.read_timings_csv(
      os.path.join(tiny_corpus, "word_timings", rec.recording_id + ".csv")
    )
    rows = corpus.read_transcription(rec.transcription_path)
    assert [w for _, _, text in rows for w in wt.tokenize(text)] == [t.word for t in timings]
    for s, e, text in rows:  # sentence span = first word start .. last word end
      inside = [t for t in timings if s - 1e-4 <= t.start and t.end <= e + 1e-4]
      assert [t.word for t in inside] == text.split()
    starts = np.array([t.start for t in timings])
    assert np.all(np.diff(starts) > 0) and timings[-1].end <= 24.0


def _word_table(corpus_dir):
  """Per spoken word: (word, rms dB, log duration, arousal, valence at its start)."""
  rows = []
  for rec in corpus.list_recordings(corpus_dir):
    audio = corpus.load_audio(rec.audio_path)
    _, labels = corpus.read_labels(rec.labels_path)
    for t in wt.read_timings_csv(
      os.path.join(corpus_dir, "word_timings", rec.recording_id + ".csv")
    ):
      seg = audio[int(t.start * 22050) : int(t.end * 22050)]
      k = min(int(round(t.start / 0.1 - 0.5)), len(labels) - 1)
      rows.append(
        (
          t.word,
          10 * np.log10(np.mean(seg.astype(np.float64) ** 2)),
          np.log(t.end - t.start),
          labels[k, 0],
          labels[k, 1],
        )
      )
  return rows


def test_arousal_in_prosody_valence_in_words(tiny_corpus):  # noqa: F811
  rows = _word_table(tiny_corpus)
  words = [r[0] for r in rows]
  rms, logdur, arousal, valence = (np.array([r[i] for r in rows]) for i in range(1, 5))
  corr = lambda x, y: float(np.corrcoef(x, y)[0, 1])
  assert len(rows) > 100
  # Loudness follows arousal, not valence.
  assert corr(rms, arousal) > 0.8
  assert abs(corr(rms, valence)) < 0.25
  # Speaking rate: the same word is shorter at higher arousal.
  groups = collections.defaultdict(list)
  for i, w in enumerate(words):
    groups[w].append(i)
  dev_d, dev_a, dev_v = [], [], []
  for idx in groups.values():
    if len(idx) > 1:
      dev_d += list(logdur[idx] - logdur[idx].mean())
      dev_a += list(arousal[idx] - arousal[idx].mean())
      dev_v += list(valence[idx] - valence[idx].mean())
  assert corr(dev_d, dev_a) < -0.6
  assert abs(corr(dev_d, dev_v)) < 0.3
  # Word choice follows valence, not arousal: the lexicon value of each content word.
  lex = lexicon.load_valence_lexicon()
  content = np.array([w in lex for w in words])
  lex_v = np.array([lex.get(w, 0.0) for w in words])
  assert content.sum() > 40
  assert corr(lex_v[content], valence[content]) > 0.9
  assert abs(corr(lex_v[content], arousal[content])) < 0.25
  assert not any(w in lex for w in synthesize_lib.function_words())


def test_label_curves_properties():
  rng = np.random.default_rng(0)
  c = synthesize_lib.label_curves(rng, 600)
  assert c.shape == (600, 3) and np.abs(c).max() < 0.9
  assert abs(np.corrcoef(np.arctanh(c[:, 0] / 0.9), np.arctanh(c[:, 1] / 0.9))[0, 1]) < 1e-6
  np.testing.assert_allclose(c[:, 2], (c[:, 0] + c[:, 1]) / 2)
  assert np.abs(np.diff(c[:, 0])).max() < 0.1  # smooth at 10 Hz


def test_vocabulary_and_generate_sentences():
  vocab = synthesize_lib.content_vocabulary()
  vals = np.array([v for _, v in vocab])
  assert len(vocab) == 240 and len({w for w, _ in vocab}) == 240
  assert vals.min() < -0.8 and vals.max() > 0.8
  s1 = synthesize_lib.generate_sentences(300, seed=5)
  assert s1 == synthesize_lib.generate_sentences(300, seed=5)
  assert s1 != synthesize_lib.generate_sentences(300, seed=6)
  allowed = {w for w, _ in vocab} | set(synthesize_lib.function_words())
  counts = collections.Counter(w for s in s1 for w in s.split())
  assert len(s1) == 300 and set(counts) <= allowed
  assert all(wt.tokenize(s) == s.split() for s in s1)


def test_cli_writes_corpus_and_text(tmp_path):
  out, text = tmp_path / "c", tmp_path / "text.txt"
  res = subprocess.run(
    [
      sys.executable,
      "-m",
      "data_prep.synthesize",
      "--out",
      str(out),
      "--recordings",
      "3",
      "--seconds",
      "4",
      "--seed",
      "2",
      "--num_workers",
      "1",
      "--text_out",
      str(text),
      "--text_sentences",
      "50",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert res.returncode == 0, res.stderr
  assert sorted(os.listdir(out / "audio")) == ["Devel_01.wav", "Test_01.wav", "Train_01.wav"]
  lines = text.read_text(encoding="utf-8").splitlines()
  assert lines == synthesize_lib.generate_sentences(50, 2)
