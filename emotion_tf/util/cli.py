"""The exit-code convention and entry-point wrapper shared by every binary.

Every binary (``python -m emotion_tf.train``, ``python -m data_prep.write_tfrecords``, ...)
exits with one of these codes (documented in README.md, tested for every binary):

* ``EXIT_OK`` (0): the work is done.
* ``EXIT_FAILURE`` (1): the inputs were acceptable but the work failed or is incomplete
  (training diverged, some recordings could not be processed: the rest was written, a write
  failed on a full disk or an unwritable path: one line naming the path and the space left).
* ``EXIT_BAD_INPUT`` (2): bad usage or bad input, found before anything was changed: an
  unknown or invalid flag, a missing/corrupt/mismatched file, an output path that cannot
  be written. The message names the file or flag and the problem.
* ``EXIT_INTERRUPTED`` (130): stopped by Ctrl-C (SIGINT); finished outputs are kept and a
  rerun of the same command resumes.

No module-level side effects: nothing here parses flags or touches absl FLAGS.
"""

import errno
import logging as pylogging
import os
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from absl import app, flags, logging

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
_HELP_ARGS = ("-h", "-?", "--help", "--helpshort", "--helpfull", "--helpxml")
# errno of a write that failed for lack of space or permission, and its words in the message
# of an error that carries no errno (TensorFlow's C++ file system errors).
_WRITE_ERRNOS = {
  errno.ENOSPC: "No space left on device",
  errno.EDQUOT: "Disk quota exceeded",
  errno.EROFS: "Read-only file system",
  errno.EACCES: "Permission denied",
}
_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Flags naming the output directory of a binary: the path named when an error names none.
_OUTPUT_FLAGS = ("model_dir", "out", "out_dir", "output_dir")
_ABS_PATH = re.compile(r"(/[^\s:;,'\"]+)")


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
    sys.stderr.write(f"FATAL Flags parsing error: {e}\nPass --help to see this binary's flags.\n")
    sys.exit(EXIT_BAD_INPUT)


def drop_interrupt_tracebacks(record: pylogging.LogRecord) -> bool:
  """Logging filter: False for a record carrying a KeyboardInterrupt traceback.

  A Ctrl-C that lands inside a tf.distribute replica call is caught by TensorFlow's
  coordinator, which logs it with its traceback (INFO, logger 'tensorflow') before re-raising
  it; the interrupt then reaches `run`, which reports it in one line.
  """
  exc = record.exc_info
  return not (exc and isinstance(exc, tuple) and exc[0] and issubclass(exc[0], KeyboardInterrupt))


def run(main: Callable[[Sequence[str]], int]) -> None:
  """``absl.app.run(main)`` with the exit-code convention of this module.

  ``InputError`` escaping ``main`` is printed as one line and exits 2; a write that failed on
  a full disk or an unwritable path (`write_failure`) is one line and exits 1 (finished
  outputs are kept: the rerun resumes); Ctrl-C prints one line (no traceback) and exits 130.
  """

  def wrapped(argv: Sequence[str]) -> int:
    try:
      return main(argv)
    except InputError as e:
      logging.error("%s", e)
      sys.stderr.write(f"error: {e}\n")
      return EXIT_BAD_INPUT
    except KeyboardInterrupt:
      sys.stderr.write(
        "interrupted: finished outputs are kept; rerun the same command to resume.\n"
      )
      return EXIT_INTERRUPTED
    except Exception as e:
      message = write_failure(e)
      if message is None:
        raise
      logging.error("%s", message)
      sys.stderr.write(f"error: {message}\n")
      return EXIT_FAILURE

  _adopt_binary_flags(main)
  pylogging.getLogger("tensorflow").addFilter(drop_interrupt_tracebacks)
  app.run(wrapped, flags_parser=_parse_flags)


def _write_errno(e: BaseException) -> int | None:
  """The errno of a failed write among `_WRITE_ERRNOS` for `e` or an error it was raised from:
  OSError.errno, or the words in the message of an error without one (TensorFlow's
  ResourceExhaustedError / UnknownError / PermissionDeniedError of a checkpoint save or a
  TFRecord writer)."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
      return e.errno
    text = str(e)
    for code, words in _WRITE_ERRNOS.items():
      if words in text:
        return code
    e = e.__cause__ or e.__context__
  return None


def _path_of(e: BaseException) -> str | None:
  """The path a failed write names: OSError.filename, else the first absolute path in the
  message, else the binary's output directory flag (`_OUTPUT_FLAGS`)."""
  while e is not None:
    name = getattr(e, "filename", None)
    if isinstance(name, (str, bytes)) and name:
      return os.fsdecode(name)
    found = _path_in(str(e))
    if found:
      return found
    e = e.__cause__
  for flag in _OUTPUT_FLAGS:
    if flag in flags.FLAGS and flags.FLAGS[flag].value:
      return str(flags.FLAGS[flag].value)
  return None


def _path_in(text: str) -> str | None:
  """The first absolute path in `text` below an existing directory other than '/' (not a
  device name such as TensorFlow's '/job:localhost/replica:0')."""
  for found in _ABS_PATH.finditer(text):
    path = found.group(1)
    if _existing_ancestor(path) != os.path.abspath(os.sep):
      return path
  return None


def _existing_ancestor(path: str) -> str:
  """`path` (absolute) or its nearest existing ancestor."""
  p = os.path.abspath(path)
  while not os.path.lexists(p) and os.path.dirname(p) != p:
    p = os.path.dirname(p)
  return p


def _mib(size: int) -> str:
  return f"{size / 2**20:.1f} MiB"


def free_space(path: str) -> str | None:
  """'12.0 MiB free of 2.0 GiB' of the file system holding `path` (or its nearest existing
  ancestor), None where it cannot be read."""
  try:
    usage = shutil.disk_usage(_existing_ancestor(path))
  except OSError:
    return None
  return f"{_mib(usage.free)} free of {_mib(usage.total)} on that file system"


def disk_full(e: BaseException) -> bool:
  """Whether `e` (or an error it was raised from) is a write that ran out of space/quota."""
  return _write_errno(e) in _SPACE_ERRNOS


def write_failure(e: BaseException) -> str | None:
  """One line for an error that is a failed write (disk full, quota, read-only file system,
  permission denied), naming the path and the space left; None for any other error."""
  code = _write_errno(e)
  return None if code is None else _write_failure_line(code, _path_of(e))


def write_failure_in_text(text: str) -> str | None:
  """`write_failure` of an error already turned into text (e.g. a per-recording error of a
  report: 'Train_01: ResourceExhaustedError: /out/.parts/x; No space left on device')."""
  for code, words in _WRITE_ERRNOS.items():
    if words in text:
      return _write_failure_line(code, _path_in(text) or _path_of(None))
  return None


def _write_failure_line(code: int, path: str | None) -> str:
  path = path or "an output file"
  if code in _SPACE_ERRNOS:
    space = free_space(path) if path != "an output file" else None
    left = f" ({space})" if space else ""
    return (
      f"{path}: {_WRITE_ERRNOS[code].lower()}{left}; free some space (or use another "
      "output directory), then rerun the same command: finished outputs are kept and it "
      "resumes"
    )
  return (
    f"{path}: {_WRITE_ERRNOS[code].lower()}; make it accessible to this user (or use "
    "another output directory), then rerun the same command: finished outputs are kept "
    "and it resumes"
  )


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
