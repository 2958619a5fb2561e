"""An on-disk registry of versioned model artifacts.

API (small on purpose; the tabular trainer and the simulator refund model both use it)::

    from vigil.models import registry

    meta = registry.ModelMeta(
        name="refund",                       # model family; `load(dir, "refund")` = its latest
        features=[registry.FeatureSpec("amount_usd", "numeric"),
                  registry.FeatureSpec("channel", "categorical", levels=["web", "store"])],
        training_window=registry.TrainingWindow(start="2026-01-01T00:00:00Z",
                                                end="2026-02-01T00:00:00Z", rows=120_000),
        params={"num_leaves": 31, "learning_rate": 0.05},
        metrics={"auc_roc": 0.91, "auc_pr": 0.44},
        data_fingerprint=registry.fingerprint_files([events_path]),
        extra={"calibration": {...}},        # anything JSON: the model's own pipeline settings
    )
    version = registry.save(registry_dir, booster, meta)   # -> "v0003" (booster or model text)
    booster, meta = registry.load(registry_dir, version)    # or "refund", "latest", "3"
    for entry in registry.list_versions(registry_dir): ...  # oldest first
    meta = registry.read_meta(registry_dir, "v0003")        # metadata only, no model
    registry.artifact_dir(registry_dir, version)            # the folder, for extra files
    booster, meta = registry.load_dir("models/v0003")       # an artifact folder by path

(``list_versions`` rather than ``list``: a module-level ``list`` would shadow the builtin.)

Layout: ``DIR/v0001/model.txt`` (LightGBM's own text format, readable across versions and
platforms, no pickle) and ``DIR/v0001/meta.json`` (``ModelMeta`` plus ``version`` and
``created_at``). Any further file a model needs (a calibrator, a vocabulary) can be passed
to ``save`` as ``files={"calibration.json": b"..."}`` and read from ``artifact_dir``.

Versions are numbered across the whole registry (``v0001``, ``v0002``, ...) whatever the
model family; a version is claimed with an atomic ``mkdir`` and written into a hidden
``.v0001.tmp`` folder first, then renamed, so two trainers saving at once never collide
and a reader never sees half an artifact. Artifacts are never rewritten: a new model is a
new version.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from vigil.errors import InputError

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = [
    "META_FILE",
    "MODEL_FILE",
    "FeatureSpec",
    "ModelMeta",
    "RegistryEntry",
    "TrainingWindow",
    "artifact_dir",
    "fingerprint_files",
    "list_versions",
    "load",
    "load_dir",
    "read_meta",
    "resolve",
    "save",
]

MODEL_FILE = "model.txt"
META_FILE = "meta.json"
_VERSION = re.compile(r"^v(\d{4,})$")

FeatureKind = Literal["numeric", "categorical", "datetime", "boolean"]


class FeatureSpec(msgspec.Struct, frozen=True, omit_defaults=True):
    """One model input: its name, kind and, for a categorical, its levels in code order."""

    name: str
    kind: FeatureKind
    levels: builtins.list[str] | None = None
    #: what the feature means, in words an analyst understands
    description: str | None = None


class TrainingWindow(msgspec.Struct, frozen=True, omit_defaults=True):
    """What the model was fitted on: first and last event time (ISO-8601 UTC) and row count."""

    start: str | None = None
    end: str | None = None
    rows: int = 0
    #: how the rows were ordered/split, e.g. "time-ordered by purchase_time"
    ordering: str | None = None


class ModelMeta(msgspec.Struct, frozen=True, omit_defaults=True):
    """Everything needed to trust and reuse a model, stored as ``meta.json`` beside it."""

    name: str
    features: builtins.list[FeatureSpec]
    training_window: TrainingWindow = TrainingWindow()
    params: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    data_fingerprint: str = ""
    #: the model family's own settings (feature pipeline, calibration, ...), JSON only
    extra: dict[str, Any] = {}
    #: filled by ``save``
    version: str = ""
    created_at: str = ""


class RegistryEntry(msgspec.Struct, frozen=True):
    """One line of ``list_versions``."""

    version: str
    name: str
    created_at: str
    rows: int
    metrics: dict[str, Any]
    path: str


def save(
    registry_dir: Path | str,
    model: lgb.Booster | bytes | str,
    meta: ModelMeta,
    *,
    files: Mapping[str, bytes] | None = None,
    now: datetime | None = None,
) -> str:
    """Store ``model`` (a Booster, or LightGBM model text) with ``meta``; return its version."""
    root = Path(registry_dir)
    root.mkdir(parents=True, exist_ok=True)
    text = _model_text(model)
    created = (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    for name in files or {}:
        if name in (MODEL_FILE, META_FILE) or "/" in name or name.startswith("."):
            raise ValueError(f"extra file name {name!r} is reserved or not a plain file name")
    while True:
        version = _next_version(root)
        tmp = root / f".{version}.tmp"
        try:
            tmp.mkdir()  # atomic claim: a concurrent saver gets FileExistsError and retries
        except FileExistsError:
            continue
        if (root / version).exists():
            tmp.rmdir()
            continue
        break
    try:
        (tmp / MODEL_FILE).write_text(text, encoding="utf-8")
        full = msgspec.structs.replace(meta, version=version, created_at=created)
        (tmp / META_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(full), indent=2))
        for name, payload in (files or {}).items():
            (tmp / name).write_bytes(payload)
        _fsync_dir(tmp)
        os.rename(tmp, root / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return version


def resolve(registry_dir: Path | str, ref: str) -> str:
    """The version a reference names: ``v0003``, ``3``, ``latest`` or a model name (its latest)."""
    root = Path(registry_dir)
    versions = _versions(root)
    if not versions:
        raise InputError(f"model registry {root} holds no model; train one first")
    ref = ref.strip()
    if ref == "latest":
        return versions[-1]
    if ref.isdigit():
        ref = f"v{int(ref):04d}"
    if ref in versions:
        return ref
    named = [v for v in versions if _read_meta(root / v).name == ref]
    if named:
        return named[-1]
    raise InputError(
        f"no model {ref!r} in registry {root}; known versions: {', '.join(versions[-10:])} "
        "(`vigil model registry list` shows them)"
    )


def artifact_dir(registry_dir: Path | str, ref: str) -> Path:
    """The folder of one version (for extra files saved with it)."""
    return Path(registry_dir) / resolve(registry_dir, ref)


def load(registry_dir: Path | str, ref: str = "latest") -> tuple[lgb.Booster, ModelMeta]:
    """The Booster and metadata of a version (see ``resolve`` for what ``ref`` may be)."""
    import lightgbm as lgb

    folder = artifact_dir(registry_dir, ref)
    meta = _read_meta(folder)
    booster = lgb.Booster(model_str=(folder / MODEL_FILE).read_text(encoding="utf-8"))
    return booster, meta


def read_meta(registry_dir: Path | str, ref: str = "latest") -> ModelMeta:
    """The metadata of a version without loading its model."""
    return _read_meta(artifact_dir(registry_dir, ref))


def load_dir(folder: Path | str) -> tuple[lgb.Booster, ModelMeta]:
    """Load an artifact folder directly (``DIR/v0003``), without going through a registry."""
    import lightgbm as lgb

    path = Path(folder)
    if not (path / META_FILE).is_file() or not (path / MODEL_FILE).is_file():
        raise InputError(f"{path} is not a model artifact (no {META_FILE} and {MODEL_FILE})")
    meta = _read_meta(path)
    return lgb.Booster(model_str=(path / MODEL_FILE).read_text(encoding="utf-8")), meta


def list_versions(registry_dir: Path | str) -> builtins.list[RegistryEntry]:
    """Every version in the registry, oldest first (an absent registry lists nothing)."""
    root = Path(registry_dir)
    out: builtins.list[RegistryEntry] = []
    for version in _versions(root):
        meta = _read_meta(root / version)
        out.append(
            RegistryEntry(
                version=version,
                name=meta.name,
                created_at=meta.created_at,
                rows=meta.training_window.rows,
                metrics=dict(meta.metrics),
                path=str(root / version),
            )
        )
    return out


def fingerprint_files(paths: Iterable[Path | str]) -> str:
    """``sha256:<hex>`` over the bytes of each file (names excluded: a moved file keeps it)."""
    digest = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\x00--file-end--\x00")
    return f"sha256:{digest.hexdigest()}"


def _model_text(model: lgb.Booster | bytes | str) -> str:
    if isinstance(model, bytes):
        return model.decode("utf-8")
    if isinstance(model, str):
        return model
    return str(model.model_to_string())


def _versions(root: Path) -> builtins.list[str]:
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _VERSION.match(child.name)
        if m and child.is_dir() and (child / META_FILE).is_file():
            found.append((int(m.group(1)), child.name))
    return [name for _, name in sorted(found)]


def _next_version(root: Path) -> str:
    highest = 0
    for child in root.iterdir():
        m = _VERSION.match(child.name.removeprefix(".").removesuffix(".tmp"))
        if m:
            highest = max(highest, int(m.group(1)))
    return f"v{highest + 1:04d}"


def _read_meta(folder: Path) -> ModelMeta:
    try:
        return msgspec.json.decode((folder / META_FILE).read_bytes(), type=ModelMeta)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InputError(f"cannot read model metadata {folder / META_FILE}: {exc}") from exc


def _fsync_dir(folder: Path) -> None:
    for child in folder.iterdir():
        with open(child, "rb") as fh:
            os.fsync(fh.fileno())
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
