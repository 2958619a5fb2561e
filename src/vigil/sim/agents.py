"""Support agents: teams, shifts, usual devices and IPs, and the plan of every work session.

Why the whole session plan is made up front: order lives are planned when the order is placed, and
a refund that an agent issues ten days later must fall inside a real session of a real agent who is
on shift then. So every session of the run (start, end, device, IP, country, MFA, how many routine
actions) is fixed at the start; lifecycles and scenarios look sessions up by hour and team, and the
timeline emits each session's events on the day it starts. The plan is small (about 1.4 sessions
per working agent-day).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass

from vigil.sim.config import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, SimConfig
from vigil.sim.ids import K_AGENT, K_DEVICE, K_HOME_IP, K_SESSION, Hasher, ip_from
from vigil.sim.world import BY_CODE, pick_country

#: trap name (``vigil.events.truth.TRAPS``) of new-laptop, overtime and MFA-outage sessions
NEW_DEVICE_AGENT = "trap_new_device_agent"

TEAMS = ("general", "returns", "vip", "escalations")
#: Contact-centre offices: country, office weight, possible shift starts (UTC hours).
OFFICES: tuple[tuple[str, float, tuple[int, ...]], ...] = (
    ("US", 3.0, (13, 15, 17)),
    ("PH", 3.0, (0, 13, 22)),
    ("IN", 2.0, (3, 4, 12)),
    ("IE", 1.5, (7, 8)),
    ("DE", 1.0, (6, 7)),
    ("GB", 1.0, (8, 9)),
    ("MX", 1.0, (14, 16)),
    ("PL", 1.0, (6, 7)),
)
SHIFT_HOURS = 8
#: Frontline = general + returns; the groups lifecycles route tickets to.
GROUP_FRONTLINE = 0
GROUP_VIP = 1
GROUP_ESCALATIONS = 2
_GROUP_OF_TEAM = {"general": 0, "returns": 0, "vip": 1, "escalations": 2}


@dataclass(slots=True)
class Agent:
    idx: int
    agent_id: str
    team: str
    home_country: str
    shift_start_hour: int
    devices: tuple[str, ...]
    ips: tuple[str, ...]
    corrupt: bool = False

    @property
    def shift_end_hour(self) -> int:
        return (self.shift_start_hour + SHIFT_HOURS) % 24

    def in_shift(self, t_ms: int) -> bool:
        hour = (t_ms // HOUR_MS) % 24
        return (hour - self.shift_start_hour) % 24 < SHIFT_HOURS


@dataclass(slots=True)
class Session:
    agent: Agent
    session_id: str
    start_ms: int
    end_ms: int
    device_id: str
    ip: str
    country: str
    mfa: bool
    #: routine actions (view an account, edit an address ...) besides ticket work
    n_routine: int
    #: trap: the agent works from abroad (in shift, usual device, MFA)
    travel: bool = False
    #: trap the session belongs to (new laptop, overtime, MFA outage); its legitimate
    #: refunds are labelled with it
    trap: str | None = None
    #: the trap session gets a few ordinary refunds planned into it (see ``agent_traps``)
    trap_work: bool = False


class Roster:
    """Agents and the plan of their sessions, indexed by agent and by hour and team group."""

    def __init__(
        self, cfg: SimConfig, rng: random.Random, hasher: Hasher, retail_lines: float
    ) -> None:
        self._start_ms = cfg.start_ms
        self._h = hasher
        n = cfg.n_agents
        n_esc = max(3, round(n * cfg.escalation_agent_share))  # one per 8-hour shift
        n_vip = max(1, round(n * cfg.vip_agent_share))
        n_returns = round((n - n_esc - n_vip) * 0.3)
        teams = ["escalations"] * n_esc + ["vip"] * n_vip + ["returns"] * n_returns
        teams += ["general"] * (n - len(teams))
        rng.shuffle(teams)
        self.agents: list[Agent] = []
        self._session_counter = 0
        seen_in_team: dict[str, int] = dict.fromkeys(TEAMS, 0)
        for i, team in enumerate(teams):
            # Each team covers the clock: its members' shifts rotate through three starts.
            j = seen_in_team[team]
            seen_in_team[team] = j + 1
            k, start_hour = _office_for(rng, (8 * j + rng.randint(-2, 2)) % 24)
            office = OFFICES[k][0]
            octet = BY_CODE[office].octet if office in BY_CODE else 120
            devices: tuple[str, ...] = (f"ad-{hasher.hex(K_DEVICE, (2 << 40) | i, 8)}",)
            if rng.random() < 0.3:
                devices += (f"ad-{hasher.hex(K_DEVICE, (3 << 40) | i, 8)}",)
            office_ip = ip_from(octet, hasher.h(K_HOME_IP, (4 << 40) | k))
            home_ip = ip_from(octet, hasher.h(K_HOME_IP, (5 << 40) | i))
            self.agents.append(
                Agent(
                    idx=i,
                    agent_id=f"ag-{i + 1}",
                    team=team,
                    home_country=office,
                    shift_start_hour=start_hour,
                    devices=devices,
                    ips=(office_ip, home_ip),
                )
            )
        frontline = [a for a in self.agents if a.team in ("general", "returns")]
        for a in rng.sample(frontline, cfg.insider_corrupt_agents):
            a.corrupt = True
        self.corrupt = [a for a in self.agents if a.corrupt]
        self.escalations = [a for a in self.agents if a.team == "escalations"]
        self._plan(cfg, rng, retail_lines)

    def _plan(self, cfg: SimConfig, rng: random.Random, retail_lines: float) -> None:
        n_days = (cfg.end_ms - cfg.start_ms) // DAY_MS
        budget = cfg.agent_line_share * retail_lines
        # An agent works 5 days a week, is there on 95 % of them, in 1.4 sessions a day (40 %
        # take a long break). Session start/end lines may use half the budget; in small streams
        # agents therefore work fewer days. The rest of the budget is routine actions.
        presence = 5 / 7 * 0.95
        full_sessions = len(self.agents) * n_days * presence * 1.4
        day_p = min(1.0, 0.5 * budget / max(1.0, 2 * full_sessions))
        sessions = full_sessions * day_p
        routine_mean = max(1.0, (budget - 2 * sessions) / max(1.0, sessions))
        self.sessions: list[Session] = []
        for agent in self.agents:
            off = rng.randrange(7)
            for d in range(-1, n_days):  # from the day before: night shifts run into day 0
                if (d + 70) % 7 in (off, (off + 1) % 7) or rng.random() >= 0.95 * day_p:
                    continue
                shift0 = cfg.start_ms + d * DAY_MS + agent.shift_start_hour * HOUR_MS
                shift1 = shift0 + SHIFT_HOURS * HOUR_MS
                begin = shift0 + rng.randint(0, 20 * MINUTE_MS)
                finish = shift1 - rng.randint(0, 20 * MINUTE_MS)
                if rng.random() < 0.4:
                    mid = (begin + finish) // 2 + rng.randint(-HOUR_MS, HOUR_MS)
                    pause = rng.randint(30 * MINUTE_MS, 60 * MINUTE_MS)
                    spans = [(begin, mid), (mid + pause, finish)]
                else:
                    spans = [(begin, finish)]
                for s0, s1 in spans:
                    if s1 <= cfg.start_ms + HOUR_MS or s0 >= cfg.end_ms:
                        continue
                    s0 = max(s0, cfg.start_ms + HOUR_MS)
                    self.sessions.append(
                        self._session(agent, rng, s0, s1, routine_mean, cfg.agent_mfa_rate)
                    )
        self.trap_sessions = self._plan_traps(cfg, rng)
        self.sessions.sort(key=lambda s: (s.start_ms, s.agent.idx))
        n_hours = (cfg.end_ms - cfg.start_ms) // HOUR_MS + 1
        self._by_hour: list[list[list[Session]]] = [[[] for _ in range(n_hours)] for _ in range(3)]
        self._by_agent: list[list[Session]] = [[] for _ in self.agents]
        for s in self.sessions:
            self._by_agent[s.agent.idx].append(s)
            group = self._by_hour[_GROUP_OF_TEAM[s.agent.team]]
            for h in range(self.hour(s.start_ms), min(n_hours, self.hour(s.end_ms) + 1)):
                group[h].append(s)
        self._agent_starts = [[s.start_ms for s in ss] for ss in self._by_agent]

    def _plan_traps(self, cfg: SimConfig, rng: random.Random) -> list[Session]:
        """Trap ``trap_new_device_agent``: new laptops, overtime sessions and MFA outages.

        Honest agents only. A new laptop swaps the agent's main device (and adds a new home
        IP) from a day on; its first session is new device + new IP with MFA. Overtime
        sessions start after the shift (usual device, MFA). During an MFA outage every
        session starting in the window has no MFA (usual device, in shift)."""
        honest = [a for a in self.agents if not a.corrupt]
        lo = cfg.start_ms + 3 * DAY_MS
        hi = max(lo + DAY_MS, cfg.active_end_ms - 5 * DAY_MS)
        marked: list[Session] = []
        for _ in range(cfg.per_million(cfg.agent_overtime_sessions_per_million)):
            agent = honest[int(rng.random() * len(honest))]
            day = (lo + int(rng.random() * (hi - lo))) // DAY_MS * DAY_MS
            s0 = (
                day
                + ((agent.shift_start_hour + SHIFT_HOURS) % 24) * HOUR_MS
                + rng.randint(50 * MINUTE_MS, 3 * HOUR_MS)
            )
            s1 = s0 + rng.randint(90 * MINUTE_MS, 3 * HOUR_MS)
            s = self._session(agent, rng, s0, s1, 3.0, 1.0)
            s.trap = NEW_DEVICE_AGENT
            s.trap_work = True
            self.sessions.append(s)
            marked.append(s)
        by_agent: dict[int, list[Session]] = {}
        for s in self.sessions:
            by_agent.setdefault(s.agent.idx, []).append(s)
        for _ in range(cfg.per_million(cfg.agent_new_laptop_per_million)):
            agent = honest[int(rng.random() * len(honest))]
            t = lo + int(rng.random() * (hi - lo))
            later = sorted(
                (s for s in by_agent.get(agent.idx, ()) if s.start_ms >= t and s.trap is None),
                key=lambda s: s.start_ms,
            )
            if not later:
                continue
            device = f"ad-{self._h.hex(K_DEVICE, (7 << 40) | rng.getrandbits(32), 8)}"
            home = BY_CODE.get(agent.home_country)
            ip = ip_from(home.octet if home else 120, self._h.h(K_AGENT, rng.getrandbits(40)))
            agent.devices = (device, *agent.devices[1:])
            agent.ips = (agent.ips[0], ip)
            for k, s in enumerate(later):
                s.device_id = device if (k == 0 or rng.random() < 0.8) else s.device_id
                if k == 0 or rng.random() < 0.3:
                    s.ip = ip
            first = later[0]
            first.mfa = True
            first.trap = NEW_DEVICE_AGENT
            first.trap_work = True
            marked.append(first)
        for _ in range(cfg.per_million(cfg.mfa_outages_per_million)):
            w0 = lo + int(rng.random() * (hi - lo))
            w1 = w0 + int(cfg.mfa_outage_hours * HOUR_MS)
            for s in self.sessions:
                if w0 <= s.start_ms < w1 and s.trap is None and not s.agent.corrupt:
                    s.mfa = False
                    s.trap = NEW_DEVICE_AGENT
                    marked.append(s)
        marked.sort(key=lambda s: (s.start_ms, s.agent.idx))
        return marked

    def _session(
        self,
        agent: Agent,
        rng: random.Random,
        s0: int,
        s1: int,
        routine_mean: float,
        mfa_rate: float,
    ) -> Session:
        return Session(
            agent=agent,
            session_id=self.new_session_id(),
            start_ms=s0,
            end_ms=s1,
            device_id=agent.devices[0] if rng.random() < 0.8 else agent.devices[-1],
            ip=agent.ips[0] if rng.random() < 0.7 else agent.ips[1],
            country=agent.home_country,
            mfa=rng.random() < mfa_rate,
            n_routine=max(0, round(routine_mean * rng.uniform(0.4, 1.6))),
        )

    def new_session_id(self) -> str:
        self._session_counter += 1
        return f"ss-{self._h.hex(K_SESSION, self._session_counter, 16)}"

    def hour(self, t_ms: int) -> int:
        return (t_ms - self._start_ms) // HOUR_MS

    def find(
        self, rng: random.Random, t_ms: int, group: int, need_ms: int = 6 * MINUTE_MS
    ) -> tuple[Session, int] | None:
        """A session of a ``group`` agent open at or after ``t_ms`` with ``need_ms`` to spare,
        and a moment in it for the ticket; None if nobody works in the next three days."""
        by_hour = self._by_hour[group]
        h = max(0, self.hour(t_ms))
        for hh in range(h, min(len(by_hour), h + 72)):
            cands = [
                s for s in by_hour[hh] if s.end_ms - need_ms > max(t_ms, s.start_ms + SECOND_MS)
            ]
            if cands:
                s = cands[int(rng.random() * len(cands))]
                return s, _moment(rng, s, t_ms, need_ms)
        return None

    def next_of(
        self, rng: random.Random, agent: Agent, t_ms: int, need_ms: int = 6 * MINUTE_MS
    ) -> tuple[Session, int] | None:
        """The agent's own next session within a fortnight of ``t_ms`` and a moment in it
        (None if they do not work then, which only happens in very small streams)."""
        sessions = self._by_agent[agent.idx]
        k = max(0, bisect_right(self._agent_starts[agent.idx], t_ms) - 1)
        for s in sessions[k:]:
            if s.start_ms > t_ms + 14 * DAY_MS:
                break
            if s.end_ms - need_ms > max(t_ms, s.start_ms + SECOND_MS):
                return s, _moment(rng, s, t_ms, need_ms)
        return None

    def mark_travel(self, rng: random.Random, count: int, until_ms: int) -> list[Session]:
        """Trap: ``count`` sessions worked from abroad (in shift, usual device, MFA on)."""
        pool = [
            s
            for s in self.sessions
            if s.end_ms < until_ms and not s.agent.corrupt and s.trap is None
        ]
        chosen = rng.sample(pool, min(count, len(pool)))
        chosen.sort(key=lambda s: (s.start_ms, s.agent.idx))
        for s in chosen:
            abroad = s.agent.home_country
            while abroad == s.agent.home_country:
                abroad = pick_country(rng).code
            s.travel = True
            s.country = abroad
            s.ip = ip_from(BY_CODE[abroad].octet, self._h.h(K_AGENT, rng.getrandbits(40)))
            s.mfa = True
        return chosen


def _office_for(rng: random.Random, target_hour: int) -> tuple[int, int]:
    """An office (index) and shift start near ``target_hour``, weighted by office size."""
    options = [
        (k, start, weight)
        for k, (_, weight, starts) in enumerate(OFFICES)
        for start in starts
        if min((start - target_hour) % 24, (target_hour - start) % 24) <= 2
    ]
    if not options:
        options = [
            (k, start, weight) for k, (_, weight, starts) in enumerate(OFFICES) for start in starts
        ]
    k, start, _ = rng.choices(options, [w for _, _, w in options])[0]
    return k, start


def _moment(rng: random.Random, s: Session, t_ms: int, need_ms: int) -> int:
    lo = max(t_ms, s.start_ms + SECOND_MS)
    hi = min(s.end_ms - need_ms, lo + 45 * MINUTE_MS)
    return lo + int(rng.random() * max(1, hi - lo))
