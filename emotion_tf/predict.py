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

from emotion_tf import predict_lib

FLAGS = flags.FLAGS


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


if __name__ == "__main__":
  from flags.export_flags import define_predict_flags  # pylint: disable=g-import-not-at-top
  define_predict_flags()
  app.run(main)
