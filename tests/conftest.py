"""Shared fixtures. Server, store, corpus and browser fixtures live in their own plugin modules."""

import os

# Chroma must never phone home from a test run.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

pytest_plugins = [
    "tests.conftest_store", "tests.conftest_postgres", "tests.conftest_llm", "tests.conftest_corpus", "tests.conftest_ui",
]
