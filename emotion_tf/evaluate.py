"""Evaluates a trained model on TFRecord partitions (AVEC CCC, prediction CSVs, JSON summary).

  python -m emotion_tf.evaluate --model_dir DIR --data_dir TFRECORDS --partitions Devel,Test \
      [--which best] [--out DIR] [--embeddings FILE.vec] [--batch_size 8]

Prints the CCC table; writes <out>/evaluation.json and <out>/predictions/<partition>/<id>.csv.
Exit status 2 for a bad input (nothing written), 1 when a partition failed (the others are
written); see README "Exit codes".
"""

import sys

from absl import flags
from absl import logging

from emotion_tf import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
  from flags.eval_flags import define_eval_flags  # pylint: disable=g-import-not-at-top
  define_eval_flags()
  flags.DEFINE_boolean("allow_incomplete", False, "Evaluate a TFRecord directory whose "
                       "metadata.json says \"complete\": false (some recordings failed to "
                       "write); by default such a directory is refused, naming what is missing.")


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model_dir or not FLAGS.data_dir:
    cli.usage_error("--model_dir and --data_dir are required")
  # TensorFlow is imported only now: flag errors and --help answer at once.
  from emotion_tf import evaluation  # pylint: disable=g-import-not-at-top
  try:
    summary = evaluation.run_evaluation(
        FLAGS.model_dir, FLAGS.data_dir, FLAGS.partitions, out_dir=FLAGS.out or None,
        which=FLAGS.which, batch_size=FLAGS.batch_size, embeddings=FLAGS.embeddings or None,
        allow_incomplete=FLAGS.allow_incomplete)
  except (ValueError, OSError) as e:   # found before anything was written
    raise cli.InputError(str(e)) from e
  except RuntimeError as e:             # every partition failed; the summary says why
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return cli.EXIT_FAILURE
  sys.stdout.write(evaluation.format_table(summary) + "\n")
  for partition, message in summary["errors"].items():
    sys.stderr.write(f"error: partition {partition}: {message}\n")
  return cli.EXIT_FAILURE if summary["errors"] else cli.EXIT_OK


if __name__ == "__main__":
  define_flags()
  cli.run(main)
