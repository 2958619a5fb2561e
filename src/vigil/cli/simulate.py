"""``vigil simulate``: build the simulator's config from options and run it with progress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from vigil.cli.progress import Reporter, stderr
from vigil.errors import ConfigError


def build_sim_config(seed: int, n_events: int, params: tuple[str, ...]) -> Any:
    """SimConfig from seed, size and ``NAME=VALUE`` overrides (dotted names for nested)."""
    from vigil.sim import SimConfig

    data: dict[str, Any] = msgspec.to_builtins(SimConfig(seed=seed, events=n_events))
    for item in params:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--param {item!r}: expected NAME=VALUE")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = data
        *parents, leaf = name.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"--param {item!r}: unknown parameter group {part!r}")
            node = node[part]
        if leaf not in node:
            raise ConfigError(
                f"--param {item!r}: unknown parameter {name!r}; "
                "`vigil simulate --list-params` lists them"
            )
        node[leaf] = value
    try:
        return msgspec.convert(data, SimConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"simulator parameters: {exc}") from exc


def list_sim_params() -> str:
    from vigil.sim import SimConfig

    data = msgspec.to_builtins(SimConfig(seed=1, events=1_000_000))
    lines: list[str] = []

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(f"{prefix}{key}.", value)
            else:
                lines.append(f"{prefix}{key} = {json.dumps(value)}")

    walk("", data)
    return "\n".join(lines)


def run_simulation(config: Any, out_dir: Path) -> dict[str, Any]:
    """Run the simulator with a progress bar; return the simulation.json contents."""
    from vigil.sim import simulate

    with Reporter("vigil simulate", int(config.events), "lines") as rep:
        simulate(config, out_dir, progress=rep.update)
    summary: dict[str, Any] = json.loads((out_dir / "simulation.json").read_text())
    stderr.print(f"wrote {out_dir}/events.jsonl, truth.jsonl and simulation.json")
    return summary
