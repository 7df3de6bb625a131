"""Data preparation binaries and their libraries (the model-side readers live in emotion_tf.data).

Each binary `X.py` (`python -m data_prep.X`, console script `emotion-tf-X`) holds only
`define_flags()` and `main()`; its library is `X_lib.py`:
  synthesize        -- a synthetic SEWA-layout corpus spoken by espeak-ng.
  train_word2vec    -- the Word2Vec text space (gensim skip-gram).
  train_speech2vec  -- the Speech2Vec speech space (emotion_tf.semantic.speech2vec).
  align_embeddings  -- Speech2Vec -> Word2Vec alignment (emotion_tf.semantic.alignment).
  write_tfrecords   -- 10 s chunk TFRecord shards (emotion_tf.data.schema).
  lexicon           -- the VADER valence lexicon (ships with vaderSentiment), scaled to [-1, 1].
Dependencies run one way: data_prep imports emotion_tf, never the reverse.
"""
