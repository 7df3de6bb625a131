"""Writes tests/slow_tests.txt from a pytest JUnit XML report: every test slower than --over.

    make test-durations     # runs the whole suite with --junitxml, then this script

`make test-fast` deselects the listed tests (`-m "not slow"`, marked by tests/conftest.py).
"""

import argparse
import collections
import os
import sys
import xml.etree.ElementTree as ET

HEADER = (
  "# Tests slower than {over:g} s in the last `make test-durations` run ({total:.0f} s of test\n"
  "# time in all, {slow:.0f} s of it in these); `make test-fast` deselects them.\n"
  "# Regenerate with `make test-durations`; one pytest node id per line, seconds after `#`.\n"
)


def slow_tests(junit_xml: str, over: float) -> tuple[list[tuple[str, float]], float]:
  """([(node id, seconds)] of tests over `over` s, parameters summed; total seconds)."""
  times: dict[str, float] = collections.defaultdict(float)
  for case in ET.parse(junit_xml).getroot().iter("testcase"):
    module = case.get("classname", "").replace(".", "/")
    name = case.get("name", "").split("[")[0]
    times[f"{module}.py::{name}"] += float(case.get("time", 0.0))
  slow = sorted(((k, t) for k, t in times.items() if t > over), key=lambda kv: -kv[1])
  return slow, sum(times.values())


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("junit_xml")
  parser.add_argument("--over", type=float, default=2.0, help="seconds")
  parser.add_argument("--out", default=os.path.join("tests", "slow_tests.txt"))
  a = parser.parse_args(argv)
  slow, total = slow_tests(a.junit_xml, a.over)
  lines = [f"{node}  # {t:.1f}" for node, t in sorted(slow)]
  text = HEADER.format(over=a.over, total=total, slow=sum(t for _, t in slow)) + "\n".join(lines)
  tmp = a.out + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text + "\n")
  os.replace(tmp, a.out)
  print(f"{len(slow)} slow tests ({sum(t for _, t in slow):.0f} of {total:.0f} s) -> {a.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
