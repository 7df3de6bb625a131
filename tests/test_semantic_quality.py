"""Quality checks (same-different AP, linear probe, collapse); Speech2Vec binary."""

import json
import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf

from data_prep import train_speech2vec_lib
from emotion_tf.data import corpus, vectors
from emotion_tf.semantic import quality, speech2vec


def _reference_ap(scores, labels):
  """AP = mean over positives of precision at their rank (no ties)."""
  order = np.argsort(-scores)
  hits = labels[order].astype(float)
  prec = np.cumsum(hits) / np.arange(1, len(hits) + 1)
  return float((prec * hits).sum() / hits.sum())


def test_mean_pairwise_cosine_matches_bruteforce():
  x = np.random.default_rng(0).normal(size=(7, 3))
  u = x / np.linalg.norm(x, axis=1, keepdims=True)
  c = u @ u.T
  assert quality.mean_pairwise_cosine(x) == pytest.approx((c.sum() - np.trace(c)) / 42)
  assert quality.mean_pairwise_cosine(np.ones((5, 4))) == pytest.approx(1.0)
  assert np.isnan(quality.mean_pairwise_cosine(x[:1]))


def test_same_different_ap_matches_reference():
  rng = np.random.default_rng(1)
  labels = np.array(list("aabbbccdd") + ["single"])
  emb = rng.normal(size=(len(labels), 4))
  got = quality.same_different_ap(emb, labels)
  keep = labels != "single"
  u = emb[keep] / np.linalg.norm(emb[keep], axis=1, keepdims=True)
  iu = np.triu_indices(keep.sum(), 1)
  same = (labels[keep][:, None] == labels[keep][None, :])[iu]
  assert got["ap"] == pytest.approx(_reference_ap((u @ u.T)[iu], same))
  assert got["pairs"] == 36 and got["chance"] == pytest.approx(same.mean())
  # Perfectly clustered instances: AP = 1.
  centers = {w: rng.normal(size=4) * 10 for w in "abcd"}
  clean = np.stack([centers[w] + 0.01 * rng.normal(size=4) for w in labels[keep]])
  assert quality.same_different_ap(clean, labels[keep])["ap"] == pytest.approx(1.0)


def test_linear_probe_detects_signal_and_shuffled_does_not():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(120, 10))
  y = x @ rng.normal(size=10) + 0.1 * rng.normal(size=120)
  assert quality.linear_probe_r2(x, y) > 0.95
  assert quality.shuffled_probe_r2(x, y) < 0.1
  assert quality.linear_probe_r2(x, rng.normal(size=120)) < 0.1
  with pytest.raises(ValueError, match="linear probe needs"):
    quality.linear_probe_r2(x[:3], y[:3])
  lex = {f"w{i}": float(v) for i, v in enumerate(y[:100])}
  probe = quality.valence_probe([f"w{i}" for i in range(120)], x, lex)
  assert probe["words"] == 100 and probe["r2"] > 0.9 > 0.1 > probe["r2_shuffled"]


def test_collapse_reason():
  rng = np.random.default_rng(3)
  good = rng.normal(size=(20, 5))
  assert quality.collapse_reason(0.5, good) is None
  assert "loss is nan" in quality.collapse_reason(float("nan"), good)
  assert "near-identical" in quality.collapse_reason(0.5, np.ones((20, 5)) + 1e-4 * good)
  bad = good.copy()
  bad[0, 0] = np.inf
  assert "NaN/inf" in quality.collapse_reason(0.5, bad)


SMALL = speech2vec.Speech2VecConfig(
  max_frames=60,
  encoder_units=16,
  embedding_dim=12,
  decoder_units=16,
  batch_size=16,
  epochs=2,
  learning_rate=3e-3,
  probe_size=64,
)


def test_train_speech2vec_binary_on_tiny_corpus(tiny_corpus, tmp_path):
  out = str(tmp_path / "s2v")
  from data_prep import lexicon as lexicon_lib

  lexicon = lexicon_lib.load_valence_lexicon()
  report = train_speech2vec_lib.run(
    tiny_corpus, out, os.path.join(tiny_corpus, "word_timings"), config=SMALL, lexicon=lexicon
  )
  for name in ("speech2vec.vec", "normalizer.json", "config.json", "quality.json", "encoder"):
    assert os.path.exists(os.path.join(out, name)), name
  words, vecs = vectors.read_vec(os.path.join(out, "speech2vec.vec"))
  counts = json.loads(
    pathlib.Path(os.path.join(out, "word_counts.json")).read_text(encoding="utf-8")
  )
  assert [counts[w] for w in words] == sorted(counts.values(), reverse=True)
  assert vecs.shape == (len(words), 12) and np.all(np.isfinite(vecs))
  sd = report["same_different"]
  assert 0 < sd["chance_ap"] < sd["untrained_ap"] <= 1 and 0 < sd["trained_ap"] <= 1
  assert sd["segments_from"] == "held-out partitions"
  vp = report["valence_probe"]
  assert vp["words"] >= 10 and np.isfinite(vp["r2"]) and np.isfinite(vp["r2_shuffled"])
  assert report["training"]["epochs_run"] == 2 and report["segments"]["failed"] == {}
  # The SavedModel embeds raw audio; a word's instances (in every embedded partition) average to
  # its type vector: numpy mean of the SavedModel's instance embeddings = the .vec row.
  seg, _, _ = train_speech2vec_lib.load_corpus_segments(
    tiny_corpus,
    os.path.join(tiny_corpus, "word_timings"),
    None,
    train_speech2vec_lib.mfcc_lib.MfccConfig(),
    60,
  )
  model = tf.saved_model.load(os.path.join(out, "encoder"))
  target = words[0]
  instances = []
  for rec in corpus.list_recordings(tiny_corpus):
    wav = corpus.load_audio(rec.audio_path)
    idx = [
      i
      for i, (w, r) in enumerate(zip(seg.words, seg.recording_ids, strict=False))
      if w == target and r == rec.recording_id
    ]
    if not idx:
      continue
    spans = [(int(round(seg.starts[i] * 22050)), int(round(seg.ends[i] * 22050))) for i in idx]
    batch = np.zeros((len(spans), max(b - a for a, b in spans)), np.float32)
    for k, (a, b) in enumerate(spans):
      batch[k, : b - a] = wav[a:b]
    emb = model.signatures["serving_default"](
      waveforms=tf.constant(batch), lengths=tf.constant([b - a for a, b in spans], tf.int32)
    )["embedding"].numpy()
    assert emb.shape == (len(spans), 12)
    instances.append(emb)
  instances = np.concatenate(instances)
  assert len(instances) == counts[target] > 1
  assert np.abs(instances - instances.mean(0)).max() > 1e-3  # the instances differ
  np.testing.assert_allclose(instances.mean(0), vecs[0], atol=1e-4)
  # A rerun resumes (nothing left to train) and rewrites the same vectors.
  again = train_speech2vec_lib.run(
    tiny_corpus, out, os.path.join(tiny_corpus, "word_timings"), config=SMALL, lexicon=None
  )
  assert again["training"]["epochs_run"] == 0
  np.testing.assert_allclose(
    vectors.read_vec(os.path.join(out, "speech2vec.vec"))[1], vecs, atol=1e-5
  )
  with pytest.raises(ValueError, match="other settings"):
    train_speech2vec_lib.run(
      tiny_corpus,
      out,
      os.path.join(tiny_corpus, "word_timings"),
      config=speech2vec.Speech2VecConfig(**{**SMALL.to_dict(), "embedding_dim": 8}),
    )


def test_bad_recordings_and_segments_are_skipped_and_counted(tiny_corpus, tmp_path):
  root = tmp_path / "c"
  shutil.copytree(tiny_corpus, root)
  wt = root / "word_timings"
  ids = sorted(p[:-4] for p in os.listdir(wt) if p.endswith(".csv"))
  with open(wt / f"{ids[0]}.csv", "a", encoding="utf-8") as f:
    f.write("s99w0;5.0;5.0;zero\ns99w1;5.1;5.105;tiny\n")
  (root / "audio" / f"{ids[1]}.wav").write_bytes(b"RIFF not a wav")
  segs, parts, report = train_speech2vec_lib.load_corpus_segments(
    str(root), str(wt), None, train_speech2vec_lib.mfcc_lib.MfccConfig(), 60
  )
  assert report["segments"]["zero_length"] >= 1 and report["segments"]["shorter_than_window"] >= 1
  assert list(report["failed"]) == [ids[1]] and ids[1] + ".wav" in report["failed"][ids[1]]
  assert len(segs) > 0 and ids[1] not in parts


def test_empty_corpus_is_a_clear_error(tmp_path):
  (tmp_path / "audio").mkdir()
  with pytest.raises(ValueError, match="no audio"):
    train_speech2vec_lib.run(str(tmp_path), str(tmp_path / "out"), config=SMALL)


def test_extra_corpus_only_adds_training_segments(tiny_corpus, tmp_path):
  """--extra_corpus segments (all partitions) join training only; vectors/checks: main corpus."""
  timings = os.path.join(tiny_corpus, "word_timings")
  cfg = speech2vec.Speech2VecConfig(**{**SMALL.to_dict(), "epochs": 1})
  main_train, _, _ = train_speech2vec_lib.load_corpus_segments(
    tiny_corpus, timings, ["train"], train_speech2vec_lib.mfcc_lib.MfccConfig(), 60
  )
  extra_all, _, _ = train_speech2vec_lib.load_corpus_segments(
    tiny_corpus, timings, None, train_speech2vec_lib.mfcc_lib.MfccConfig(), 60
  )
  out = str(tmp_path / "s2v")
  report = train_speech2vec_lib.run(
    tiny_corpus, out, timings, config=cfg, extra_corpora=[tiny_corpus]
  )
  assert report["train_segments"] == len(main_train) + len(extra_all)
  assert report["extra_corpora"][tiny_corpus]["word_segments"] == len(extra_all)
  assert report["embed_segments"] == len(extra_all)  # the main corpus' own segments, all partitions
  words, _ = vectors.read_vec(os.path.join(out, "speech2vec.vec"))
  assert len(words) == report["vocabulary"] == len(set(extra_all.words))
