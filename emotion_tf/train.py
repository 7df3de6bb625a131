"""Trains the emotion model: `python -m emotion_tf.train --data_dir DIR --model_dir DIR`.

Rerunning the same command after a crash resumes from the last backup. `--flagfile`
works as for any absl binary. See emotion_tf/train_lib.py for the model directory layout.
"""

import sys

from absl import app
from absl import flags
from absl import logging

from emotion_tf import train_lib
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


def configs_from_flags():
  """(TrainConfig, ModelConfig) from the parsed flags."""
  semantic_dim = FLAGS.semantic_dim or train_lib.semantic_dim_of(FLAGS.data_dir, FLAGS.embeddings)
  model_config = ModelConfig(variant=FLAGS.variant, semantic_dim=semantic_dim,
                             fusion_units=FLAGS.fusion_units, lstm_units=FLAGS.lstm_units,
                             dropout=FLAGS.dropout, lstm_dropout=FLAGS.lstm_dropout)
  train_config = train_lib.TrainConfig(
      data_dir=FLAGS.data_dir, model_dir=FLAGS.model_dir, embeddings=FLAGS.embeddings,
      train_partition=FLAGS.train_partition, eval_partition=FLAGS.eval_partition,
      epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
      optimizer=FLAGS.optimizer,
      clip_norm=FLAGS.clip_norm, seed=FLAGS.seed, steps_per_epoch=FLAGS.steps_per_epoch,
      backup_every_steps=FLAGS.backup_every_steps, log_every_steps=FLAGS.log_every_steps,
      early_stopping_patience=FLAGS.early_stopping_patience,
      shuffle_buffer=FLAGS.shuffle_buffer, precision=FLAGS.precision,
      deterministic=FLAGS.deterministic)
  return train_config, model_config


def main(argv):
  del argv
  try:
    train_config, model_config = configs_from_flags()
    result = train_lib.train(train_config, model_config)
  except train_lib.TrainingSetupError as e:
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return 2
  except train_lib.TrainingDivergedError as e:
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return 3
  best = result["best_eval_ccc"]
  logging.info("done: %d steps, %d epochs, best eval mean CCC %.4f; model dir %s",
               result["global_step"], result["epochs_completed"], best, FLAGS.model_dir)
  return 0


if __name__ == "__main__":
  define_flags()
  app.run(main)
