"""Exports a trained model as a SavedModel for serving (see emotion_tf.exporting for the signature).

  python -m emotion_tf.export --model_dir DIR [--which best] [--out EXPORT_DIR] [--force]

Serving signature `serving_default`: audio [batch, samples] float32 at 22 050 Hz and
semantic [batch, frames, d] float32 -> arousal, valence, liking [batch, frames]. Inspect it with
`saved_model_cli show --dir EXPORT_DIR --all`. A rerun on the same model file skips.

--out must be new, empty or an earlier export (it is then replaced atomically); any other
directory, the model directory, a directory holding it or one inside it (except the default
<model_dir>/export) is refused with exit status 2 and left untouched.
"""

import os
import sys

from absl import flags

from emotion_tf import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
  from flags.export_flags import define_export_flags  # pylint: disable=g-import-not-at-top
  define_export_flags()


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model_dir:
    cli.usage_error("--model_dir is required")
  # TensorFlow is imported only now: flag errors and --help answer at once.
  from emotion_tf import evaluation  # pylint: disable=g-import-not-at-top
  from emotion_tf import exporting  # pylint: disable=g-import-not-at-top
  out = FLAGS.out or os.path.join(FLAGS.model_dir, exporting.DEFAULT_EXPORT_SUBDIR)
  try:
    meta, exported = exporting.export_from_model_dir(FLAGS.model_dir, out, FLAGS.which,
                                                     force=FLAGS.force)
  except (exporting.ExportError, evaluation.ModelDirError, OSError) as e:
    raise cli.InputError(str(e)) from e
  sys.stdout.write(f"{'exported' if exported else 'up to date'}: {os.path.abspath(out)} "
                   f"({meta['variant']}, semantic_dim {meta['semantic_dim']}, outputs "
                   f"{','.join(meta['label_names'])})\n")
  return cli.EXIT_OK


if __name__ == "__main__":
  define_flags()
  cli.run(main)
