"""Benchmark session header: which interpreter ran the figures.

The Python-bound rows depend on how CPython itself was built (PGO/LTO, static or shared
libpython): README, "Interpreter"."""

from __future__ import annotations

import os
import platform
import sys

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        exe = os.path.realpath(sys.executable)
        version = f"{platform.python_implementation()} {platform.python_version()}"
        reporter.write_line(f"benchmark interpreter: {version} ({exe})")
