"""train_speech2vec with a spoken LibriSpeech-layout pretraining corpus: segments written once,
streamed beside the labelled corpus's training segments, vectors only for the labelled corpus."""

import json
import os
import pathlib

import numpy as np

from data_prep import speak_text_lib, speech2vec_pretrain_lib, synthesize_lib, train_speech2vec_lib
from emotion_tf.data import vectors
from emotion_tf.semantic import segment_shards, speech2vec

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


def test_pretraining_corpus_is_streamed_and_reused(tiny_corpus, tmp_path):
  text = str(tmp_path / "text.txt")
  synthesize_lib.write_text_corpus(text, 40, 0)
  spoken = str(tmp_path / "spoken")
  speak_text_lib.speak_corpus(
    spoken,
    speak_text_lib.SpeakConfig(text, 0.01, ("en+m2", "flite:kal16"), 0, utterances_per_chapter=5),
  )
  timings = os.path.join(tiny_corpus, "word_timings")
  out = str(tmp_path / "s2v")
  report = train_speech2vec_lib.run(
    tiny_corpus, out, timings, config=SMALL, pretrain_corpora=[spoken]
  )
  pre = report["pretraining"]
  assert pre["pretrain_segments"] > 100 and pre["failures"] == {}
  assert pre["streamed_segments"] == report["train_segments"] + pre["pretrain_segments"]
  meta = segment_shards.read_meta(os.path.join(out, speech2vec_pretrain_lib.PRETRAIN_SEGMENTS))
  assert meta["segments"] == pre["pretrain_segments"]
  norm = json.loads(pathlib.Path(os.path.join(out, "normalizer.json")).read_text(encoding="utf-8"))
  assert (
    norm["count"]
    == segment_shards.merged_meta(
      [
        os.path.join(out, d)
        for d in (
          speech2vec_pretrain_lib.PRETRAIN_SEGMENTS,
          speech2vec_pretrain_lib.CORPUS_SEGMENTS,
        )
      ]
    )["mfcc_frames"]
  )
  # Vectors come from the labelled corpus only (the spoken text's words do not get vectors).
  words, vecs = vectors.read_vec(os.path.join(out, "speech2vec.vec"))
  assert len(words) == report["vocabulary"] and np.all(np.isfinite(vecs))
  assert report["training"]["epochs_run"] == 2
  seg_json = os.path.join(out, speech2vec_pretrain_lib.PRETRAIN_SEGMENTS, "segments.json")
  mtime = os.path.getmtime(seg_json)
  again = train_speech2vec_lib.run(
    tiny_corpus, out, timings, config=SMALL, pretrain_corpora=[spoken]
  )
  assert again["training"]["epochs_run"] == 0 and os.path.getmtime(seg_json) == mtime
