"""Trains the emotion model: `python -m emotion_tf.train --data_dir DIR --model_dir DIR`.

Rerunning the same command after a crash resumes from the last backup. The flags are derived
from `train_lib.TrainConfig` and `models.ModelConfig` (emotion_tf.util.config); besides them:
  --config_file FILE      JSON with sections "train" (or "training") and "model", e.g. a
                          model_dir's config.json, to rerun that configuration;
  --params_override S     'train.learning_rate=1e-3,model.variant=concat' (applied last);
  --flagfile FILE         as for any absl binary (examples in flags/).
Precedence: dataclass defaults < --config_file < flags on the command line < --params_override.
See emotion_tf/training/train_lib.py for the model directory layout.

Before the first step every shard is read once and checked against metadata.json; a corrupt or
truncated shard, a shard not matching the metadata, or a TFRecord directory marked incomplete
(unless --allow_incomplete) is refused with exit status 2, naming the file and the rerun that
fixes it. Exit status 1 when training diverges (README "Exit codes").
"""

import sys

from absl import flags, logging

from emotion_tf.model.models import ModelConfig
from emotion_tf.training import train_lib
from emotion_tf.util import cli
from emotion_tf.util import config as config_lib

FLAGS = flags.FLAGS
SECTIONS = ("train", "model")
SECTION_ALIASES = {"training": "train"}


def define_flags() -> None:
  config_lib.define_flags_for(train_lib.TrainConfig)
  config_lib.define_flags_for(ModelConfig)
  flags.DEFINE_integer(
    "semantic_dim",
    0,
    "Semantic vector dimension d_s; 0 = read it from the "
    "TFRecord metadata (or from --embeddings when given).",
    lower_bound=0,
  )
  flags.DEFINE_string(
    "config_file",
    "",
    "JSON config with sections 'train' and 'model' (a "
    "model_dir's config.json works); flags given on the command line win.",
  )
  flags.DEFINE_string(
    "params_override",
    "",
    "Comma-separated section.field=value overrides "
    "applied last, e.g. 'train.learning_rate=1e-3,model.variant=concat'.",
  )


def configs_from_flags():
  """(TrainConfig, ModelConfig) from --config_file, the command-line flags, --params_override.

  Raises:
    config_lib.ConfigError / train_lib.TrainingSetupError: a bad file, override or value.
  """
  files, overrides = config_lib.sections_of(
    FLAGS.config_file, FLAGS.params_override, SECTIONS, SECTION_ALIASES
  )
  train_config = config_lib.resolve(
    train_lib.TrainConfig,
    FLAGS,
    file_section=files.get("train"),
    override_section=overrides.get("train"),
  )
  if not train_config.data_dir or not train_config.model_dir:
    missing = "--data_dir" if not train_config.data_dir else "--model_dir"
    cli.usage_error(f"{missing} is required")
  required = {}
  if FLAGS.semantic_dim:
    required["semantic_dim"] = FLAGS.semantic_dim
  elif "semantic_dim" not in {**files.get("model", {}), **overrides.get("model", {})}:
    required["semantic_dim"] = train_lib.semantic_dim_of(
      train_config.data_dir, train_config.embeddings
    )
  model_config = config_lib.resolve(
    ModelConfig,
    FLAGS,
    file_section=files.get("model"),
    required=required,
    override_section=overrides.get("model"),
  )
  return train_config, model_config


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  try:
    # ValueError covers ConfigError, TrainingSetupError and values the dataclasses reject.
    train_config, model_config = configs_from_flags()
  except ValueError as e:
    raise cli.InputError(str(e)) from e
  try:
    result = train_lib.train(train_config, model_config)
  except train_lib.TrainingSetupError as e:
    raise cli.InputError(str(e)) from e
  except train_lib.TrainingDivergedError as e:
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return cli.EXIT_FAILURE
  best = result["best_eval_ccc"]
  logging.info(
    "done: %d steps, %d epochs, best eval mean CCC %.4f; model dir %s",
    result["global_step"],
    result["epochs_completed"],
    best,
    train_config.model_dir,
  )
  return cli.EXIT_OK


def console_main() -> None:
  """Entry point of the `emotion-tf-train` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
