"""Predicts arousal, valence and liking at 10 Hz with an exported SavedModel.

  python -m emotion_tf.predict --model EXPORT_DIR --audio FILE.wav \
      --word_timings FILE.csv|FILE.TextGrid --embeddings FILE.vec --out FILE.csv
  python -m emotion_tf.predict --model EXPORT_DIR --audio DIR|a.wav,b.wav|LIST.txt \
      [--word_timings TIMINGS_DIR --embeddings FILE.vec] --out OUT_DIR [--csv_header]

Any wav rate or channel count (resampled to the model's 22 050 Hz); each recording through the
one inference path (emotion_tf.serving.inference: 10 s chunks, LSTM state carried).
Many files (a directory of wavs, a comma-separated list or a .txt list file) share one loaded
model and one read of the embeddings; each gets `<OUT_DIR>/<stem>.csv` (default: beside the wav,
`<stem>.predictions.csv`), and --word_timings is then a directory of `<stem>.csv|.TextGrid`.
Rows `name;time;arousal;valence;liking`, no header unless --csv_header. See
emotion_tf.serving.predict_api (the notebook API) and emotion_tf.serving.predict_lib.

  python -m emotion_tf.predict --model EXPORT_DIR --stream --audio FILE.wav|- \
      [--stream_format wav|f32|s16] [--chunk_seconds 1] [--out FILE.csv]
streams: the audio (a wav, or stdin) is read chunk by chunk through the export's `stream`
signature with the LSTM state carried, and each chunk's rows are written and flushed as soon as
they are computed (stdout by default) -- the same numbers as the whole-file prediction.

Exit status: 0 all written; 1 some files failed (each named on stderr; the others are written);
2 bad usage or an unusable single input / model / embeddings file.
The SHA-256 of --embeddings must match the embeddings the model was trained with (recorded in
the export), unless --allow_embeddings_mismatch.
"""

import contextlib
import os
import sys

from absl import flags, logging

from emotion_tf.serving import postprocess, predict_api, predict_lib, stream
from emotion_tf.util import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
  """--model, --audio, --word_timings, --embeddings, --tier, --out, --oov, --name for prediction."""
  flags.DEFINE_string("model", "", "SavedModel directory written by `emotion_tf.export`.")
  flags.DEFINE_string(
    "audio",
    "",
    "Input wav (any sample rate / channel count), or many: a "
    "directory of .wav files, a comma-separated list or a .txt list file "
    "(one path a line); one model load serves them all.",
  )
  flags.DEFINE_string(
    "word_timings",
    "",
    "Word timings of the recording: CSV `id;start;end;word` "
    "or a Praat .TextGrid; with several --audio files a directory of "
    "<stem>.csv|.TextGrid. Empty = automatic word segments when the export "
    "carries a semantic frontend, else no words (semantic vectors zero).",
  )
  flags.DEFINE_string(
    "embeddings",
    "",
    "Word vectors (.vec, word2vec text format) of the space "
    "the model was trained on (lookup by word string); without it, an export "
    "carrying a semantic frontend computes the vectors from the speech.",
  )
  flags.DEFINE_string(
    "tier", "", "TextGrid tier with the words; empty = the `words` tier or the first interval tier."
  )
  flags.DEFINE_string(
    "out",
    "",
    "Output CSV `name;time;arousal;valence;liking` at 10 Hz (one "
    "--audio file and a .csv name), else a directory receiving <stem>.csv per "
    "file; empty = <audio path without .wav>.predictions.csv beside each wav.",
  )
  flags.DEFINE_boolean(
    "csv_header",
    False,
    "Start each prediction CSV with the header line `name;time;arousal;valence;liking`.",
  )
  flags.DEFINE_enum(
    "oov",
    "zeros",
    ["zeros", "hash"],
    "Vector of a word missing from "
    "--embeddings: zeros, or the TFRecord writer's deterministic hash vector "
    "(use what the training data used).",
  )
  flags.DEFINE_string("name", "", "Value of the CSV's name column; empty = the wav file's stem.")
  flags.DEFINE_string(
    "postprocess",
    "",
    "A postprocess.json written by `emotion_tf.evaluate "
    "--postprocess devel` (per-dimension time shift and smoothing chosen on "
    "Devel), applied to each recording's predictions; empty = raw output.",
  )
  flags.DEFINE_boolean(
    "stream",
    False,
    "Live prediction: read --audio (a wav, or - for stdin) "
    "chunk by chunk through the export's `stream` signature, the LSTM state "
    "carried, and write each chunk's CSV rows as they are computed (to --out, "
    "or stdout when --out is empty or -; a file is written as it streams, not "
    "atomically).",
  )
  flags.DEFINE_enum(
    "stream_format",
    "wav",
    ["wav", "f32", "s16"],
    "With --stream --audio -: "
    "stdin holds a wav stream, or raw little-endian mono float32 / int16 PCM at "
    "the model's rate.",
  )
  flags.DEFINE_float(
    "chunk_seconds",
    1.0,
    "With --stream: audio per model step (whole 0.1 s frames).",
    lower_bound=0.1,
  )
  flags.DEFINE_boolean(
    "allow_embeddings_mismatch",
    False,
    "Predict even when the sha256 of "
    "--embeddings differs from the embeddings the model was trained with "
    "(recorded in the export); a warning instead of exit status 2.",
  )


def _is_batch(spec: str) -> bool:
  return os.path.isdir(spec) or "," in spec or spec.lower().endswith(".txt")


def output_paths(audio_paths, out: str, batch: bool):
  """CSV path per wav: --out itself (one file, `.csv`), <out>/<stem>.csv (a directory), or
  <wav without extension>.predictions.csv beside each wav (no --out)."""
  if not out:
    return [os.path.splitext(p)[0] + ".predictions.csv" for p in audio_paths]
  if not batch and out.lower().endswith(".csv"):
    return [out]
  return [os.path.join(out, os.path.splitext(os.path.basename(p))[0] + ".csv") for p in audio_paths]


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model or not FLAGS.audio:
    cli.usage_error("--model and --audio are required")
  if FLAGS.stream:
    return stream_main()
  batch = _is_batch(FLAGS.audio)
  try:
    audio_paths = predict_api.audio_inputs(FLAGS.audio)
  except predict_lib.PredictionInputError as e:
    raise cli.InputError(str(e)) from e
  if batch and FLAGS.out.lower().endswith(".csv"):
    cli.usage_error(f"--out {FLAGS.out}: several audio files need an output directory")
  if batch and FLAGS.name:
    cli.usage_error("--name applies to a single audio file")
  if FLAGS.word_timings and len(audio_paths) > 1 and not os.path.isdir(FLAGS.word_timings):
    cli.usage_error(
      f"--word_timings {FLAGS.word_timings}: several audio files need a "
      "directory of <stem>.csv|.TextGrid timings"
    )
  outputs = output_paths(audio_paths, FLAGS.out, batch)
  seen = {}
  for audio, out in zip(audio_paths, outputs, strict=False):
    if out in seen:
      cli.usage_error(f"{audio} and {seen[out]} would both be written to {out}")
    seen[out] = audio
  try:
    predictor = predict_api.load(FLAGS.model)
    if FLAGS.embeddings:
      predictor.embedding_space(
        FLAGS.embeddings,  # read and checked once, up front
        FLAGS.allow_embeddings_mismatch,
      )
    post = None
    if FLAGS.postprocess:
      post = postprocess.read_for(FLAGS.postprocess, predictor.label_names, predictor.hop_seconds)
  except (ValueError, OSError) as e:  # ExportError, PredictionInputError, VecFormatError
    raise cli.InputError(str(e)) from e
  if FLAGS.word_timings and not FLAGS.embeddings:
    raise cli.InputError(f"{FLAGS.word_timings}: word timings need --embeddings (.vec)")
  done, failed = predict_api.predict_files(
    predictor,
    audio_paths,
    outputs,
    word_timings=FLAGS.word_timings or None,
    embeddings=FLAGS.embeddings or None,
    tier=FLAGS.tier or None,
    oov=FLAGS.oov,
    csv_header=FLAGS.csv_header,
    names=[FLAGS.name] if FLAGS.name else None,
    postprocessing=post,
  )
  for info in done.values():
    sys.stdout.write(
      f"wrote {info['out']}: {info['frames']} frames ({info['seconds']:.1f} s), "
      f"{info['frames_with_word']} frames with a word, {info['oov_words']} OOV "
      "words\n"
    )
  for message in failed.values():
    sys.stderr.write(f"error: {message}\n")
  if not failed:
    return cli.EXIT_OK
  if not batch:
    return cli.EXIT_BAD_INPUT
  logging.error("%d of %d files failed", len(failed), len(audio_paths))
  sys.stderr.write(f"{len(failed)} of {len(audio_paths)} files failed: {', '.join(failed)}\n")
  return cli.EXIT_FAILURE


def stream_main() -> int:
  """`--stream`: one input (a wav or - for stdin), rows written and flushed per chunk."""
  if _is_batch(FLAGS.audio) and FLAGS.audio != "-":
    cli.usage_error("--stream takes one --audio file or - (stdin)")
  if FLAGS.audio != "-" and not os.path.isfile(FLAGS.audio):
    raise cli.InputError(f"{FLAGS.audio}: audio file is missing")
  if FLAGS.word_timings and not FLAGS.embeddings:
    raise cli.InputError(f"{FLAGS.word_timings}: word timings need --embeddings (.vec)")
  name = FLAGS.name or (
    "stdin" if FLAGS.audio == "-" else os.path.splitext(os.path.basename(FLAGS.audio))[0]
  )
  to_stdout = FLAGS.out in ("", "-")
  try:
    predictor = predict_api.load(FLAGS.model)
    embeddings = FLAGS.embeddings or None
    if embeddings:
      predictor.embedding_space(embeddings, FLAGS.allow_embeddings_mismatch)
    timings = (
      predict_lib.read_word_timings(FLAGS.word_timings, FLAGS.tier or None)
      if FLAGS.word_timings
      else None
    )
    with contextlib.ExitStack() as stack:
      out = sys.stdout if to_stdout else stack.enter_context(open(FLAGS.out, "w", encoding="utf-8"))
      info = stream.run_stream(
        predictor,
        FLAGS.audio,
        out,
        name,
        timings,
        embeddings,
        FLAGS.oov,
        FLAGS.stream_format,
        FLAGS.chunk_seconds,
        FLAGS.csv_header,
      )
  except (ValueError, OSError) as e:  # ExportError, StreamInputError, PredictionInputError
    raise cli.InputError(str(e)) from e
  sys.stderr.write(
    f"streamed {info['frames']} frames ({info['seconds']:.1f} s) in "
    f"{info['chunks']} chunks{'' if to_stdout else ' to ' + FLAGS.out}\n"
  )
  return cli.EXIT_OK


def console_main() -> None:
  """Entry point of the `emotion-tf-predict` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
