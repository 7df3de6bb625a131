"""Flags of `python -m emotion_tf.export` and `python -m emotion_tf.predict`.

Defined only when `define_export_flags()` / `define_predict_flags()` is called; calling one twice
is harmless.
"""

from absl import flags


def define_export_flags() -> None:
  """--model_dir, --which, --out, --force for the SavedModel export."""
  if "force" in flags.FLAGS:
    return
  flags.DEFINE_string("model_dir", "", "Model directory written by `emotion_tf.train`.")
  flags.DEFINE_enum("which", "best", ["best", "last"],
                    "Which saved model to export; 'best' falls back to last.keras.")
  flags.DEFINE_string("out", "", "Export directory (SavedModel); empty = <model_dir>/export.")
  flags.DEFINE_boolean("force", False, "Re-export even when --out already holds an export of "
                       "the same model file (otherwise that export is kept and the run skips).")
  flags.DEFINE_string("speech2vec_dir", "", "Speech2Vec run directory (encoder/, normalizer.json, "
                      "config.json): with --alignment_dir, the export carries the semantic "
                      "frontend so `emotion_tf.predict --audio FILE.wav` needs nothing else.")
  flags.DEFINE_string("alignment_dir", "", "Alignment run directory (W.npy, speech_mean.npy).")
  flags.DEFINE_boolean("snap_to_types", False, "Ship the aligned type vectors too and replace "
                       "each speech token by its nearest type vector (for a model trained on "
                       "looked-up type vectors).")
  flags.DEFINE_string("data_dir", "", "TFRecords the model was trained on: when written with "
                      "--semantic_source speech and no --speech2vec_dir/--alignment_dir is "
                      "given, the frontend recorded in their metadata.json is exported.")


def define_predict_flags() -> None:
  """--model, --audio, --word_timings, --embeddings, --tier, --out, --oov, --name for prediction."""
  if "word_timings" in flags.FLAGS:
    return
  flags.DEFINE_string("model", "", "SavedModel directory written by `emotion_tf.export`.")
  flags.DEFINE_string("audio", "", "Input wav file (any sample rate / channel count).")
  flags.DEFINE_string("word_timings", "", "Word timings of the recording: CSV `id;start;end;word` "
                      "or a Praat .TextGrid. Empty = automatic word segments when the export "
                      "carries a semantic frontend, else no words (semantic vectors zero).")
  flags.DEFINE_string("embeddings", "", "Word vectors (.vec, word2vec text format) of the space "
                      "the model was trained on (lookup by word string); without it, an export "
                      "carrying a semantic frontend computes the vectors from the speech.")
  flags.DEFINE_string("tier", "", "TextGrid tier with the words; empty = the `words` tier or the "
                      "first interval tier.")
  flags.DEFINE_string("out", "", "Output CSV `name;time;arousal;valence;liking` at 10 Hz; "
                      "empty = <audio path without .wav>.predictions.csv.")
  flags.DEFINE_enum("oov", "zeros", ["zeros", "hash"], "Vector of a word missing from "
                    "--embeddings: zeros, or the TFRecord writer's deterministic hash vector "
                    "(use what the training data used).")
  flags.DEFINE_string("name", "", "Value of the CSV's name column; empty = the wav file's stem.")
