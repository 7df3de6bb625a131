"""Predicts arousal, valence and liking at 10 Hz for one recording with an exported SavedModel.

  python -m emotion_tf.predict --model EXPORT_DIR --audio FILE.wav \
      --word_timings FILE.csv|FILE.TextGrid --embeddings FILE.vec --out FILE.csv

Any wav rate or channel count (resampled to the model's 22 050 Hz); the whole recording in one
pass. Output rows `name;time;arousal;valence;liking`, no header. See emotion_tf.inference.
Exit status 2 with a message naming the file for a bad input (see README "Exit codes"). The
SHA-256 of --embeddings must match the embeddings the model was trained with (recorded in the
export), unless --allow_embeddings_mismatch.
"""

import os
import sys

from absl import flags

from emotion_tf import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
  from flags.export_flags import define_predict_flags  # pylint: disable=g-import-not-at-top
  define_predict_flags()
  flags.DEFINE_boolean("allow_embeddings_mismatch", False, "Predict even when the sha256 of "
                       "--embeddings differs from the embeddings the model was trained with "
                       "(recorded in the export); a warning instead of exit status 2.")


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model or not FLAGS.audio:
    cli.usage_error("--model and --audio are required")
  # TensorFlow is imported only now: flag errors and --help answer at once.
  from emotion_tf import inference  # pylint: disable=g-import-not-at-top
  out = FLAGS.out or os.path.splitext(FLAGS.audio)[0] + ".predictions.csv"
  try:
    info = inference.predict_to_csv(
        FLAGS.model, FLAGS.audio, out, word_timings_path=FLAGS.word_timings or None,
        embeddings_path=FLAGS.embeddings or None, name=FLAGS.name or None,
        tier=FLAGS.tier or None, oov=FLAGS.oov,
        allow_embeddings_mismatch=FLAGS.allow_embeddings_mismatch)
  except (ValueError, OSError) as e:   # ExportError, PredictionInputError, CorpusError, ...
    raise cli.InputError(str(e)) from e
  sys.stdout.write(f"wrote {out}: {info['frames']} frames ({info['seconds']:.1f} s), "
                   f"{info['frames_with_word']} frames with a word, {info['oov_words']} OOV words\n")
  return cli.EXIT_OK


if __name__ == "__main__":
  define_flags()
  cli.run(main)
