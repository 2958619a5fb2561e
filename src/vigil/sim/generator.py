"""One simulation run from config to files.

Why this order: the world (customers, catalogue, agents and their session plan) is built from its
own random stream, traffic and scenarios from a second and arrival disorder from a third, so
changing, say, the duplicate rate does not change which orders are placed. Rosters are written
first, in order, since every other record refers to agents that exist; then the timeline runs,
writing every other event in arrival order (with its duplicates and malformed twins) into
``events.jsonl``, and the ground truth into ``truth.jsonl`` as refunds and subjects are planned.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from vigil.errors import ConfigError
from vigil.events.schemas import AgentRostered
from vigil.sim import traps
from vigil.sim.ads import AdNetwork
from vigil.sim.agent_traps import AgentTraps
from vigil.sim.agents import Roster
from vigil.sim.catalog import Catalog
from vigil.sim.config import SimConfig
from vigil.sim.context import Ctx
from vigil.sim.disorder import Disorder
from vigil.sim.ftid import FtidVariants
from vigil.sim.ids import Hasher
from vigil.sim.ivt import InvalidTraffic
from vigil.sim.orders import Everyday
from vigil.sim.scenarios import Fraud
from vigil.sim.summary import SimSummary, build_counts, write_simulation_json
from vigil.sim.timeline import Timeline
from vigil.sim.traffic import Traffic
from vigil.sim.world import World
from vigil.sim.writer import LineWriter, TruthWriter


def simulate(
    config: SimConfig,
    out_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> SimSummary:
    """Write ``events.jsonl``, ``truth.jsonl`` and ``simulation.json`` into ``out_dir``."""
    if not isinstance(config, SimConfig):
        raise ConfigError(f"simulate() needs a SimConfig, got {type(config).__name__}")
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output folder {out_dir}: {exc}") from exc
    cfg = config
    world_rng = random.Random(f"vigil-sim:{cfg.seed}:world")
    traffic_rng = random.Random(f"vigil-sim:{cfg.seed}:traffic")
    disorder_rng = random.Random(f"vigil-sim:{cfg.seed}:disorder")
    hasher = Hasher(cfg.seed)

    unique_target = cfg.events / (1.0 + cfg.duplicate_rate + cfg.malformed_rate)
    ads_target = unique_target * cfg.ads_share
    retail_target = unique_target - ads_target

    disorder = Disorder(cfg, disorder_rng)
    tl = Timeline(disorder)
    world = World(cfg, world_rng, hasher)
    catalog = Catalog(world_rng)
    roster = Roster(cfg, world_rng, hasher, retail_target)
    travel_sessions = roster.mark_travel(
        world_rng, cfg.per_million(cfg.agent_travel_sessions_per_million), cfg.active_end_ms
    )
    events_path = out_dir / "events.jsonl"
    truth_path = out_dir / "truth.jsonl"
    summary_path = out_dir / "simulation.json"
    truth = TruthWriter(truth_path)
    try:
        ctx = Ctx(cfg, traffic_rng, hasher, tl, world, catalog, roster, truth)
        ads = AdNetwork(cfg, traffic_rng, hasher, tl, world)
        if cfg.ivt_share > 0:
            ads.ivt = InvalidTraffic(ctx, ads, ads_target, retail_target)
        everyday = Everyday(ctx, ads)
        traps.record_subjects(ctx, travel_sessions, roster.trap_sessions)
        Fraud(ctx).schedule()
        FtidVariants(ctx).schedule()
        AgentTraps(ctx).schedule()
        retail_left = retail_target - len(roster.agents)
        Traffic(ctx, everyday, ads, retail_left, ads_target).schedule()
        with LineWriter(events_path, progress, cfg.progress_every) as out:
            encode = msgspec.json.Encoder().encode
            for n, agent in enumerate(roster.agents, start=1):
                out.write(
                    encode(
                        AgentRostered(
                            event_id=f"ev-{n}",
                            event_time_ms=cfg.start_ms,
                            agent_id=agent.agent_id,
                            team=agent.team,
                            home_country=agent.home_country,
                            shift_start_hour=agent.shift_start_hour,
                            shift_end_hour=agent.shift_end_hour,
                        )
                    )
                )
            tl.run(out, ids_from=len(roster.agents) + 1)
            lines = out.lines
        if progress is not None:
            progress(lines)
    finally:
        truth.close()
    counts = build_counts(cfg, ctx, disorder, lines, len(roster.agents))
    if ads.ivt is not None:
        counts["invalid_ad_traffic"] = ads.ivt.tally.as_dict()
    write_simulation_json(summary_path, cfg, counts)
    return SimSummary(
        events_path=events_path,
        truth_path=truth_path,
        summary_path=summary_path,
        lines=lines,
        duplicates=disorder.duplicates,
        malformed=disorder.malformed,
        late=disorder.late,
        very_late=disorder.very_late,
        refunds=ctx.tally.refunds,
        fraud_refunds=dict(counts["fraud_refunds"]),
        fraud_money_share=float(counts["fraud_money_share"]),
        seconds=time.perf_counter() - t_start,
        counts=counts,
    )
