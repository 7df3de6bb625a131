"""Speech2Vec: MFCC front end vs numpy, segments, masking, training/resume/collapse, export."""

import os

import numpy as np
import pytest
import scipy.fft
import tensorflow as tf

from emotion_tf.semantic import mfcc, speech2vec
from emotion_tf.semantic import segments as seg_lib

SR = 22050


def _numpy_mfcc(x, cfg):
  """Independent reference: numpy framing + Hann + rfft, mel matrix, DCT-II / sqrt(2M).

  tf.signal's "periodic" Hann window is periodic only for even lengths; 551 is odd, so the
  denominator is fl - 1 (the symmetric window).
  """
  fl, fs = cfg.frame_length, cfg.frame_step
  n = 1 + (len(x) - fl) // fs
  denom = fl if fl % 2 == 0 else fl - 1
  window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(fl) / denom)
  frames = np.stack([x[i * fs : i * fs + fl] * window for i in range(n)])
  mag = np.abs(np.fft.rfft(frames, n=cfg.fft_length, axis=1))
  mel = tf.signal.linear_to_mel_weight_matrix(
    cfg.num_mel_bins, cfg.fft_length // 2 + 1, cfg.sample_rate, cfg.lower_hz, cfg.upper_hz
  ).numpy()
  log_mel = np.log(mag @ mel + cfg.log_offset)
  out = scipy.fft.dct(log_mel, type=2, axis=1)[:, : cfg.num_mfcc] / np.sqrt(2 * cfg.num_mel_bins)
  if cfg.segment_cmn:
    out = out - out.mean(axis=0)
    if cfg.segment_cvn:
      out = out / np.maximum(out.std(axis=0), cfg.cvn_floor)
  return out


def _numpy_deltas(c, width=2):
  n = len(c)
  out = np.zeros_like(c)
  for t in range(n):
    for k in range(1, width + 1):
      out[t] += k * (c[min(t + k, n - 1)] - c[max(t - k, 0)])
  return out / (2 * sum(k * k for k in range(1, width + 1)))


def _tone(n, f0=220.0, seed=0):
  t = np.arange(n) / SR
  rng = np.random.default_rng(seed)
  return (0.3 * np.sin(2 * np.pi * f0 * t * (1 + 0.3 * t)) + 0.01 * rng.normal(size=n)).astype(
    np.float32
  )


def test_frame_arithmetic():
  cfg = mfcc.MfccConfig()
  assert (cfg.frame_length, cfg.frame_step, cfg.fft_length) == (551, 221, 1024)
  assert mfcc.num_frames_for(550, cfg) == 0 and mfcc.num_frames_for(551, cfg) == 1
  assert mfcc.num_frames_for(551 + 221 * 99, cfg) == 100
  np.testing.assert_array_equal(mfcc.num_frames_for(np.array([0, 772]), cfg), [0, 2])


@pytest.mark.parametrize("cmn,cvn", [(False, False), (True, False), (True, True)])
def test_mfcc_matches_numpy_and_ignores_padding(cmn, cvn):
  cfg = mfcc.MfccConfig(segment_cmn=cmn, segment_cvn=cvn)
  a, b = _tone(5000, 200.0, 1), _tone(3000, 330.0, 2)
  batch = np.full((3, 5000), 7.0, np.float32)  # garbage padding
  batch[0], batch[1, :3000] = a, b
  batch[2, :300] = a[:300]  # shorter than one window -> 0 frames
  feats, frames = mfcc.compute_mfcc(tf.constant(batch), tf.constant([5000, 3000, 300]), cfg)
  feats, frames = feats.numpy(), frames.numpy()
  np.testing.assert_array_equal(
    frames, [mfcc.num_frames_for(5000, cfg), mfcc.num_frames_for(3000, cfg), 0]
  )
  np.testing.assert_allclose(feats[0, : frames[0]], _numpy_mfcc(a, cfg), atol=2e-3, rtol=1e-3)
  np.testing.assert_allclose(feats[1, : frames[1]], _numpy_mfcc(b, cfg), atol=2e-3, rtol=1e-3)
  assert np.all(feats[1, frames[1] :] == 0) and np.all(feats[2] == 0)


def test_deltas_match_numpy_per_valid_length():
  cfg = mfcc.MfccConfig(deltas=True)
  x = _tone(4000, 250.0)
  batch = np.zeros((2, 6000), np.float32)
  batch[0, :4000] = x
  batch[1] = _tone(6000, 180.0)
  feats, frames = mfcc.compute_mfcc(tf.constant(batch), tf.constant([4000, 6000]), cfg)
  n = int(frames[0])
  f = feats.numpy()[0, :n]
  base = _numpy_mfcc(x, cfg)
  d1 = _numpy_deltas(base)
  np.testing.assert_allclose(f[:, :13], base, atol=2e-3, rtol=1e-3)
  np.testing.assert_allclose(f[:, 13:26], d1, atol=2e-3, rtol=1e-3)
  np.testing.assert_allclose(f[:, 26:], _numpy_deltas(d1), atol=2e-3, rtol=1e-3)
  assert cfg.num_features == 39


def _numpy_resample(x, length, r):
  """Reference time normalisation: np.interp of every feature at the mapped frame centres."""
  pos = np.clip((np.arange(r) + 0.5) * length / r - 0.5, 0, length - 1)
  return np.stack(
    [np.interp(pos, np.arange(length), x[:length, k]) for k in range(x.shape[1])], axis=1
  )


def test_resample_frames_matches_numpy_interp():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(5, 30, 4)).astype(np.float32)
  lengths = np.array([30, 7, 1, 0, 24], np.int32)
  x[1, 7:] = 50.0  # padding must not leak in
  for r in (24, 5):
    out, new_len = mfcc.resample_frames(x, lengths, r)
    out = out.numpy()
    assert out.shape == (5, r, 4)
    np.testing.assert_array_equal(new_len.numpy(), [r, r, r, 0, r])
    for i, n in enumerate(lengths):
      if n:
        np.testing.assert_allclose(out[i], _numpy_resample(x[i], n, r), atol=1e-5)
    np.testing.assert_allclose(out[2], np.repeat(x[2, :1], r, axis=0))  # one frame -> constant
    assert np.all(out[3] == 0)
  same, _ = mfcc.resample_frames(x, np.full(5, 30, np.int32), 30)  # identity when R = L
  np.testing.assert_allclose(same.numpy(), x, atol=1e-5)


def test_segment_cvn_removes_gain_and_resampling_removes_rate():
  """A louder, slower copy of a word gives the same normalised, resampled MFCCs (up to framing)."""
  cfg = mfcc.MfccConfig()
  t = np.arange(8000) / SR
  chirp = np.sin(2 * np.pi * (300 * t + 2000 * t**2)).astype(
    np.float32
  )  # 300 Hz -> 1.75 kHz in 0.36 s
  t2 = np.arange(16000) / SR
  slow = np.sin(2 * np.pi * (300 * t2 + 1000 * t2**2)).astype(
    np.float32
  )  # same sweep, half the rate
  loud, soft = 4.0 * chirp, 0.25 * chirp
  f_loud, n_loud = mfcc.compute_mfcc(tf.constant(loud[None]), tf.constant([8000]), cfg)
  f_soft, n_soft = mfcc.compute_mfcc(tf.constant(soft[None]), tf.constant([8000]), cfg)
  np.testing.assert_allclose(f_loud.numpy(), f_soft.numpy(), atol=2e-2)  # gain is a c0 offset: CMN
  valid = f_loud.numpy()[0, : int(n_loud[0])]
  np.testing.assert_allclose(valid.std(axis=0)[valid.std(axis=0) > 0.2], 1.0, atol=1e-4)  # CVN
  f_slow, n_slow = mfcc.compute_mfcc(tf.constant(slow[None]), tf.constant([16000]), cfg)
  a, _ = mfcc.resample_frames(f_loud, n_loud, 20)
  b, _ = mfcc.resample_frames(f_slow, n_slow, 20)
  raw_gap = np.abs(f_loud.numpy()[0, :20] - f_slow.numpy()[0, :20]).mean()
  assert np.abs(a.numpy() - b.numpy()).mean() < 0.5 * raw_gap


def test_normalizer_fit_apply_roundtrip(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.normal(3.0, 2.0, size=(4, 6, 3)).astype(np.float32)
  lengths = np.array([6, 2, 0, 4])
  norm = mfcc.Normalizer.fit(x, lengths)
  valid = np.concatenate([x[i, :l] for i, l in enumerate(lengths)])
  np.testing.assert_allclose(norm.mean, valid.mean(0), rtol=1e-5)
  np.testing.assert_allclose(norm.std, valid.std(0), rtol=1e-5)
  assert norm.count == 12
  y = norm.apply(x, lengths)
  np.testing.assert_allclose(y[0], (x[0] - valid.mean(0)) / valid.std(0), rtol=1e-4, atol=1e-5)
  assert np.all(y[1, 2:] == 0)
  norm.save(str(tmp_path / "n.json"))
  back = mfcc.Normalizer.load(str(tmp_path / "n.json"))
  np.testing.assert_allclose(back.mean, norm.mean)
  (tmp_path / "bad.json").write_text("{}")
  with pytest.raises(ValueError, match="bad.json"):
    mfcc.Normalizer.load(str(tmp_path / "bad.json"))


def test_extract_segments_skips_and_counts_bad_segments():
  cfg = mfcc.MfccConfig()
  wav = _tone(SR * 3)
  timings = [
    (0.10, 0.40, "a"),
    (0.5, 0.5, "zero"),
    (0.6, 0.61, "short"),
    (0.7, 2.9, "long"),
    (3.5, 3.8, "after_end"),
    (2.95, 3.4, "clipped"),
  ]
  segs, counts = seg_lib.extract_segments(wav, timings, "Train_x", cfg, max_frames=50)
  assert counts == {
    "kept": 3,
    "truncated": 1,
    "zero_length": 1,
    "shorter_than_window": 1,
    "outside_audio": 1,
  }
  assert segs.words == ["a", "long", "clipped"] and segs.features.shape == (3, 50, 13)
  a = wav[int(round(0.1 * SR)) : int(round(0.4 * SR))]
  ref, n = mfcc.compute_mfcc(tf.constant(a[None]), tf.constant([len(a)]), cfg)
  assert segs.lengths[0] == int(n[0])
  np.testing.assert_allclose(
    segs.features[0, : segs.lengths[0]], ref.numpy()[0, : int(n[0])], atol=1e-5
  )
  assert segs.lengths[1] == 50  # truncated to max_frames
  clipped = len(wav) - int(round(2.95 * SR))
  assert segs.lengths[2] == mfcc.num_frames_for(clipped, cfg)
  empty, c = seg_lib.extract_segments(wav, [(1.0, 1.0, "z")], "Train_x", cfg, 50)
  assert len(empty) == 0 and c["zero_length"] == 1


def _fake_segments(n_rec=2, per_rec=8, max_frames=12, f=13, seed=0):
  rng = np.random.default_rng(seed)
  words, recs, starts = [], [], []
  for r in range(n_rec):
    for i in range(per_rec):
      words.append(f"w{(i + r) % 5}")
      recs.append(f"Train_{r}")
      starts.append(i * 0.5 + (5.0 if i >= per_rec // 2 and r == 1 else 0.0))
  n = len(words)
  lengths = rng.integers(3, max_frames + 1, size=n).astype(np.int32)
  base = {w: rng.normal(size=(max_frames, f)) for w in set(words)}
  feats = np.zeros((n, max_frames, f), np.float32)
  for i, w in enumerate(words):
    feats[i, : lengths[i]] = base[w][: lengths[i]] + 0.1 * rng.normal(size=(lengths[i], f))
  starts = np.array(starts)
  return seg_lib.Segments(feats, lengths, words, recs, starts, starts + 0.3)


def test_context_indices_match_bruteforce():
  segs = _fake_segments()
  ctx = seg_lib.context_indices(segs, window=2, max_gap_seconds=2.0)
  n = len(segs)
  for i in range(n):
    expected = []
    for o in (-2, -1, 1, 2):
      j = i + o
      ok = 0 <= j < n and segs.recording_ids[j] == segs.recording_ids[i]
      lo, hi = min(i, j), max(i, j)
      ok = ok and all(segs.starts[m + 1] - segs.ends[m] <= 2.0 for m in range(lo, hi))
      expected.append(j if ok else -1)
    assert list(ctx[i]) == expected, i


def test_masked_sse_matches_numpy():
  rng = np.random.default_rng(1)
  t, p = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 5, 2))
  lengths = np.array([5, 2, 0])
  sse, count = speech2vec.masked_sse(
    tf.constant(t, tf.float32), tf.constant(p, tf.float32), tf.constant(lengths)
  )
  mask = np.arange(5)[None, :] < lengths[:, None]
  np.testing.assert_allclose(float(sse), ((t - p) ** 2 * mask[:, :, None]).sum(), rtol=1e-5)
  assert float(count) == mask.sum() * 2


def test_encoder_ignores_padding_content():
  cfg = speech2vec.Speech2VecConfig(encoder_units=8, embedding_dim=4, decoder_units=8)
  enc, dec = speech2vec.build_models(cfg)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 10, 13)).astype(np.float32)
  lengths = np.array([6, 10], np.int32)
  y = x.copy()
  y[0, 6:] = 99.0
  a = speech2vec.embed_features(enc, x, lengths)
  b = speech2vec.embed_features(enc, y, lengths)
  c = speech2vec.embed_features(enc, x[:1, :6], lengths[:1])
  np.testing.assert_allclose(a, b, atol=1e-5)
  np.testing.assert_allclose(a[:1], c, atol=1e-5)
  assert dec(tf.constant(a), num_steps=7).shape == (2, 7, 13)


def test_type_vectors_are_means_in_count_order():
  emb = np.arange(12, dtype=np.float32).reshape(6, 2)
  words = ["b", "a", "b", "c", "a", "b"]
  types, vecs, counts = speech2vec.type_vectors(emb, words)
  assert types == ["b", "a", "c"] and counts == [3, 2, 1]
  np.testing.assert_allclose(vecs[0], emb[[0, 2, 5]].mean(0))
  np.testing.assert_allclose(vecs[1], emb[[1, 4]].mean(0))


TINY = speech2vec.Speech2VecConfig(
  max_frames=12,
  encoder_units=8,
  embedding_dim=6,
  decoder_units=8,
  window=2,
  batch_size=4,
  epochs=1,
  learning_rate=1e-2,
  probe_size=8,
)


def test_train_resume_and_export(tmp_path):
  segs = _fake_segments()
  norm = mfcc.Normalizer.fit(segs.features, segs.lengths)
  enc, res = speech2vec.train(segs, norm, TINY, str(tmp_path))
  assert res.epochs_run == 1 and np.isfinite(res.last_loss)
  assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-1")
  assert os.listdir(tmp_path / "tensorboard")
  before = speech2vec.embed_features(enc, norm.apply(segs.features, segs.lengths), segs.lengths)
  # Resume: only the missing epoch runs, starting from the saved weights.
  enc2, res2 = speech2vec.train(
    segs, norm, speech2vec.Speech2VecConfig(**{**TINY.to_dict(), "epochs": 2}), str(tmp_path)
  )
  assert (res2.epochs_run, res2.epochs_total) == (1, 2)
  enc3, res3 = speech2vec.train(
    segs, norm, speech2vec.Speech2VecConfig(**{**TINY.to_dict(), "epochs": 2}), str(tmp_path)
  )
  assert res3.epochs_run == 0
  after = speech2vec.embed_features(enc3, norm.apply(segs.features, segs.lengths), segs.lengths)
  np.testing.assert_allclose(
    after,
    speech2vec.embed_features(enc2, norm.apply(segs.features, segs.lengths), segs.lengths),
    atol=1e-6,
  )
  assert not np.allclose(before, after)
  # Export: waveform signature == MFCC front end + in-memory encoder, for padded batches.
  cfg = mfcc.MfccConfig()
  speech2vec.export_encoder(enc3, _norm13(), cfg, 12, str(tmp_path / "encoder"))
  loaded = tf.saved_model.load(str(tmp_path / "encoder"))
  wavs = np.full((3, 4000), 3.0, np.float32)
  lens = np.array([4000, 2500, 200], np.int32)
  wavs[0], wavs[1, :2500] = _tone(4000, 200.0), _tone(2500, 300.0)
  out = loaded.signatures["serving_default"](waveforms=tf.constant(wavs), lengths=tf.constant(lens))
  feats, frames = mfcc.compute_mfcc(tf.constant(wavs), tf.constant(lens), cfg)
  feats, frames = feats.numpy()[:, :12], np.minimum(frames.numpy(), 12)
  expected = speech2vec.embed_features(enc3, _norm13().apply(feats, frames), frames)
  got = out["embedding"].numpy()
  np.testing.assert_allclose(got[:2], expected[:2], atol=1e-4)
  np.testing.assert_array_equal(got[2], 0.0)  # shorter than one window
  np.testing.assert_array_equal(out["num_frames"].numpy(), frames)
  by_mfcc = loaded.signatures["embed_mfcc"](
    mfcc=mfcc.compute_mfcc(tf.constant(wavs), tf.constant(lens), cfg)[0],
    num_frames=mfcc.compute_mfcc(tf.constant(wavs), tf.constant(lens), cfg)[1],
  )
  np.testing.assert_allclose(by_mfcc["embedding"].numpy(), got, atol=1e-5)
  # With time normalisation the SavedModel resamples the truncated MFCCs to R frames, as
  # training did.
  speech2vec.export_encoder(
    enc3, _norm13(), cfg, 12, str(tmp_path / "encoder_r"), resample_frames=8
  )
  out_r = tf.saved_model.load(str(tmp_path / "encoder_r")).signatures["serving_default"](
    waveforms=tf.constant(wavs), lengths=tf.constant(lens)
  )
  res, res_len = mfcc.resample_frames(feats, frames, 8)
  res, res_len = res.numpy(), res_len.numpy()
  np.testing.assert_allclose(
    out_r["embedding"].numpy()[:2],
    speech2vec.embed_features(enc3, _norm13().apply(res, res_len), res_len)[:2],
    atol=1e-4,
  )
  np.testing.assert_array_equal(out_r["num_frames"].numpy(), [8, 8, 0])


def _norm13():
  return mfcc.Normalizer(np.full(13, 0.5, np.float32), np.full(13, 2.0, np.float32), 1)


def test_nan_loss_stops_training_and_keeps_last_good_checkpoint(tmp_path):
  segs = _fake_segments()
  norm = mfcc.Normalizer.fit(segs.features, segs.lengths)
  speech2vec.train(segs, norm, TINY, str(tmp_path))
  bad = seg_lib.Segments(
    segs.features.copy(), segs.lengths, segs.words, segs.recording_ids, segs.starts, segs.ends
  )
  bad.features[:, 0, 0] = np.nan
  cfg2 = speech2vec.Speech2VecConfig(**{**TINY.to_dict(), "epochs": 3})
  with pytest.raises(speech2vec.CollapseError, match=r"loss is nan.*ckpt-1 \(epoch 1\)"):
    speech2vec.train(bad, norm, cfg2, str(tmp_path))
  assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-1")


def test_identical_embeddings_stop_training(tmp_path):
  segs = _fake_segments()
  norm = mfcc.Normalizer.fit(segs.features, segs.lengths)
  cfg = speech2vec.Speech2VecConfig(**{**TINY.to_dict(), "collapse_cosine": -1.0})
  with pytest.raises(speech2vec.CollapseError, match="near-identical.*ckpt-0"):
    speech2vec.train(segs, norm, cfg, str(tmp_path))
  assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-0")


def test_no_pairs_is_a_clear_error(tmp_path):
  segs = _fake_segments(n_rec=1, per_rec=1)
  norm = mfcc.Normalizer.fit(segs.features, segs.lengths)
  with pytest.raises(ValueError, match="no skip-gram pairs"):
    speech2vec.train(segs, norm, TINY, str(tmp_path))


def test_keep_probabilities_follow_word2vec_formula():
  words = ["the"] * 80 + ["a"] * 15 + ["joy"] * 4 + ["grief"]
  p = speech2vec.keep_probabilities(words, 0.01)
  for w, n in (("the", 80), ("a", 15), ("joy", 4), ("grief", 1)):
    r = 0.01 / (n / 100.0)
    np.testing.assert_allclose(p[words.index(w)], min(1.0, np.sqrt(r) + r), rtol=1e-6)
  assert p[0] < p[80] < p[95] <= p[99] == 1.0
  np.testing.assert_array_equal(speech2vec.keep_probabilities(words, 0.0), 1.0)


def test_subsampled_dataset_drops_frequent_words_and_masks_their_contexts():
  segs = _fake_segments(n_rec=1, per_rec=40)
  n = len(segs)
  feats = np.zeros((n, 3, 2), np.float32)
  feats[:, :, 0] = np.arange(n)[:, None]  # frame value = segment index
  lengths = np.full(n, 3, np.int32)
  ctx = seg_lib.context_indices(segs, window=2)
  words = np.array(segs.words)
  keep = np.where(words == "w0", 0.0, 1.0).astype(np.float32)  # w0 is never kept
  ds = speech2vec._make_dataset(feats, lengths, ctx, np.arange(n), 4, 0, keep)
  centres, kept_slots = [], 0
  for center, _, c, c_len in ds.take(30):
    ids = center.numpy()[:, 0, 0].astype(int)
    centres += ids.tolist()
    for b, i in enumerate(ids):
      for slot, j in enumerate(ctx[i]):
        expect_kept = j >= 0 and words[j] != "w0"
        assert (c_len.numpy()[b, slot] > 0) == expect_kept
        if expect_kept:
          assert c.numpy()[b, slot, 0, 0] == j
          kept_slots += 1
  assert centres and not any(words[i] == "w0" for i in centres) and kept_slots > 0
  assert set(words[centres]) == set(words) - {"w0"}
