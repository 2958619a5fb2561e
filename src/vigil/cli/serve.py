"""``vigil serve``: the decision API (uvicorn) with the runtime as a separate child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vigil.cli.ads import AD_WINDOW_OPTION, DATACENTRE_OPTION, NO_ADS_OPTION
from vigil.cli.options import Duration
from vigil.cli.progress import stderr
from vigil.decisions.policy import THRESHOLDS, DecisionPolicy
from vigil.errors import ConfigError

if TYPE_CHECKING:
    from vigil.api.auth import StaticKeys
    from vigil.security.db import Database


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("vigil-serve"),
    show_default=True,
    help="Input log, dead letters, decision journal, runtime outputs and checkpoints.",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="NAME:SECRET:SCOPES",
    help="An API key (repeatable); SCOPES is comma-separated or * for all. Keys created "
    "with the security service work too. Without any, a key with every scope is generated.",
)
@click.option(
    "--database-url",
    default=None,
    envvar="VIGIL_DATABASE_URL",
    help="Case and key database, as vigil db, users and keys take it (env VIGIL_DATABASE_URL; "
    "default: sqlite:///STATE_DIR/vigil.db; postgresql+psycopg://...).",
)
@click.option("--no-cases", is_flag=True, help="Run without the case database.")
@click.option(
    "--external-runtime",
    is_flag=True,
    help="Do not start the runtime: an operator runs `vigil run --input STATE_DIR/input.jsonl "
    "--follow --out STATE_DIR/run --checkpoint-dir STATE_DIR/checkpoint` themselves.",
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Rules file for the runtime child (vigil run --rules).",
)
@click.option(
    "--return-centres",
    "return_centres_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The retailer's return centres for the runtime child and the decide endpoint "
    "(vigil run --return-centres).",
)
@NO_ADS_OPTION
@AD_WINDOW_OPTION
@DATACENTRE_OPTION
@click.option(
    "--request-model",
    "request_model_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="The request model (a registry's latest `request`, or one artifact folder) for the "
    "runtime child and the decide endpoint (vigil run --request-model).",
)
@click.option(
    "--state-backend",
    type=click.Choice(["memory", "rocksdb"]),
    default="memory",
    show_default=True,
    help="Where the runtime child's stages keep their state (vigil run --state-backend).",
)
@click.option("--runtime-analytics", is_flag=True, help="Let the runtime write analytics.duckdb.")
@click.option(
    "--index-retention",
    type=Duration(),
    default="90d",
    show_default=True,
    help="The in-memory index forgets alerts and stream decisions this much older (event time) "
    "than the newest; 0d keeps everything. Cases stay in the database.",
)
@click.option("--review-threshold", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True)
@click.option("--deny-threshold", type=click.FloatRange(0.0, 1.0), default=0.95, show_default=True)
@click.option(
    "--no-fsync",
    is_flag=True,
    help="Answer before appended events and decisions are fsynced (survives a crash of the "
    "server, not of the machine; for demos and benchmarks).",
)
@click.option("--demo", is_flag=True, help="Also feed a simulated stream at a steady rate.")
@click.option(
    "--kafka-input",
    default=None,
    metavar="URL",
    help="Also feed the events of these Kafka topics (kafka://HOST:PORT/TOPIC[,TOPIC]) to "
    "the API and its runtime, as if posted to /v1/events (docs/kafka.md).",
)
@click.option(
    "--kafka-group",
    default="vigil-serve",
    show_default=True,
    help="With --kafka-input: the consumer group whose committed offsets the feed goes on from.",
)
@click.option(
    "--kafka-option",
    "kafka_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="With --kafka-input: a librdkafka setting (repeatable).",
)
@click.option("--demo-rate", type=click.FloatRange(min=1.0), default=200.0, show_default=True)
@click.option("--demo-seed", type=int, default=1, show_default=True)
@click.option(
    "--secure-cookies",
    is_flag=True,
    help="Mark the console's cookies Secure (when users reach it over HTTPS, e.g. behind a "
    "TLS proxy).",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds a client may take to send a request's headers; then 408 and the "
    "connection is closed.",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds a request body may pause between pieces (and six times that in all); then 408.",
)
@click.option("--log-level", default="warning", show_default=True)
def serve(
    host: str,
    port: int,
    state_dir: Path,
    api_keys: tuple[str, ...],
    database_url: str | None,
    no_cases: bool,
    external_runtime: bool,
    rules_path: Path | None,
    return_centres_path: Path | None,
    no_ads: bool,
    ad_windows: tuple[str, ...],
    datacentre_ranges: Path | None,
    request_model_dir: Path | None,
    state_backend: str,
    runtime_analytics: bool,
    index_retention: int,
    review_threshold: float,
    deny_threshold: float,
    no_fsync: bool,
    demo: bool,
    kafka_input: str | None,
    kafka_group: str,
    kafka_options: tuple[str, ...],
    demo_rate: float,
    demo_seed: int,
    secure_cookies: bool,
    header_timeout: float,
    body_timeout: float,
    log_level: str,
) -> None:
    """Serve the decision API, alerts, cases, /metrics and /healthz (docs/api.md)."""
    import uvicorn

    if ad_windows:  # refused here, not by a runtime child restarted over and over
        from vigil.cli.ads import ad_settings_of
        from vigil.runtime.embedded import RuntimeSettings

        ad_settings_of(ad_windows, RuntimeSettings())

    from vigil.api import ApiSettings, StaticKeys, create_app
    from vigil.api.auth import AnyOf, Authenticator, CachedKeys
    from vigil.api.runtime import RuntimeCommand, RuntimeProcess
    from vigil.api.server import config as server_config

    if kafka_input is not None:  # a bad address or option is said before anything starts
        from vigil.kafka.config import parse_kafka_url, parse_options

        parse_kafka_url(kafka_input, parse_options(kafka_options))
    state_dir.mkdir(parents=True, exist_ok=True)
    db = None
    if not no_cases:
        from vigil.security.db import Database

        db = Database.open(database_url or f"sqlite:///{(state_dir / 'vigil.db').resolve()}")
    approved = _approved_thresholds(db, click.get_current_context()) if db is not None else {}
    try:
        policy = DecisionPolicy(
            approved.get("review_threshold", review_threshold),
            approved.get("deny_threshold", deny_threshold),
        )
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--deny-threshold") from exc
    from vigil.detectors.return_centres import ReturnCentres, load_return_centres

    centres = ReturnCentres()
    if return_centres_path is not None:
        centres = load_return_centres(return_centres_path)
    request_profile = None
    request_model_path = None
    if request_model_dir is not None:
        from vigil.models.request.model import artifact_of
        from vigil.models.request.model import load as load_request_model

        # one artifact for both: a model trained meanwhile must not split their answers
        request_model_path = artifact_of(request_model_dir).resolve()
        request_profile = load_request_model(request_model_path)
    settings = ApiSettings(
        state_dir=state_dir,
        decision_policy=policy,
        fsync_events=not no_fsync,
        fsync_decisions=not no_fsync,
        index_retention_ms=index_retention or None,
        return_centres=centres,
        request_profile=request_profile,
        body_idle_timeout_s=body_timeout,
        body_total_timeout_s=6 * body_timeout,
    )
    static = StaticKeys()
    for spec in api_keys:
        static.add_spec(spec)
    generated: str | None = None
    if not api_keys or demo or kafka_input:
        generated = _dev_key(static, state_dir / "dev-api-key")
    auth: Authenticator = static
    if db is not None:
        from vigil.api.auth import DatabaseKeys

        auth = AnyOf(static, CachedKeys(DatabaseKeys(db), settings.auth_cache_s))
    demo_users: list[tuple[str, str, str]] = []
    if demo and db is not None:
        demo_users = _demo_users(db, state_dir)
    runtime = None
    if not external_runtime:
        runtime = RuntimeProcess(
            RuntimeCommand(
                input_log=settings.input_log,
                out_dir=settings.out_dir,
                checkpoint_dir=settings.checkpoint_path.parent,
                policy=policy,
                analytics=runtime_analytics,
                rules=rules_path,
                return_centres=return_centres_path,
                datacentre_ranges=datacentre_ranges,
                ads=not no_ads,
                ad_windows=ad_windows,
                request_model=request_model_path,
                state_backend=state_backend,
            )
        )
    app = create_app(settings, auth, runtime=runtime, db=db, secure_cookies=secure_cookies)
    server = uvicorn.Server(server_config(app, host, port, log_level, header_timeout))
    feeder: subprocess.Popen[bytes] | None = None
    url = f"http://{host}:{port}"
    stderr.print(f"vigil serve: {url} (OpenAPI: {url}/docs); state in {state_dir}/")
    if generated is not None:
        stderr.print(f"API key with every scope (also in {state_dir}/dev-api-key): {generated}")
    if db is not None:
        stderr.print(f"console: {url}/console (users: vigil users add NAME --role analyst)")
    if approved:
        words = ", ".join(f"{name.replace('_', ' ')} {value:g}" for name, value in approved.items())
        stderr.print(f"decision thresholds approved in the console: {words}")
    for name, role, password in demo_users:
        stderr.print(f"  demo {role}: {name} / {password}  (also in {state_dir}/demo-users)")
    if demo:
        assert generated is not None
        feeder = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vigil.api.demo_feed",
                "--url",
                url,
                "--work-dir",
                str(state_dir / "demo-sim"),
                "--rate",
                str(demo_rate),
                "--seed",
                str(demo_seed),
            ],
            stdin=subprocess.PIPE,
            env={**os.environ},
        )
        assert feeder.stdin is not None
        feeder.stdin.write(generated.encode() + b"\n")
        feeder.stdin.close()
        stderr.print(f"demo: a simulated retailer posts {demo_rate:.0f} events/s")
    kafka_feed: subprocess.Popen[bytes] | None = None
    if kafka_input is not None:
        assert generated is not None
        kafka_feed = _start_kafka_feed(
            url, generated, kafka_input, kafka_group, kafka_options, state_dir / "kafka-feed"
        )
        stderr.print(f"kafka: feeding {kafka_input} (group {kafka_group}) to the API")
    # SIGTERM is how a service manager stops a server. uvicorn shuts down gracefully on it,
    # then raises it again; with a handler here that is the normal end: children stopped,
    # exit 0
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # uvicorn has shut down; the children are stopped below
    finally:
        for child in (feeder, kafka_feed):
            if child is not None:
                child.terminate()
                child.wait(timeout=10)
        if db is not None:
            db.dispose()


def _start_kafka_feed(
    url: str, key: str, address: str, group: str, options: tuple[str, ...], work_dir: Path
) -> subprocess.Popen[bytes]:
    """``python -m vigil.api.kafka_feed``: the topics posted to the API (the key on stdin)."""
    argv = [sys.executable, "-m", "vigil.api.kafka_feed", "--url", url, "--input", address,
            "--group", group, "--work-dir", str(work_dir)]  # fmt: skip
    for option in options:
        argv += ["--kafka-option", option]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, env={**os.environ})
    assert proc.stdin is not None
    proc.stdin.write(key.encode() + b"\n")
    proc.stdin.close()
    return proc


DEMO_USERS = (("demo-analyst", "analyst"), ("demo-lead", "lead"), ("demo-lead-2", "lead"))


def _demo_users(db: Database, state_dir: Path) -> list[tuple[str, str, str]]:
    """Console users for a demo: created once with random passwords kept in
    ``STATE_DIR/demo-users`` (mode 0600), so a second ``--demo`` run reuses them. Two leads,
    so the four-eyes flow can be tried (nobody approves their own change)."""
    import secrets

    import sqlalchemy as sa

    from vigil.security.models import User
    from vigil.security.permissions import Principal
    from vigil.security.users import create_user

    path = state_dir / "demo-users"
    known: dict[str, tuple[str, str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, role, password = line.split(" ", 2)
            known[name] = (role, password)
    out = []
    with db.transaction() as session:
        for name, role in DEMO_USERS:
            exists = session.scalar(sa.select(User.id).where(User.username == name))
            if exists is not None and name in known:
                out.append((name, role, known[name][1]))
                continue
            if exists is not None:
                continue  # made by someone else: their password is not ours to show
            password = secrets.token_urlsafe(12)
            create_user(session, Principal.system("vigil serve --demo"), name, password, role)
            out.append((name, role, password))
    path.write_text("".join(f"{n} {r} {p}\n" for n, r, p in out))
    path.chmod(0o600)
    return out


def _approved_thresholds(db: Database, ctx: click.Context) -> dict[str, float]:
    """The last thresholds approved in the console, for the flags not given on the command line
    (a flag given names the operator's choice, and the rules page shows the approved one as
    not in force)."""
    from vigil.security import approvals

    out: dict[str, float] = {}
    with db.transaction() as session:
        for name in THRESHOLDS:
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
                continue
            value = approvals.effective_value(session, "threshold", name)
            if isinstance(value, int | float):
                out[name] = float(value)
    return out


def _dev_key(static: StaticKeys, key_file: Path) -> str:
    """The state's development key with every scope: the one kept in ``key_file`` since the
    first start (clients keep working across restarts), or a new one written there (0600)."""
    from vigil.security.permissions import SCOPES

    if key_file.is_file():
        kept = key_file.read_text().strip()
        if kept:
            static.add("dev", kept, SCOPES)
            return kept
    generated = static.generate("dev")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(generated + "\n")
    key_file.chmod(0o600)
    return generated
