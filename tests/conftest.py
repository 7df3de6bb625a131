"""Shared pytest set-up: quiet TensorFlow, 2 logical CPU devices, the data fixtures.

`tests` is not a package: pytest puts this directory on sys.path (rootdir-relative import
mode `prepend`), so test modules import helpers as `from data_fixtures import write_wav`; the
session fixtures below are registered here for every test module. The project itself is
importable because it is installed into the venv (`pip install -e .`, see Makefile) or, from a
checkout, through pytest.ini's `pythonpath = .`.
"""

import contextlib
import os

import pytest
from data_fixtures import tiny_corpus, tiny_tfrecords, tiny_vec  # noqa: F401  (fixtures)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


SLOW_TESTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slow_tests.txt")


def slow_test_ids(path: str = SLOW_TESTS_FILE) -> set[str]:
  """Node ids (`tests/test_x.py::test_y`, no parameters) listed in tests/slow_tests.txt."""
  if not os.path.exists(path):
    return set()
  with open(path, encoding="utf-8") as f:
    return {line.split("#")[0].strip() for line in f if line.split("#")[0].strip()}


def pytest_collection_modifyitems(config, items):
  """Marks the tests listed in tests/slow_tests.txt `slow` (`make test-fast` deselects them)."""
  slow = slow_test_ids()
  for item in items:
    if item.nodeid.split("[")[0] in slow:
      item.add_marker(pytest.mark.slow)


def pytest_configure(config):
  """Registers the `slow` marker; splits the CPU into 2 logical devices before any TF op runs
  (tf.distribute tests)."""
  config.addinivalue_line(
    "markers", "slow: takes seconds (binaries in subprocesses, training); see slow_tests.txt"
  )
  import tensorflow as tf

  cpus = tf.config.list_physical_devices("CPU")
  with contextlib.suppress(RuntimeError):
    tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
