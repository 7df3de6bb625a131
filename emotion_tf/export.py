"""Exports a trained model as a SavedModel for serving (see emotion_tf.exporting for the signature).

  python -m emotion_tf.export --model_dir DIR [--which best] [--out EXPORT_DIR] [--force]

Serving signature `serving_default`: audio [batch, samples] float32 at 22 050 Hz and
semantic [batch, frames, d] float32 -> arousal, valence, liking [batch, frames]. Inspect it with
`saved_model_cli show --dir EXPORT_DIR --all`. A rerun on the same model file skips.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

from emotion_tf import exporting

FLAGS = flags.FLAGS


def _add_semantic_frontend(out):
  """Exports the speech-token frontend when its directories are given or recorded."""
  dirs = None
  if FLAGS.speech2vec_dir or FLAGS.alignment_dir:
    if not (FLAGS.speech2vec_dir and FLAGS.alignment_dir):
      raise ValueError("--speech2vec_dir and --alignment_dir go together")
    dirs = (FLAGS.speech2vec_dir, FLAGS.alignment_dir)
  elif FLAGS.data_dir:
    dirs = exporting.frontend_from_data_dir(FLAGS.data_dir)
  if not dirs:
    return None
  return exporting.export_semantic_frontend(out, *dirs, snap_to_types=FLAGS.snap_to_types)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model_dir:
    raise app.UsageError("--model_dir is required")
  out = FLAGS.out or os.path.join(FLAGS.model_dir, "export")
  try:
    meta, exported = exporting.export_from_model_dir(FLAGS.model_dir, out, FLAGS.which,
                                                     force=FLAGS.force)
    frontend = _add_semantic_frontend(out)
  except (ValueError, OSError) as e:
    logging.error("%s", e)
    sys.stderr.write(f"error: {e}\n")
    return 1
  sys.stdout.write(f"{'exported' if exported else 'up to date'}: {os.path.abspath(out)} "
                   f"({meta['variant']}, semantic_dim {meta['semantic_dim']}, outputs "
                   f"{','.join(meta['label_names'])})\n")
  if frontend:
    sys.stdout.write(f"semantic frontend: {len(frontend['files_sha256'])} files, bundle sha256 "
                     f"{frontend['bundle_sha256']} (wav-only prediction)\n")
  return 0


if __name__ == "__main__":
  from flags.export_flags import define_export_flags  # pylint: disable=g-import-not-at-top
  define_export_flags()
  app.run(main)
