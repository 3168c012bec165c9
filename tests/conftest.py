"""Shared fixtures. Server and browser fixtures live in their own plugin modules."""

import os

# Chroma must never phone home from a test run.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
