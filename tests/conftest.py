"""Shared pytest set-up: quiet TensorFlow, 2 logical CPU devices, the data fixtures.

`tests` is not a package: pytest puts this directory on sys.path (rootdir-relative import
mode `prepend`), so test modules import helpers as `from data_fixtures import write_wav`; the
session fixtures below are registered here for every test module. The project itself is
importable because it is installed into the venv (`pip install -e .`, see Makefile) or, from a
checkout, through pytest.ini's `pythonpath = .`.
"""

import contextlib
import os

from data_fixtures import tiny_corpus, tiny_tfrecords, tiny_vec  # noqa: F401  (fixtures)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
  """Splits the CPU into 2 logical devices before any TF op runs (tf.distribute tests)."""
  import tensorflow as tf

  cpus = tf.config.list_physical_devices("CPU")
  with contextlib.suppress(RuntimeError):
    tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
