"""Flags of `python -m emotion_tf.evaluate` (defined only when `define_eval_flags()` is called)."""

from absl import flags


def define_eval_flags() -> None:
  """Defines the evaluation flags on the global absl FLAGS; calling it twice is harmless.

  --model_dir and --data_dir have no usable default; `emotion_tf.evaluate.main` fails with a
  clear message when they are empty.
  """
  if "partitions" in flags.FLAGS:
    return
  flags.DEFINE_string("model_dir", "", "Model directory written by `emotion_tf.train` "
                      "(best.keras / last.keras, model_config.json).")
  flags.DEFINE_enum("which", "best", ["best", "last"],
                    "Which saved model to evaluate; 'best' falls back to last.keras.")
  flags.DEFINE_string("data_dir", "", "Directory with the TFRecord shards and metadata.json.")
  flags.DEFINE_list("partitions", ["Devel", "Test"],
                    "Comma-separated partitions to evaluate (Train, Devel, Test; any case).")
  flags.DEFINE_string("out", "", "Output directory for the JSON summary and the per-recording "
                      "prediction CSVs; empty = <model_dir>/evaluation_<which>.")
  flags.DEFINE_integer("batch_size", 8, "Chunks per evaluation batch.", lower_bound=1)
  flags.DEFINE_string("embeddings", "", "Optional .vec file: replaces the stored semantic "
                      "vectors by this space's vectors of each frame's word (via word_index and "
                      "the shards' vocabulary); its dimension must equal the model's.")
  flags.DEFINE_boolean("plots", True, "Write <out>/plots/<partition>/<id>.png: gold vs "
                       "prediction of each recording, one panel per dimension with its CCC.")
