"""Evaluates a trained model on TFRecord partitions (AVEC CCC, prediction CSVs, JSON summary).

  python -m emotion_tf.evaluate --model_dir DIR --data_dir TFRECORDS --partitions Devel,Test \
      [--which best] [--out DIR] [--embeddings FILE.vec] [--batch_size 8]

Prints the CCC table; writes <out>/evaluation.json, <out>/predictions/<partition>/<id>.csv and
<out>/plots/<partition>/<id>.png (gold vs prediction per dimension; --noplots to skip).
Exit status 1 when an input is bad or a partition failed.
"""

import sys

from absl import app
from absl import flags
from absl import logging

from emotion_tf import evaluate_lib

FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model_dir or not FLAGS.data_dir:
    raise app.UsageError("--model_dir and --data_dir are required")
  try:
    summary = evaluate_lib.run_evaluation(
        FLAGS.model_dir, FLAGS.data_dir, FLAGS.partitions, out_dir=FLAGS.out or None,
        which=FLAGS.which, batch_size=FLAGS.batch_size, embeddings=FLAGS.embeddings or None,
        plots=FLAGS.plots)
  except (ValueError, OSError, RuntimeError) as e:
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return 1
  sys.stdout.write(evaluate_lib.format_table(summary) + "\n")
  for partition, message in summary["errors"].items():
    sys.stderr.write(f"error: partition {partition}: {message}\n")
  return 1 if summary["errors"] else 0


if __name__ == "__main__":
  from flags.eval_flags import define_eval_flags  # pylint: disable=g-import-not-at-top
  define_eval_flags()
  app.run(main)
