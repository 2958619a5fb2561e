"""The retailer simulator: a realistic event stream with fraud scenarios, traps and ground truth.

``simulate(SimConfig(seed=1, events=1_000_000), out_dir)`` writes ``events.jsonl`` (arrival order,
with late, duplicate and malformed lines), ``truth.jsonl`` (one record per refund and per
fraudulent or trap subject) and ``simulation.json`` (the config and what was produced). The same
config always gives byte-identical files.
"""

from vigil.sim.config import DEFAULT_START_MS, SimConfig
from vigil.sim.generator import simulate
from vigil.sim.summary import SimSummary

__all__ = ["DEFAULT_START_MS", "SimConfig", "SimSummary", "simulate"]
