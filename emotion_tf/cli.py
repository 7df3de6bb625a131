"""The exit-code convention and entry-point wrapper shared by every binary.

Every binary (``python -m emotion_tf.train``, ``python -m data_prep.write_tfrecords``, ...)
exits with one of these codes (documented in README.md, tested for every binary):

* ``EXIT_OK`` (0): the work is done.
* ``EXIT_FAILURE`` (1): the inputs were acceptable but the work failed or is incomplete
  (training diverged, some recordings could not be processed: the rest was written).
* ``EXIT_BAD_INPUT`` (2): bad usage or bad input, found before anything was changed: an
  unknown or invalid flag, a missing/corrupt/mismatched file, an output path that cannot
  be written. The message names the file or flag and the problem.
* ``EXIT_INTERRUPTED`` (130): stopped by Ctrl-C (SIGINT); finished outputs are kept and a
  rerun of the same command resumes.

No module-level side effects: nothing here parses flags or touches absl FLAGS.
"""

import sys
from typing import Callable, NoReturn, Sequence

from absl import app
from absl import flags
from absl import logging

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
_HELP_ARGS = ("-h", "-?", "--help", "--helpshort", "--helpfull", "--helpxml")


class InputError(ValueError):
  """Bad input that a user must fix; ``run`` turns it into ``EXIT_BAD_INPUT``."""


def usage_error(message: str) -> NoReturn:
  """Raises absl's UsageError with ``EXIT_BAD_INPUT`` (prints ``message`` + short help)."""
  raise app.UsageError(message, exitcode=EXIT_BAD_INPUT)


def _parse_flags(argv: Sequence[str]) -> Sequence[str]:
  """absl's parser, but a flag error exits with ``EXIT_BAD_INPUT`` instead of 1."""
  try:
    return flags.FLAGS(argv)
  except SystemExit:
    # absl's --help/--helpfull/--helpshort print the help and exit 1: asking for help is
    # not a failure.
    if any(a.split("=")[0] in _HELP_ARGS for a in argv[1:]):
      sys.exit(EXIT_OK)
    raise
  except flags.Error as e:
    sys.stderr.write(f"FATAL Flags parsing error: {e}\n"
                     f"Pass --help to see this binary's flags.\n")
    sys.exit(EXIT_BAD_INPUT)


def run(main: Callable[[Sequence[str]], int]) -> None:
  """``absl.app.run(main)`` with the exit-code convention of this module.

  ``InputError`` escaping ``main`` is printed as one line and exits 2; Ctrl-C prints one
  line (no traceback) and exits 130.
  """

  def wrapped(argv: Sequence[str]) -> int:
    try:
      return main(argv)
    except InputError as e:
      logging.error("%s", e)
      sys.stderr.write(f"error: {e}\n")
      return EXIT_BAD_INPUT
    except KeyboardInterrupt:
      sys.stderr.write("interrupted: finished outputs are kept; rerun the same command to "
                       "resume.\n")
      return EXIT_INTERRUPTED

  _adopt_binary_flags(main)
  app.run(wrapped, flags_parser=_parse_flags)


def _adopt_binary_flags(main: Callable[[Sequence[str]], int]) -> None:
  """Makes the flags of ``main``'s module key flags of the program, so ``--help`` lists them.

  absl's ``--help`` shows the flags of the module named by ``sys.argv[0]``: right for
  ``python -m emotion_tf.train`` (the module is ``__main__``), but a console script
  (``emotion-tf-train``) imports the binary as ``emotion_tf.train``.
  """
  module = getattr(main, "__module__", "__main__")
  if module == "__main__":
    return
  for flag in flags.FLAGS.get_key_flags_for_module(module):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
