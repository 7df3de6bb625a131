"""Trains the emotion model: `python -m emotion_tf.train --data_dir DIR --model_dir DIR`.

Rerunning the same command after a crash resumes from the last backup. `--flagfile`
works as for any absl binary. See emotion_tf/training.py for the model directory layout.

Before the first step every shard is read once and checked against metadata.json; a corrupt or
truncated shard, a shard not matching the metadata, or a TFRecord directory marked incomplete
(unless --allow_incomplete) is refused with exit status 2, naming the file and the rerun that
fixes it. Exit status 1 when training diverges (README "Exit codes").
"""

import sys

from absl import flags
from absl import logging

from emotion_tf import cli
from emotion_tf import training
from emotion_tf.models import ModelConfig
from flags.data_flags import define_data_flags
from flags.model_flags import define_model_flags
from flags.training_flags import define_training_flags

FLAGS = flags.FLAGS


def define_flags() -> None:
  define_data_flags()
  define_model_flags()
  define_training_flags()
  for name in ("data_dir", "model_dir"):
    flags.register_validator(name, bool, message=f"--{name} is required")
  flags.register_validator(
      "batch_size", lambda b: b > 0, message="--batch_size must be positive")
  flags.DEFINE_boolean("allow_incomplete", False, "Train on a TFRecord directory whose "
                       "metadata.json says \"complete\": false (some recordings failed to "
                       "write); by default such a directory is refused, naming what is missing.")


def configs_from_flags():
  """(TrainConfig, ModelConfig) from the parsed flags."""
  semantic_dim = FLAGS.semantic_dim or training.semantic_dim_of(FLAGS.data_dir, FLAGS.embeddings)
  model_config = ModelConfig(variant=FLAGS.variant, semantic_dim=semantic_dim,
                             fusion_units=FLAGS.fusion_units, lstm_units=FLAGS.lstm_units,
                             dropout=FLAGS.dropout, lstm_dropout=FLAGS.lstm_dropout)
  train_config = training.TrainConfig(
      data_dir=FLAGS.data_dir, model_dir=FLAGS.model_dir, embeddings=FLAGS.embeddings,
      train_partition=FLAGS.train_partition, eval_partition=FLAGS.eval_partition,
      epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
      optimizer=FLAGS.optimizer,
      clip_norm=FLAGS.clip_norm, seed=FLAGS.seed, steps_per_epoch=FLAGS.steps_per_epoch,
      backup_every_steps=FLAGS.backup_every_steps, log_every_steps=FLAGS.log_every_steps,
      early_stopping_patience=FLAGS.early_stopping_patience,
      shuffle_buffer=FLAGS.shuffle_buffer, precision=FLAGS.precision,
      deterministic=FLAGS.deterministic, allow_incomplete=FLAGS.allow_incomplete)
  return train_config, model_config


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  try:
    train_config, model_config = configs_from_flags()
    result = training.train(train_config, model_config)
  except training.TrainingSetupError as e:
    raise cli.InputError(str(e)) from e
  except training.TrainingDivergedError as e:
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return cli.EXIT_FAILURE
  best = result["best_eval_ccc"]
  logging.info("done: %d steps, %d epochs, best eval mean CCC %.4f; model dir %s",
               result["global_step"], result["epochs_completed"], best, FLAGS.model_dir)
  return cli.EXIT_OK


if __name__ == "__main__":
  define_flags()
  cli.run(main)
