"""Data preparation for emotion_tf: corpus readers, the synthetic corpus, word timings, TFRecord writer.

Modules:
  lexicon         -- the VADER valence lexicon (ships with vaderSentiment), scaled to [-1, 1].
  corpus          -- reader of the AVEC 2017 SEWA layout (audio, labels, turns, transcriptions).
  word_timings    -- word normalisation and word timings (uniform split, CSV, Praat TextGrid).
  synthesize      -- a synthetic SEWA-layout corpus spoken by espeak-ng (`python -m data_prep.synthesize`).
  write_tfrecords -- 10 s chunk TFRecord shards (`python -m data_prep.write_tfrecords`).
"""
