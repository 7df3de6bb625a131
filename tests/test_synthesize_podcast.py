"""The second built-in corpus design (data_prep.synthesize --design podcast)."""

import json
import os
import pathlib
import subprocess
import sys
import wave

import numpy as np
import pytest
from data_fixtures import tree_bytes

from data_prep import lexicon
from data_prep import synthesize_lib as synthesize
from data_prep import synthesize_podcast as podcast
from emotion_tf.data import corpus
from emotion_tf.data import word_timings as wt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECONDS = 5.0
SPLIT = (1, 1, 1)


@pytest.fixture(scope="module")
def pod(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("podcast") / "c")
  podcast.synthesize_corpus(out, None, SECONDS, seed=3, num_workers=1, split=SPLIT)
  return out


def _read_wav(path):
  with wave.open(path, "rb") as w:
    params = (w.getframerate(), w.getnchannels(), w.getsampwidth())
    x = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
  return params, x.astype(np.float64) / 32768.0


def test_layout_audio_and_hidden_truth(pod):
  assert not os.path.exists(os.path.join(pod, "word_timings"))
  meta = json.loads(pathlib.Path(os.path.join(pod, "corpus.json")).read_text(encoding="utf-8"))
  assert meta["design"] == "podcast" and meta["sample_rate"] == 48000 and meta["channels"] == 2
  assert "liking" in meta["label_design"] and os.path.exists(os.path.join(pod, "README.md"))
  recs = corpus.list_recordings(pod)
  assert [r.recording_id for r in recs] == ["Devel_01", "Test_01", "Train_01"]
  gains = {r["recording_id"]: r["channel_gains_db"] for r in meta["recordings"]}
  for rec in recs:
    params, x = _read_wav(rec.audio_path)
    assert params == (48000, 2, 2) and x.shape == (int(SECONDS * 48000), 2)
    # The channels carry the same speech at the recorded gains (independent noise floors).
    rms_db = 10 * np.log10(np.mean(x**2, axis=0))
    left, right = gains[rec.recording_id]
    assert left != right
    assert abs((rms_db[0] - rms_db[1]) - (left - right)) < 0.3
    assert np.corrcoef(x[:, 0], x[:, 1])[0, 1] > 0.95
    truth = wt.read_timings_csv(
      os.path.join(pod, "truth", "word_timings", rec.recording_id + ".csv")
    )
    rows = corpus.read_transcription(rec.transcription_path)
    assert rows and truth
    # Sentence-level rows: their words, in order, are the hidden true words.
    assert [w for _, _, text in rows for w in wt.tokenize(text)] == [t.word for t in truth]
    for s, e, text in rows:  # each row spans its sentence: first word start .. last word end
      inside = [t.word for t in truth if s - 1e-4 <= t.start and t.end <= e + 1e-4]
      assert inside == wt.tokenize(text) and len(inside) >= 1
    assert all(text[0].isupper() and text[-1] in ".!" for _, _, text in rows)
    assert truth[-1].end <= SECONDS
    # Gold labels: 0.1 s steps, in [-1, 1], noisy delayed raters of the hidden truth curves.
    times, gold = corpus.read_labels(rec.labels_path)
    np.testing.assert_allclose(times, np.arange(int(SECONDS * 10)) * 0.1, atol=1e-9)
    assert np.abs(gold).max() <= 1.0
    _, clean = corpus.read_labels(os.path.join(pod, "truth", "labels", rec.recording_id + ".csv"))
    assert np.abs(gold - clean).max() > 0.02
    assert np.abs(clean[:, 2] - (clean[:, 0] + clean[:, 1]) / 2).max() > 0.05  # not (a+v)/2


def test_voices_vocabulary_and_partitions_differ_from_first_design(pod):
  meta = json.loads(pathlib.Path(os.path.join(pod, "corpus.json")).read_text(encoding="utf-8"))
  sp = meta["speakers"]
  assert not set(sp["train"]) & (set(sp["devel"]) | set(sp["test"]))
  assert not set(sp["devel"]) & set(sp["test"])
  assert not set(podcast.PODCAST_VOICES) & set(synthesize.DEFAULT_VOICES)
  assert len(set(podcast.PODCAST_VOICES)) == 8
  first_variants = {v.partition("+")[2] for v in synthesize.DEFAULT_VOICES}
  assert not first_variants & {v.partition("+")[2] for v in podcast.PODCAST_VOICES}
  vocab = podcast.content_vocabulary()
  words = {w for w, _ in vocab}
  assert len(words) == 200
  assert not words & {w for w, _ in synthesize.content_vocabulary()}
  assert not set(podcast.function_words()) & set(synthesize.function_words())
  lex = lexicon.load_valence_lexicon()
  assert not any(w in lex for w in podcast.function_words())
  assert all(abs(lex[w] - v) < 1e-9 for w, v in vocab)


def test_byte_identical_per_seed(pod, tmp_path):
  same, other = str(tmp_path / "same"), str(tmp_path / "other")
  podcast.synthesize_corpus(same, None, SECONDS, seed=3, num_workers=2, split=SPLIT)
  podcast.synthesize_corpus(other, None, SECONDS, seed=4, num_workers=1, split=SPLIT)
  ref = tree_bytes(pod)
  assert tree_bytes(same) == ref
  assert tree_bytes(other)["audio/Train_01.wav"] != ref["audio/Train_01.wav"]
  # A rerun verifies every recording by content and regenerates nothing.
  res = podcast.synthesize_corpus(same, None, SECONDS, seed=3, num_workers=1, split=SPLIT)
  assert res["resumed"] == 3 and res["espeak_calls"] == 0 and tree_bytes(same) == ref


def test_true_curves_lagged_liking_and_correlated_views():
  cfg = podcast.PodcastConfig()
  c = podcast.true_curves(np.random.default_rng(0), 20000, cfg)
  assert c.shape == (20000, 3) and np.abs(c).max() < 0.95
  xa, xv, xl = (np.arctanh(c[:, i] / 0.95) / 0.85 for i in range(3))
  assert abs(np.corrcoef(xa, xv)[0, 1] - cfg.av_corr) < 0.15
  lag_v = int(round(cfg.liking_lags_s[1] / 0.1))

  def corr_at(x, lag):
    return np.corrcoef(xl[lag:], x[: len(x) - lag])[0, 1]

  assert corr_at(xv, lag_v) > corr_at(xv, 0) + 0.05 and corr_at(xv, lag_v) > 0.6
  # Arousal moves faster than valence (sigma 1.5 s against 4 s).
  assert np.abs(np.diff(xa)).mean() > 1.8 * np.abs(np.diff(xv)).mean()


def test_rater_labels_lag_and_noise():
  cfg = podcast.PodcastConfig()
  t = np.arange(3000) * 0.1
  truth = np.stack([0.8 * np.sin(2 * np.pi * t / 9.0)] * 3, axis=1)
  gold = podcast.rater_labels(np.random.default_rng(1), truth, cfg)
  assert gold.shape == truth.shape and np.abs(gold).max() <= 1.0
  for d in range(3):
    errs = [np.mean((gold[k:, d] - truth[: len(t) - k, d]) ** 2) for k in range(12)]
    best = int(np.argmin(errs))  # mean rater reaction lag, in frames
    assert 2 <= best <= 7
    assert 1e-4 < errs[best] < 0.05


def test_cue_words_follow_arousal():
  rng = np.random.default_rng(0)
  for arousal, expect in ((0.8, podcast.INTENSIFIERS), (-0.8, podcast.HEDGES)):
    draws = [podcast.cue_word(rng, arousal, 0.5) for _ in range(4000)]
    said = [w for w in draws if w is not None]
    assert abs(len(said) / 4000 - 0.4) < 0.03 and set(said) == set(expect)
  assert all(podcast.cue_word(rng, 0.0, 0.5) is None for _ in range(200))


def test_text_corpus_cli(tmp_path):
  out, text = tmp_path / "c", tmp_path / "text.txt"
  res = subprocess.run(
    [
      sys.executable,
      "-m",
      "data_prep.synthesize",
      "--design",
      "podcast",
      "--out",
      str(out),
      "--split",
      "1,1,1",
      "--seconds",
      "3",
      "--seed",
      "2",
      "--num_workers",
      "1",
      "--text_out",
      str(text),
      "--text_sentences",
      "60",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert res.returncode == 0, res.stderr
  lines = text.read_text(encoding="utf-8").splitlines()
  assert lines == podcast.generate_sentences(60, 2) != podcast.generate_sentences(60, 3)
  allowed = {w for w, _ in podcast.content_vocabulary()} | set(podcast.function_words())
  assert {w for s in lines for w in s.split()} <= allowed
  assert all(wt.tokenize(s) == s.split() for s in lines)
  assert not (out / "word_timings").exists() and (out / "corpus.json").exists()
