"""Ablations of the paper's Tables 2 and 3: `python -m emotion_tf.ablate --run_dir DIR`.

Binary: flags and main. What each row trains and how results are stored:
emotion_tf.experiments.ablate_lib.
"""

import os
import sys

from absl import flags, logging

from emotion_tf.experiments import ablate_lib
from emotion_tf.model import model_dir as model_dir_lib
from emotion_tf.training import train_lib
from emotion_tf.util import cli


def define_flags() -> None:
  flags.DEFINE_string(
    "run_dir", "", "Run directory of `make demo` (required; the paths below default to its layout)."
  )
  flags.DEFINE_string("data_dir", "", "TFRecords; default <run_dir>/tfrecords.")
  flags.DEFINE_string("word2vec", "", "Word2Vec .vec; default <run_dir>/word2vec.vec.")
  flags.DEFINE_string(
    "speech2vec", "", "Speech2Vec .vec; default <run_dir>/speech2vec/speech2vec.vec."
  )
  flags.DEFINE_string(
    "aligned", "", "Aligned Speech2Vec .vec; default <run_dir>/alignment/aligned_speech2vec.vec."
  )
  flags.DEFINE_string(
    "random",
    "",
    "Random-vector-per-word control .vec; default: written to "
    "<out>/controls/seed_<control_seed>/random_vectors.vec over the shards' "
    "vocabulary (unit vectors, the aligned space's dimension).",
  )
  flags.DEFINE_integer("control_seed", 0, "Seed of the random vector per word type.")
  flags.DEFINE_string("out", "", "Output directory; default <run_dir>/ablation.")
  flags.DEFINE_string(
    "corpus",
    "",
    "SEWA-layout corpus for the eGeMAPS baseline row; default "
    "<run_dir>/corpus when it exists (no row without a corpus).",
  )
  flags.DEFINE_list(
    "rows",
    [],
    "Subset of rows (e.g. paralinguistic,word2vec,"
    "disentangled_attention,random_vector_per_word,word2vec_lookup); default all.",
  )
  flags.DEFINE_integer("epochs", 15, "Epochs per model.", lower_bound=1)
  flags.DEFINE_float(
    "learning_rate",
    1e-3,
    "Adam learning rate (see README: the paper's 1e-4 "
    "needs many more steps than the demo corpus gives).",
    lower_bound=0.0,
  )
  defaults = train_lib.TrainConfig()
  flags.DEFINE_integer("batch_size", defaults.batch_size, "Global batch size.")
  flags.DEFINE_integer("seed", defaults.seed, "First seed.")
  flags.DEFINE_integer(
    "seeds",
    ablate_lib.DEFAULT_SEEDS,
    "Seeds per row (--seed, --seed + 1, "
    "...): the tables print mean ± sd over seeds, and 'model A vs B' the "
    "paired bootstrap CI of the difference of seed means.",
    lower_bound=1,
  )
  flags.DEFINE_integer(
    "bootstrap_resamples",
    1000,
    "Resamples of the paired bootstrap over recordings; 0 = no comparisons.",
    lower_bound=0,
  )
  flags.DEFINE_string("partition", "Devel", "Partition the tables report.")
  flags.DEFINE_boolean(
    "allow_incomplete",
    False,
    "Train on a TFRecord directory whose "
    'metadata.json says "complete": false (refused by default).',
  )


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  f = flags.FLAGS
  if not f.run_dir and not f.data_dir:
    cli.usage_error("--run_dir (the run directory of `make demo`) or --data_dir is required")
  run = f.run_dir
  data_dir = f.data_dir or os.path.join(run, "tfrecords")
  spaces = {
    "word2vec": f.word2vec or os.path.join(run, "word2vec.vec"),
    "speech2vec": f.speech2vec or os.path.join(run, "speech2vec", "speech2vec.vec"),
    "aligned": f.aligned or os.path.join(run, "alignment", "aligned_speech2vec.vec"),
    "random": f.random,
  }
  for key, path in list(spaces.items()):
    if key == "random" and not path:
      continue  # written by ablate_lib.with_random_control
    if not os.path.exists(path):
      logging.warning("%s embeddings not found at %s; its rows are skipped", key, path)
      spaces[key] = ""
  out = f.out or os.path.join(run, "ablation")
  corpus_dir = f.corpus or os.path.join(run, "corpus")
  if not os.path.isdir(corpus_dir):
    logging.warning("corpus %s not found; the baseline row is skipped", corpus_dir)
    corpus_dir = ""
  metadata = os.path.join(data_dir, "metadata.json")
  if not os.path.exists(metadata):
    raise cli.InputError(
      f"{metadata}: missing; write the TFRecords with "
      "`python -m data_prep.write_tfrecords` or pass --data_dir/--run_dir"
    )
  try:
    ablate_lib.run_ablation(
      data_dir,
      spaces,
      out,
      epochs=f.epochs,
      learning_rate=f.learning_rate,
      batch_size=f.batch_size,
      seed=f.seed,
      seeds=f.seeds,
      bootstrap_resamples=f.bootstrap_resamples,
      rows=f.rows,
      partition=f.partition,
      corpus_dir=corpus_dir,
      allow_incomplete=f.allow_incomplete,
      control_seed=f.control_seed,
    )
  except (train_lib.TrainingSetupError, model_dir_lib.ModelDirError) as e:
    raise cli.InputError(str(e)) from e
  except train_lib.TrainingDivergedError as e:
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return cli.EXIT_FAILURE
  with open(os.path.join(out, "ablation.md"), encoding="utf-8") as fh:  # written by run_ablation
    sys.stdout.write("\n" + fh.read().strip().strip("`").strip() + "\n")
  sys.stdout.write(f"\nablation results: {os.path.join(out, 'ablation.md')}\n")
  return cli.EXIT_OK


def console_main() -> None:
  """Entry point of the `emotion-tf-ablate` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
