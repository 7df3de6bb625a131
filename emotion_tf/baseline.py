"""The AVEC 2017 baseline (eGeMAPS + ridge/SVR) on a SEWA-layout corpus (paper Table 4).

  python -m emotion_tf.baseline --corpus DIR --out DIR [--partitions Devel,Test] \
      [--window_seconds 2,4,6,8] [--delay_seconds 0,1,2] [--alphas ...] [--svr_cs ...]

Fits on Train, tunes window / label delay / regressor per dimension on Devel CCC, and writes
the evaluation of `python -m emotion_tf.evaluate`: <out>/evaluation.json and
<out>/predictions/<partition>/<id>.csv, plus <out>/baseline_model.json. LLDs are cached per
recording in <out>/llds (rerun = resume). Prints the CCC table.
Exit status (emotion_tf.util.cli): 0 ok; 1 some recordings were bad (named; the rest was
evaluated) or a partition could not be evaluated; 2 bad flags, no corpus, or no usable
Train/Devel recording.
"""

import sys

from absl import flags

from emotion_tf.experiments import baseline_lib
from emotion_tf.util import cli


def define_flags() -> None:
  """Defines the flags of this binary on the global absl FLAGS."""
  flags.DEFINE_string("corpus", "", "SEWA-layout corpus directory (audio/, labels/).")
  flags.DEFINE_string("out", "", "Output directory (evaluation.json, predictions/, llds/).")
  flags.DEFINE_list("partitions", ["Devel", "Test"], "Partitions to evaluate.")
  flags.DEFINE_list(
    "window_seconds",
    [str(w) for w in baseline_lib.DEFAULT_WINDOWS],
    "Window lengths (s) tried on Devel.",
  )
  flags.DEFINE_list(
    "delay_seconds",
    [str(d) for d in baseline_lib.DEFAULT_DELAYS],
    "Label delays (s) tried on Devel: the label at t uses the window at t - delay.",
  )
  flags.DEFINE_list(
    "alphas",
    [str(a) for a in baseline_lib.DEFAULT_ALPHAS],
    "Ridge alphas tried on Devel (empty = no ridge).",
  )
  flags.DEFINE_list(
    "svr_cs",
    [str(c) for c in baseline_lib.DEFAULT_SVR_CS],
    "LinearSVR C values tried on Devel (empty = no SVR).",
  )
  flags.DEFINE_enum(
    "anchor",
    "centre",
    list(baseline_lib.ANCHORS),
    "Window centred on the label time or ending at it.",
  )
  flags.DEFINE_integer(
    "sample_rate", 22050, "Rate the audio is decoded at for openSMILE.", lower_bound=8000
  )
  flags.DEFINE_string("cache_dir", "", "LLD cache; default <out>/llds.")
  flags.DEFINE_integer("seed", 0, "Seed of the SVR solver.")


def _floats(name: str, values, positive: bool) -> list:
  try:
    out = [float(v) for v in values]
  except ValueError:
    cli.usage_error(f"--{name}: {values} are not all numbers")
  if any((v <= 0 if positive else v < 0) for v in out):
    cli.usage_error(f"--{name}: values must be {'> 0' if positive else '>= 0'}, got {out}")
  return out


def main(argv):
  if len(argv) > 1:
    cli.usage_error(f"unexpected arguments: {argv[1:]}")
  f = flags.FLAGS
  if not f.corpus or not f.out:
    cli.usage_error("--corpus and --out are required")
  windows = _floats("window_seconds", f.window_seconds, True)
  delays = _floats("delay_seconds", f.delay_seconds, False)
  alphas = _floats("alphas", f.alphas, True)
  cs = _floats("svr_cs", f.svr_cs, True)
  if not windows or not delays or not (alphas or cs):
    cli.usage_error(
      "give at least one --window_seconds, one --delay_seconds and one --alphas or --svr_cs value"
    )
  try:
    partitions = baseline_lib.normalize_partitions(f.partitions)
  except ValueError as e:
    cli.usage_error(f"--partitions: {e}")
  if not partitions:
    cli.usage_error("--partitions is empty")
  settings = baseline_lib.grid(windows, delays, alphas, cs, f.anchor)
  try:
    summary = baseline_lib.run_baseline(
      f.corpus, f.out, partitions, settings, f.sample_rate, f.cache_dir or None, f.seed
    )
  except (ValueError, OSError) as e:  # no corpus / no usable Train or Devel / unwritable out
    raise cli.InputError(str(e)) from e
  sys.stdout.write(baseline_lib.format_summary(summary) + "\n")
  for rid, message in summary["recording_errors"].items():
    sys.stderr.write(f"error: {rid} left out: {message}\n")
  for partition, message in summary["errors"].items():
    sys.stderr.write(f"error: partition {partition}: {message}\n")
  return cli.EXIT_FAILURE if summary["recording_errors"] or summary["errors"] else cli.EXIT_OK


def console_main() -> None:
  """Entry point of the `emotion-tf-baseline` console script."""
  define_flags()
  cli.run(main)


if __name__ == "__main__":
  console_main()
