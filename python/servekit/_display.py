"""How LoadedModel, ServingCore and ModelServer show themselves: one line of
text for repr(), an HTML table for Jupyter (``_repr_html_``). Read-only: a
display never changes what it shows, and a model or core that cannot answer
(closed, not started) says so instead of raising."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

from servekit.loaded_model import Signature

_TABLE = '<table style="border-collapse: collapse; text-align: left">'
_CELL = 'style="border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top"'


def _table(caption: str, header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """An HTML table of already-escaped cells."""
    head = "".join(f"<th {_CELL}>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td {_CELL}>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"{_TABLE}<caption style='text-align: left'><b>{caption}</b></caption><tr>{head}</tr>{body}</table>"


def _tensors_html(tensors) -> str:
    return "<br>".join(f"<code>{escape(str(t))}</code>" for t in tensors)


def signatures_html(source: str, signatures: Mapping[str, Signature], default: str) -> str:
    rows = [
        (
            escape(name) + (" (default)" if name == default else ""),
            _tensors_html(signature.inputs),
            _tensors_html(signature.outputs),
        )
        for name, signature in sorted(signatures.items())
    ]
    return _table(f"LoadedModel {escape(str(source))}", ("signature", "inputs", "outputs"), rows)


def _snapshot(core) -> tuple[list[tuple[str, list]], dict[str, dict[int, list[str]]]] | None:
    """([(model, [VersionStatus...])], {model: {version: [labels]}}), or None when the
    core is closed. One read of the native core, which a concurrent close() may drop."""
    from servekit.serving import VersionStatus

    native = core._native
    if native is None:
        return None
    lines, labels = [], {}
    for config in native.models():
        try:
            versions = [VersionStatus(*entry) for entry in native.status(config.name)]
        except Exception:  # noqa: BLE001 - removed between the two calls: shown without versions
            versions = []
        lines.append((config.name, versions))
        for label, version in sorted(config.version_labels.items()):
            labels.setdefault(config.name, {}).setdefault(version, []).append(label)
    return lines, labels


def core_text(core) -> str:
    snapshot = _snapshot(core)
    if snapshot is None:
        return "closed"
    lines, _ = snapshot
    if not lines:
        return "no models"
    parts = []
    for name, versions in lines:
        states = ", ".join(f"{v.version} {v.state}" for v in versions) or "no versions yet"
        parts.append(f"{name} [{states}]")
    return "models: " + "; ".join(parts)


def core_html(title: str, core) -> str:
    snapshot = _snapshot(core)
    if snapshot is None:
        return f"<b>{escape(title)}</b>: closed"
    lines, labels = snapshot
    rows = []
    for name, versions in lines:
        if not versions:
            rows.append((escape(name), "", "no versions yet", "", ""))
        for v in versions:
            error = "" if v.error_code == "OK" else f"{escape(v.error_code)}: {escape(v.error_message)}"
            tags = ", ".join(labels.get(name, {}).get(v.version, []))
            rows.append((escape(name), str(v.version), escape(v.state), escape(tags), error))
    if not rows:
        return f"<b>{escape(title)}</b>: no models"
    return _table(escape(title), ("model", "version", "state", "labels", "error"), rows)
