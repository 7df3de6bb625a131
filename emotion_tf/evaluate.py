"""Evaluates a trained model on TFRecord partitions (AVEC CCC, prediction CSVs, JSON summary).

  python -m emotion_tf.evaluate --model_dir DIR --data_dir TFRECORDS --partitions Devel,Test \
      [--which best] [--out DIR] [--embeddings FILE.vec] [--batch_size 8]

Prints the CCC table; writes <out>/evaluation.json, <out>/predictions/<partition>/<id>.csv and
<out>/plots/<partition>/<id>.png (gold vs prediction per dimension; --noplots to skip).
Exit status 2 for a bad input (nothing written), 1 when a partition failed (the others are
written); see README "Exit codes". Flags: evaluate_lib.EvalConfig.
"""

import sys

from absl import flags, logging

from emotion_tf.training import evaluate_export, evaluate_lib
from emotion_tf.util import cli
from emotion_tf.util import config as config_lib

FLAGS = flags.FLAGS


def define_flags() -> None:
  config_lib.define_flags_for(evaluate_lib.EvalConfig)


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  config = config_lib.resolve(evaluate_lib.EvalConfig, FLAGS)
  if config.export:
    if not config.corpus or not config.out:
      cli.usage_error("--export needs --corpus and --out")
    if config.postprocess == "devel":
      cli.usage_error("--export: --postprocess takes a postprocess.json file, not 'devel'")
  elif not config.model_dir or not config.data_dir:
    cli.usage_error("--model_dir and --data_dir are required (or --export and --corpus)")
  try:
    summary = (
      evaluate_export.run_config(config) if config.export else evaluate_lib.run_eval_config(config)
    )
  except (ValueError, OSError) as e:  # found before anything was written
    if cli.disk_full(e):
      raise  # a full disk mid-run: one line from cli.run, exit 1
    raise cli.InputError(str(e)) from e
  except RuntimeError as e:  # every partition failed; the summary says why
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return cli.EXIT_FAILURE
  sys.stdout.write(evaluate_lib.format_table(summary) + "\n")
  for partition, message in summary["errors"].items():
    sys.stderr.write(f"error: partition {partition}: {message}\n")
  return cli.EXIT_FAILURE if summary["errors"] else cli.EXIT_OK


def console_main() -> None:
  """Entry point of the `emotion-tf-evaluate` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
