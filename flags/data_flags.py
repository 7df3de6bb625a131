"""Data flags for training/evaluation (`define_data_flags()`)."""

from absl import flags


def define_data_flags() -> None:
  """--data_dir, --embeddings, --train_partition, --eval_partition, --shuffle_buffer."""
  if "data_dir" in flags.FLAGS:
    return
  flags.DEFINE_string("data_dir", "", "Directory of TFRecord shards + metadata.json "
                      "(python -m data_prep.write_tfrecords).")
  flags.DEFINE_string("embeddings", "", "Optional .vec file: replaces the stored semantic vectors "
                      "via the shards' word_index (e.g. Word2Vec vs aligned Speech2Vec ablations).")
  flags.DEFINE_string("train_partition", "Train", "Partition to train on.")
  flags.DEFINE_string("eval_partition", "Devel", "Partition evaluated after each epoch; "
                      "the best model by its mean CCC is kept.")
  flags.DEFINE_integer("shuffle_buffer", 256, "Examples in the shuffle buffer.", lower_bound=1)
