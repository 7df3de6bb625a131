"""Exports a trained model as a SavedModel for serving (signature: emotion_tf.serving.export_lib).

  python -m emotion_tf.export --model_dir DIR [--which best] [--out EXPORT_DIR] [--force]

Serving signature `serving_default`: audio [batch, samples] float32 at 22 050 Hz and
semantic [batch, frames, d] float32 -> arousal, valence, liking [batch, frames]. Inspect it with
`saved_model_cli show --dir EXPORT_DIR --all`. A rerun on the same model file skips.
With --speech2vec_dir/--alignment_dir (or --data_dir of speech TFRecords) the export also has
the `audio_only` signature: audio alone -> arousal, valence, liking (the wav-only frontend
inside the graph, emotion_tf.serving.speech_frontend_graph).

--out must be new, empty or an earlier export (it is then replaced atomically); any other
directory, the model directory, a directory holding it or one inside it (except the default
<model_dir>/export) is refused with exit status 2 and left untouched.
"""

import os
import sys

from absl import flags

from emotion_tf.serving import export_lib
from emotion_tf.util import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
  """--model_dir, --which, --out, --force for the SavedModel export."""
  flags.DEFINE_string("model_dir", "", "Model directory written by `emotion_tf.train`.")
  flags.DEFINE_enum(
    "which",
    "best",
    ["best", "last"],
    "Which saved model to export; 'best' falls back to last.keras.",
  )
  flags.DEFINE_string("out", "", "Export directory (SavedModel); empty = <model_dir>/export.")
  flags.DEFINE_boolean(
    "force",
    False,
    "Re-export even when --out already holds an export of "
    "the same model file (otherwise that export is kept and the run skips).",
  )
  flags.DEFINE_string(
    "speech2vec_dir",
    "",
    "Speech2Vec run directory (encoder/, normalizer.json, "
    "config.json): with --alignment_dir, the export carries the semantic "
    "frontend so `emotion_tf.predict --audio FILE.wav` needs nothing else.",
  )
  flags.DEFINE_string("alignment_dir", "", "Alignment run directory (W.npy, speech_mean.npy).")
  flags.DEFINE_boolean(
    "snap_to_types",
    False,
    "Ship the aligned type vectors too and replace "
    "each speech token by its nearest type vector (for a model trained on "
    "looked-up type vectors).",
  )
  flags.DEFINE_string(
    "data_dir",
    "",
    "TFRecords the model was trained on: when written with "
    "--semantic_source speech and no --speech2vec_dir/--alignment_dir is "
    "given, the frontend recorded in their metadata.json is exported.",
  )


def _frontend_dirs():
  """(speech2vec_dir, alignment_dir) given by the flags or recorded with --data_dir, or None."""
  dirs = None
  if FLAGS.speech2vec_dir or FLAGS.alignment_dir:
    if not (FLAGS.speech2vec_dir and FLAGS.alignment_dir):
      raise ValueError("--speech2vec_dir and --alignment_dir go together")
    dirs = (FLAGS.speech2vec_dir, FLAGS.alignment_dir)
  elif FLAGS.data_dir:
    dirs = export_lib.frontend_from_data_dir(FLAGS.data_dir)
  return dirs


def _add_semantic_frontend(out, dirs):
  """Copies the speech-token frontend beside the export when there is one."""
  if not dirs:
    return None
  return export_lib.export_semantic_frontend(out, *dirs, snap_to_types=FLAGS.snap_to_types)


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model_dir:
    cli.usage_error("--model_dir is required")
  out = FLAGS.out or os.path.join(FLAGS.model_dir, export_lib.DEFAULT_EXPORT_SUBDIR)
  try:
    dirs = _frontend_dirs()
    meta, exported = export_lib.export_from_model_dir(
      FLAGS.model_dir,
      out,
      FLAGS.which,
      force=FLAGS.force,
      frontend_dirs=(*dirs, FLAGS.snap_to_types) if dirs else None,
    )
    frontend = _add_semantic_frontend(out, dirs)
  except (ValueError, OSError) as e:  # ExportError, ModelDirError, FrontendError, ...
    if cli.disk_full(e):
      raise  # a full disk mid-run: one line from cli.run, exit 1
    raise cli.InputError(str(e)) from e
  sys.stdout.write(
    f"{'exported' if exported else 'up to date'}: {os.path.abspath(out)} "
    f"({meta['variant']}, semantic_dim {meta['semantic_dim']}, outputs "
    f"{','.join(meta['label_names'])})\n"
  )
  if frontend:
    sys.stdout.write(
      f"semantic frontend: {len(frontend['files_sha256'])} files, bundle sha256 "
      f"{frontend['bundle_sha256']} (wav-only prediction)\n"
    )
  return cli.EXIT_OK


def console_main() -> None:
  """Entry point of the `emotion-tf-export` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
