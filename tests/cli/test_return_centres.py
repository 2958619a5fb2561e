"""``vigil run --return-centres FILE``: the centres reach the detectors and the runtime, and
``vigil serve`` passes the file on to its runtime child."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from tests.detectors._factories import DAY, T0
from tests.detectors.sequences._parcels import ParcelEvents, return_flow

from vigil.api.runtime import RuntimeCommand
from vigil.cli.main import cli
from vigil.decisions.policy import DecisionPolicy
from vigil.events.codec import encode_one

#: a centre the default list does not know
TUCSON = ("wh-tucson", "85706", "US")


def _stream(path: Path) -> Path:
    """One parcel labelled to Tucson, "delivered" there, never received."""
    f = ParcelEvents()
    route = ((0, "first_scan", "94107", TUCSON[1]), (2, "delivered", TUCSON[1], TUCSON[1]))
    evs = sorted(
        return_flow(f, 1, T0, route, label=TUCSON),  # type: ignore[arg-type]
        key=lambda e: e.event_time_ms,
    )
    evs.append(f.tick(T0 + 40 * DAY))
    path.write_bytes(b"".join(encode_one(e) + b"\n" for e in evs))
    return path


def _reasons(out: Path) -> list[str]:
    alerts = [json.loads(x) for x in (out / "alerts.jsonl").read_text().splitlines()]
    (ftid,) = [a for a in alerts if a["detector"] == "empty_box"]
    return list(ftid["reasons"])


def test_run_reads_the_return_centres_file(tmp_path: Path) -> None:
    events = _stream(tmp_path / "events.jsonl")
    runner = CliRunner()
    base = ["run", "--input", str(events), "--no-analytics"]
    result = runner.invoke(cli, [*base, "--out", str(tmp_path / "a")], catch_exceptions=False)
    assert result.exit_code == 0
    # default centres: Tucson is nowhere; the label goes elsewhere
    assert "label_not_addressed_to_return_centre" in _reasons(tmp_path / "a")
    centres = tmp_path / "centres.yaml"
    centres.write_text(
        "return_centres:\n"
        "  - {centre_id: wh-reno, country: US, postal_code: '89506'}\n"
        "  - {centre_id: wh-tucson, country: US, postal_code: '85706'}\n"
    )
    result = runner.invoke(
        cli,
        [*base, "--out", str(tmp_path / "b"), "--return-centres", str(centres)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    reasons = _reasons(tmp_path / "b")
    assert "label_not_addressed_to_return_centre" not in reasons
    assert "delivered_per_carrier_but_never_received" in reasons


def test_a_bad_return_centres_file_is_a_clear_error(tmp_path: Path) -> None:
    events = _stream(tmp_path / "events.jsonl")
    bad = tmp_path / "centres.json"
    bad.write_text('[{"centre_id": "wh-x", "country": "US"}]')
    result = CliRunner().invoke(
        cli,
        ["run", "--input", str(events), "--out", str(tmp_path / "o"), "--return-centres", str(bad)],
    )
    assert result.exit_code != 0
    assert "return centre 1" in str(result.exception) and "postal_code" in str(result.exception)


def test_serve_passes_the_file_to_its_runtime_child(tmp_path: Path) -> None:
    centres = tmp_path / "centres.json"
    cmd = RuntimeCommand(
        input_log=tmp_path / "in.jsonl",
        out_dir=tmp_path / "run",
        checkpoint_dir=tmp_path / "ckpt",
        policy=DecisionPolicy(),
        return_centres=centres,
    )
    argv = cmd.argv()
    assert argv[argv.index("--return-centres") + 1] == str(centres)
    without = RuntimeCommand(
        input_log=tmp_path / "in.jsonl",
        out_dir=tmp_path / "run",
        checkpoint_dir=tmp_path / "ckpt",
        policy=DecisionPolicy(),
    )
    assert "--return-centres" not in without.argv()
    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "--return-centres" in help_text
