"""Training flags (`define_training_flags()`); defaults are the paper's (Sec. 5.1)."""

from absl import flags


def define_training_flags() -> None:
  """--model_dir, --epochs, --batch_size, --learning_rate, --clip_norm, --seed, ..."""
  if "model_dir" in flags.FLAGS:
    return
  flags.DEFINE_string("model_dir", "", "Output directory: checkpoints, backup, logs, best.keras, "
                      "last.keras, config.json. Rerunning the same command resumes from it.")
  flags.DEFINE_integer("epochs", 50, "Epochs (passes over the training partition).", lower_bound=1)
  flags.DEFINE_integer("batch_size", 25, "Global batch size (split over replicas; must be "
                       "divisible by their number).", lower_bound=1)
  flags.DEFINE_float("learning_rate", 1e-4, "Adam learning rate.", lower_bound=0.0)
  flags.DEFINE_enum("optimizer", "adam", ["adam", "sgd"], "Optimizer (the paper: Adam).")
  flags.DEFINE_float("clip_norm", 5.0, "Global gradient-norm clip (0 = off).", lower_bound=0.0)
  flags.DEFINE_integer("seed", 0, "Seed of weights, dropout and data order.")
  flags.DEFINE_integer("steps_per_epoch", 0, "Cap on steps per epoch (0 = one full pass).",
                       lower_bound=0)
  flags.DEFINE_integer("backup_every_steps", 20, "Steps between backups (crash recovery).",
                       lower_bound=1)
  flags.DEFINE_integer("log_every_steps", 5, "Steps between TensorBoard training scalars.",
                       lower_bound=1)
  flags.DEFINE_integer("early_stopping_patience", 0, "Stop after this many epochs without a "
                       "better eval mean CCC (0 = off).", lower_bound=0)
  flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16"],
                    "Compute precision; mixed_bfloat16 is for GPUs (loss and CCC statistics stay "
                    "float32).")
  flags.DEFINE_boolean("deterministic", False, "Enable TensorFlow op determinism (slower).")
