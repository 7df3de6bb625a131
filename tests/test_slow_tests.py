"""The fast/slow split: scripts/slow_tests.py turns a JUnit report into tests/slow_tests.txt,
and conftest marks exactly the listed tests `slow`."""

import os
import subprocess
import sys

from conftest import slow_test_ids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.test_a" name="test_quick" time="0.5"/>
<testcase classname="tests.test_a" name="test_param[1]" time="1.5"/>
<testcase classname="tests.test_a" name="test_param[2]" time="1.0"/>
<testcase classname="tests.test_b" name="test_long" time="9.25"/>
</testsuite></testsuites>
"""


def test_slow_list_from_junit_sums_parameters_and_round_trips(tmp_path):
  xml, out = tmp_path / "r.xml", tmp_path / "slow.txt"
  xml.write_text(JUNIT, encoding="utf-8")
  subprocess.run(
    [sys.executable, os.path.join(ROOT, "scripts", "slow_tests.py"), str(xml), "--out", str(out)],
    check=True,
    capture_output=True,
  )
  # 0.5 s stays fast; the two parameters of test_param sum to 2.5 s > 2 s.
  assert slow_test_ids(str(out)) == {"tests/test_a.py::test_param", "tests/test_b.py::test_long"}
  assert "12 s of test" in out.read_text(encoding="utf-8")  # total 12.25 s


def test_the_checked_in_list_names_existing_tests():
  for node in slow_test_ids():
    path, name = node.split("::")
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
      assert f"def {name}(" in f.read(), node
