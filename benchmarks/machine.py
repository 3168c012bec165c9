"""The machine line of benchmark results: the same description `hubchat eval` writes beside its figures."""

from hubchat.eval.machine import cpu_model, load_average, machine_info

__all__ = ["cpu_model", "load_average", "machine_info"]
