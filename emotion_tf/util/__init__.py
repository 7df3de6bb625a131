"""Utilities for every stage: flag/config plumbing, CLI exit codes, atomic file I/O and locks."""
