"""Speech-token semantics: token vectors, frame filling, writer == predict, segmenter,
export carrying the frontend."""

import json
import os
import shutil

import numpy as np
import pytest
from data_fixtures import tiny_corpus  # noqa: F401  (fixture)
from test_export import SMALL

from emotion_tf.data import corpus
from emotion_tf.data import frames as frames_lib
from emotion_tf.data import word_timings as wt
from emotion_tf.semantic import mfcc as mfcc_lib
from emotion_tf.semantic import segmenter, tokens
from emotion_tf.semantic import segments as segments_lib
from emotion_tf.serving import export_lib, predict_lib

SR = 22050
D_S = 6
D_T = SMALL["semantic_dim"]
MAX_FRAMES = 20
RESAMPLE = 8


def _unit(x):
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@pytest.fixture(scope="module")
def frontend_dirs(tmp_path_factory):
  """(speech2vec_dir, alignment_dir, encoder, normalizer, mfcc_config, W, mean): a tiny
  random Speech2Vec run and alignment, laid out as the binaries write them."""
  import keras

  from emotion_tf.semantic import speech2vec

  root = tmp_path_factory.mktemp("frontend")
  s2v, align = str(root / "speech2vec"), str(root / "alignment")
  os.makedirs(s2v)
  os.makedirs(align)
  rng = np.random.default_rng(0)
  keras.utils.set_random_seed(3)
  mfcc_config = mfcc_lib.MfccConfig()
  encoder = speech2vec.Speech2VecEncoder(4, D_S, name="encoder")
  encoder.build((None, None, mfcc_config.num_features))
  normalizer = mfcc_lib.Normalizer(
    rng.normal(size=13).astype(np.float32) * 0.1,
    rng.uniform(0.5, 1.5, size=13).astype(np.float32),
    100,
  )
  normalizer.save(os.path.join(s2v, "normalizer.json"))
  with open(os.path.join(s2v, "config.json"), "w", encoding="utf-8") as f:
    json.dump(
      {
        "mfcc": mfcc_config.to_dict(),
        "speech2vec": {"max_frames": MAX_FRAMES, "resample_frames": RESAMPLE},
      },
      f,
    )
  speech2vec.export_encoder(
    encoder, normalizer, mfcc_config, MAX_FRAMES, os.path.join(s2v, "encoder"), RESAMPLE
  )
  w = np.linalg.qr(rng.normal(size=(D_T, D_T)))[0][:, :D_S].astype(np.float32)  # [d_t, d_s]
  mean = (rng.normal(size=D_S) * 0.1).astype(np.float32)
  np.save(os.path.join(align, "W.npy"), w)
  np.save(os.path.join(align, "speech_mean.npy"), mean)
  from emotion_tf.data import vectors as vec_io

  vec_io.write_vec(
    os.path.join(align, "aligned_speech2vec.vec"),
    [f"w{i}" for i in range(5)],
    _unit(rng.normal(size=(5, D_T))).astype(np.float32),
  )
  return s2v, align, encoder, normalizer, mfcc_config, w, mean


def test_token_vectors_equal_encoder_of_mfcc_times_w(frontend_dirs):
  import tensorflow as tf

  s2v, align, encoder, normalizer, mfcc_config, w, mean = frontend_dirs
  frontend = tokens.load_frontend_dirs(s2v, align)
  rng = np.random.default_rng(1)
  wave = (rng.normal(size=SR * 2) * 0.1).astype(np.float32)
  # Normal words, a long one (> MAX_FRAMES frames: truncated), one shorter than a window,
  # one past the end of the audio.
  segments = [(0.1, 0.35), (0.4, 0.47), (0.5, 1.2), (1.3, 1.31), (2.5, 2.9), (1.5, 1.9)]
  got = tokens.token_vectors(frontend, wave, segments)
  assert got.shape == (len(segments), D_T)
  for i, (start, end) in enumerate(segments):
    a, b = int(round(start * SR)), min(int(round(end * SR)), len(wave))
    if b - a < mfcc_config.frame_length:
      np.testing.assert_array_equal(got[i], 0.0)
      continue
    # The training feature extractor (truncation to MAX_FRAMES, time resampling).
    seg, _ = segments_lib.extract_segments(
      wave, [(start, end, "w")], "r", mfcc_config, MAX_FRAMES, RESAMPLE
    )
    frames = seg.lengths
    x = normalizer.apply(seg.features, frames)
    s = encoder(tf.constant(x), mask=tf.sequence_mask(frames, RESAMPLE)).numpy()[0]
    want = _unit(w.astype(np.float64) @ _unit(_unit(s.astype(np.float64)) - mean))
    np.testing.assert_allclose(got[i], want, atol=1e-5)
  # Snapping to the type codebook: the row of highest cosine, zeros stay zeros.
  from emotion_tf.data import vectors as vec_io

  _, book = vec_io.read_vec(os.path.join(align, "aligned_speech2vec.vec"))
  snapped = tokens.token_vectors(
    tokens.load_frontend_dirs(s2v, align, snap_to_types=True), wave, segments
  )
  for i in range(len(segments)):
    if np.any(got[i]):
      np.testing.assert_array_equal(snapped[i], book[np.argmax(book @ got[i])])
    else:
      np.testing.assert_array_equal(snapped[i], 0.0)


def test_fill_frames_against_brute_force():
  rng = np.random.default_rng(2)
  segments = [(0.05, 0.33), (0.3, 0.61), (0.9, 1.0), (1.02, 1.04), (1.5, 2.5), (2.0, 2.2)]
  vectors = rng.normal(size=(len(segments), 3)).astype(np.float32)
  frames = 23
  want = np.zeros((frames, 3), np.float32)
  for k in range(frames):
    centre = (k + 0.5) * 0.1
    best = None
    for i, (s, e) in enumerate(segments):
      if s <= centre < e and (best is None or (s, e) >= segments[best]):
        best = i
    if best is not None:
      want[k] = vectors[best]
  np.testing.assert_array_equal(tokens.fill_frames(segments, vectors, frames, 0.1), want)
  # The same frame -> segment rule as the TFRecord writer's frame_word_index.
  timings = [wt.WordTiming(s, e, f"w{i}") for i, (s, e) in enumerate(segments)]
  index = frames_lib.frame_word_index(timings, {f"w{i}": i + 1 for i in range(6)}, frames)
  np.testing.assert_array_equal(tokens.frame_segment_index(segments, frames) + 1, index)


def _serving_export(root, frontend_dirs):
  import keras

  from emotion_tf.model.models import build_model

  keras.utils.set_random_seed(5)
  export_dir = str(root / "export")
  export_lib.export_saved_model(build_model(**SMALL), export_dir)
  export_lib.export_semantic_frontend(export_dir, frontend_dirs[0], frontend_dirs[1])
  return export_dir


def test_writer_and_predict_features_identical(
  tiny_corpus,  # noqa: F811
  frontend_dirs,  # noqa: F811
  tmp_path,
):
  import tensorflow as tf

  from data_prep import write_tfrecords_lib as write_tfrecords
  from emotion_tf.data import schema

  s2v, align = frontend_dirs[:2]
  vec = str(tmp_path / "space.vec")
  from emotion_tf.data import vectors as vec_io

  vec_io.write_vec(vec, ["the", "a"], np.ones((2, D_T), np.float32))
  out = str(tmp_path / "tfrecords")
  timings_dir = os.path.join(tiny_corpus, "word_timings")
  report = write_tfrecords.write_tfrecords(
    write_tfrecords.WriteJobConfig(
      corpus=tiny_corpus,
      embeddings=vec,
      out=out,
      word_timings=timings_dir,
      partitions=["test"],
      semantic_source="speech",
      speech2vec_dir=s2v,
      alignment_dir=align,
      num_workers=1,
    )
  )
  assert report["ok"], report["errors"]
  meta = schema.read_metadata(out)
  assert meta.semantic_source["kind"] == "speech"
  # `emotion_tf.export --data_dir` finds the frontend the TFRecords were written with.
  assert export_lib.frontend_from_data_dir(out) == (os.path.abspath(s2v), os.path.abspath(align))
  chunks = []
  for shard in sorted(os.listdir(out)):
    if shard.endswith(".tfrecord"):
      for raw in tf.data.TFRecordDataset(os.path.join(out, shard)):
        ex = schema.parse_example(raw, semantic_dim=D_T)
        chunks.append((int(ex["chunk_index"]), ex["semantic"].numpy()[: int(ex["num_frames"])]))
  written = np.concatenate([c for _, c in sorted(chunks, key=lambda c: c[0])])
  # Predict path: the export carrying the frontend, the wav and the same timings.
  export_dir = _serving_export(tmp_path, frontend_dirs)
  model = export_lib.ExportedModel(export_dir)
  wav = os.path.join(tiny_corpus, "audio", "Test_01.wav")
  audio = corpus.load_audio(wav, SR)
  frames = frames_lib.frames_in(len(audio), 2205)
  assert frames == written.shape[0]
  timings = wt.load_word_timings(tiny_corpus, "Test_01", timings_dir)
  frontend = export_lib.load_semantic_frontend(export_dir)
  predicted, stats = predict_lib.speech_token_frames(
    frontend, audio[: frames * 2205], timings, frames
  )
  assert stats["segment_source"] == "timings" and stats["frames_with_word"] > frames // 4
  np.testing.assert_array_equal(predicted, written)
  # And predict_recording feeds exactly those features to the model.
  preds, _ = predict_lib.predict_recording(model, wav, os.path.join(timings_dir, "Test_01.csv"))
  np.testing.assert_allclose(preds, model(audio[: frames * 2205], written), atol=1e-6)


def test_export_predicts_from_wav_alone_and_refuses_tampered_frontend(
  tiny_corpus,  # noqa: F811
  frontend_dirs,
  tmp_path,
):
  export_dir = _serving_export(tmp_path, frontend_dirs)
  meta = export_lib.read_export_metadata(export_dir)
  assert set(meta["semantic_frontend"]["files_sha256"]) >= {
    "W.npy",
    "speech_mean.npy",
    "normalizer.json",
    "encoder/saved_model.pb",
  }
  model = export_lib.ExportedModel(export_dir)
  wav = os.path.join(tiny_corpus, "audio", "Test_01.wav")
  preds, info = predict_lib.predict_recording(model, wav)
  assert info["segment_source"] == "segmenter" and info["segments"] > 5
  audio = corpus.load_audio(wav, SR)
  frames = info["frames"]
  audio = audio[: frames * 2205]
  semantic = tokens.speech_semantic_frames(
    tokens.load_frontend_dirs(*frontend_dirs[:2]), audio, segmenter.segment(audio), frames
  )
  assert np.abs(semantic).sum() > 0
  np.testing.assert_allclose(preds, model(audio, semantic), atol=1e-6)
  # A frontend file that is not the one recorded is refused, naming the file.
  w_path = os.path.join(export_dir, export_lib.FRONTEND_DIR, "W.npy")
  np.save(w_path, np.load(w_path) * 2.0)
  with pytest.raises(export_lib.ExportError, match="W.npy.*SHA-256"):
    predict_lib.predict_recording(export_lib.ExportedModel(export_dir), wav)
  os.remove(w_path)
  with pytest.raises(export_lib.ExportError, match="W.npy.*missing"):
    export_lib.load_semantic_frontend(export_dir)


# ------------------------------------------------------------------------------------ segmenter


def _tone(seconds, rng, amp=0.3, freq=220.0):
  t = np.arange(int(seconds * SR)) / SR
  return amp * np.sin(2 * np.pi * freq * t) * (1 + 0.3 * rng.standard_normal(t.size) * 0.1)


def test_segmenter_tone_bursts_between_silences():
  rng = np.random.default_rng(4)
  parts, truth, t = [], [], 0.0
  for burst, gap in [(0.3, 0.4), (0.25, 0.06), (0.5, 0.2), (0.18, 0.05), (0.35, 0.5)]:
    parts += [np.zeros(int(gap * SR)), _tone(burst, rng)]
    truth.append((t + gap, t + gap + burst))
    t += gap + burst
  parts.append(np.zeros(int(0.3 * SR)))
  wave = np.concatenate(parts) + rng.standard_normal(sum(map(len, parts))) * 1e-3
  segs = segmenter.segment(wave.astype(np.float32))
  assert len(segs) == len(truth)
  np.testing.assert_allclose(np.array(segs), np.array(truth), atol=0.015)
  assert segmenter.boundary_f1(segs, truth, 0.02)["f1"] == 1.0
  assert segmenter.words_hit(segs, truth) == {
    "centre_hit": 1.0,
    "one_to_one": 1.0,
    "overlap_50": 1.0,
  }


def test_segmenter_splits_long_voiced_run_at_energy_minima():
  rng = np.random.default_rng(5)
  tone = _tone(2.4, rng)
  for centre in (0.8, 1.6):  # 20 ms dips to 1/10 amplitude: minima, still voiced
    a, b = int((centre - 0.01) * SR), int((centre + 0.01) * SR)
    tone[a:b] *= 0.1
  wave = np.concatenate([np.zeros(SR // 2), tone, np.zeros(SR // 2)])
  wave = (wave + rng.standard_normal(wave.size) * 1e-3).astype(np.float32)
  segs = segmenter.segment(wave)
  cuts = [e for _, e in segs[:-1]]
  assert len(segs) == 3
  np.testing.assert_allclose(cuts, [1.3, 2.1], atol=0.02)


def test_boundary_f1_counts():
  ref = [(0.0, 1.0), (1.2, 2.0)]
  pred = [(0.02, 0.96), (1.3, 2.04), (3.0, 3.5)]
  r = segmenter.boundary_f1(pred, ref, 0.05)
  assert (r["matched"], r["predicted"], r["reference"]) == (3, 6, 4)
  assert r["f1"] == pytest.approx(2 * 0.5 * 0.75 / 1.25)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_segmenter_on_espeak_sentence():
  from data_prep import synthesize_lib as synthesize

  words = ["the", "wonderful", "garden", "was", "terribly", "quiet", "today"]
  rng = np.random.default_rng(6)
  parts, truth, t = [np.zeros(int(0.3 * SR))], [], 0.3
  for i, word in enumerate(words):
    x = synthesize.espeak_word(word, "en+m1", 0.0) * 0.3
    parts.append(x)
    truth.append((t, t + len(x) / SR))
    t += len(x) / SR
    gap = 0.5 if i == 3 else 0.05
    parts.append(np.zeros(int(gap * SR)))
    t += int(gap * SR) / SR
  wave = np.concatenate(parts)
  wave = (wave + rng.standard_normal(wave.size) * 1e-3).astype(np.float32)
  segs = segmenter.segment(wave)
  b = segmenter.boundary_f1(segs, truth, 0.05)
  hits = segmenter.words_hit(segs, truth)
  assert b["f1"] >= 0.7, (segs, truth)
  assert hits["centre_hit"] >= 6 / 7, (segs, truth)
