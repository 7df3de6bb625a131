"""Predicts arousal, valence and liking at 10 Hz for one recording with an exported SavedModel.

  python -m emotion_tf.predict --model EXPORT_DIR --audio FILE.wav \
      --word_timings FILE.csv|FILE.TextGrid --embeddings FILE.vec --out FILE.csv

Any wav rate or channel count (resampled to the model's 22 050 Hz); the whole recording in one
pass. Output rows `name;time;arousal;valence;liking`, no header. See emotion_tf.predict_lib.
Exit status 1 with a message naming the file for a bad input.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

from emotion_tf import cli
from emotion_tf import predict_lib

FLAGS = flags.FLAGS


def define_flags() -> None:
  """--model, --audio, --word_timings, --embeddings, --tier, --out, --oov, --name for prediction."""
  flags.DEFINE_string("model", "", "SavedModel directory written by `emotion_tf.export`.")
  flags.DEFINE_string("audio", "", "Input wav file (any sample rate / channel count).")
  flags.DEFINE_string("word_timings", "", "Word timings of the recording: CSV `id;start;end;word` "
                      "or a Praat .TextGrid. Empty = no words (all semantic vectors zero).")
  flags.DEFINE_string("embeddings", "", "Word vectors (.vec, word2vec text format) of the space "
                      "the model was trained on; needed with --word_timings.")
  flags.DEFINE_string("tier", "", "TextGrid tier with the words; empty = the `words` tier or the "
                      "first interval tier.")
  flags.DEFINE_string("out", "", "Output CSV `name;time;arousal;valence;liking` at 10 Hz; "
                      "empty = <audio path without .wav>.predictions.csv.")
  flags.DEFINE_enum("oov", "zeros", ["zeros", "hash"], "Vector of a word missing from "
                    "--embeddings: zeros, or the TFRecord writer's deterministic hash vector "
                    "(use what the training data used).")
  flags.DEFINE_string("name", "", "Value of the CSV's name column; empty = the wav file's stem.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model or not FLAGS.audio:
    raise app.UsageError("--model and --audio are required")
  out = FLAGS.out or os.path.splitext(FLAGS.audio)[0] + ".predictions.csv"
  try:
    info = predict_lib.predict_to_csv(
        FLAGS.model, FLAGS.audio, out, word_timings_path=FLAGS.word_timings or None,
        embeddings_path=FLAGS.embeddings or None, name=FLAGS.name or None,
        tier=FLAGS.tier or None, oov=FLAGS.oov)
  except (ValueError, OSError) as e:
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return 1
  sys.stdout.write(f"wrote {out}: {info['frames']} frames ({info['seconds']:.1f} s), "
                   f"{info['frames_with_word']} frames with a word, {info['oov_words']} OOV words\n")
  return 0


def console_main() -> None:
  """Entry point of the `emotion-tf-predict` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
