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


def define_predict_flags() -> None:
  """--model, --audio, --word_timings, --embeddings, --tier, --out, --oov, --name for prediction."""
  if "word_timings" in flags.FLAGS:
    return
  flags.DEFINE_string("model", "", "SavedModel directory written by `emotion_tf.export`.")
  flags.DEFINE_string("audio", "", "Input wav (any sample rate / channel count), or many: a "
                      "directory of .wav files, a comma-separated list or a .txt list file "
                      "(one path a line); one model load serves them all.")
  flags.DEFINE_string("word_timings", "", "Word timings of the recording: CSV `id;start;end;word` "
                      "or a Praat .TextGrid; with several --audio files a directory of "
                      "<stem>.csv|.TextGrid. Empty = no words (all semantic vectors zero).")
  flags.DEFINE_string("embeddings", "", "Word vectors (.vec, word2vec text format) of the space "
                      "the model was trained on; needed with --word_timings.")
  flags.DEFINE_string("tier", "", "TextGrid tier with the words; empty = the `words` tier or the "
                      "first interval tier.")
  flags.DEFINE_string("out", "", "Output CSV `name;time;arousal;valence;liking` at 10 Hz (one "
                      "--audio file and a .csv name), else a directory receiving <stem>.csv per "
                      "file; empty = <audio path without .wav>.predictions.csv beside each wav.")
  flags.DEFINE_boolean("csv_header", False, "Start each prediction CSV with the header line "
                       "`name;time;arousal;valence;liking`.")
  flags.DEFINE_enum("oov", "zeros", ["zeros", "hash"], "Vector of a word missing from "
                    "--embeddings: zeros, or the TFRecord writer's deterministic hash vector "
                    "(use what the training data used).")
  flags.DEFINE_string("name", "", "Value of the CSV's name column; empty = the wav file's stem.")
