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
    return _table(f"LoadedModel {escape(source)}", ("signature", "inputs", "outputs"), rows)


def version_lines(core) -> list[tuple[str, list]]:
    """[(model name, [VersionStatus...])] for every model the core serves; [] when closed."""
    if core._native is None:
        return []
    lines = []
    for name in core.models:
        try:
            lines.append((name, core.status(name)))
        except Exception:  # noqa: BLE001 - removed between the two calls: shown without versions
            lines.append((name, []))
    return lines


def _labels(core) -> dict[str, dict[int, list[str]]]:
    """{model: {version: [labels]}} from the core's current model configs."""
    labels: dict[str, dict[int, list[str]]] = {}
    for config in core._native.models() if core._native is not None else []:
        for label, version in sorted(config.version_labels.items()):
            labels.setdefault(config.name, {}).setdefault(version, []).append(label)
    return labels


def core_text(core) -> str:
    lines = version_lines(core)
    if core._native is None:
        return "closed"
    if not lines:
        return "no models"
    parts = []
    for name, versions in lines:
        states = ", ".join(f"{v.version} {v.state}" for v in versions) or "no versions yet"
        parts.append(f"{name} [{states}]")
    return "models: " + "; ".join(parts)


def core_html(title: str, core) -> str:
    if core._native is None:
        return f"<b>{escape(title)}</b>: closed"
    labels = _labels(core)
    rows = []
    for name, versions in version_lines(core):
        if not versions:
            rows.append((escape(name), "", "no versions yet", "", ""))
        for v in versions:
            error = "" if v.error_code == "OK" else f"{escape(v.error_code)}: {escape(v.error_message)}"
            tags = ", ".join(labels.get(name, {}).get(v.version, []))
            rows.append((escape(name), str(v.version), escape(v.state), escape(tags), error))
    if not rows:
        return f"<b>{escape(title)}</b>: no models"
    return _table(escape(title), ("model", "version", "state", "labels", "error"), rows)
