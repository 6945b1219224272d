"""Versioned model serving from Python: ``servekit.ServingCore``.

A ServingCore watches model directories laid out as ``<base_path>/<version>/``
(each version holding a model.onnx), loads the versions each model's policy
asks for on native load threads, and swaps versions without dropping a request:
publishing ``model.save(base_path / "2")`` is enough to serve version 2 within
one poll interval. Configuration mirrors TensorFlow Serving's ModelServerConfig
(``model_config_list``, ``model_version_policy``, ``version_labels``), as text
or as Python dicts.

Everything that waits (loading, reloading) runs in C++ with the GIL released.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from servekit import _core
from servekit.loaded_model import DEFAULT_SIGNATURE, Signature, arrange_inputs, signatures

__all__ = ["ServingCore", "VersionEvent", "VersionStatus"]


@dataclass(frozen=True)
class VersionStatus:
    """One version's state, with TF Serving's state names (START, LOADING, AVAILABLE, UNLOADING, END)."""

    version: int
    state: str
    error_code: str  # "OK", or the load error's code (e.g. "INVALID_ARGUMENT")
    error_message: str


@dataclass(frozen=True)
class VersionEvent:
    """A transition of one model version (``time`` in seconds since the epoch)."""

    model: str
    version: int
    state: str
    error_code: str
    error_message: str
    time: float


def _model_config(entry: Mapping[str, Any] | _core.ModelConfig) -> _core.ModelConfig:
    """A native ModelConfig from TF Serving-style keys: name, base_path,
    model_platform, model_version_policy, version_labels. The native reader of
    TF Serving's ModelConfig (the one behind config files and REST's :add)
    checks them; here only Python's conveniences are unfolded: paths,
    ``"all"`` for ``{"all": {}}`` and None for a key left out."""
    if isinstance(entry, _core.ModelConfig):
        return entry
    fields = {key: value for key, value in entry.items() if value is not None}
    if "base_path" in fields:
        fields["base_path"] = os.fspath(fields["base_path"])
    policy = fields.get("model_version_policy")
    if isinstance(policy, str):
        fields["model_version_policy"] = {policy: {}}
    elif isinstance(policy, Mapping) and len(policy) == 1:
        ((kind, params),) = policy.items()
        fields["model_version_policy"] = {kind: params or {}}
    try:
        text = json.dumps(fields)
    except TypeError as error:
        raise ValueError(f"model config values must be strings, numbers, lists or dicts: {error}") from None
    return _core.ModelConfig.from_json(text)


def _check_model_source(config, model_name, model_base_path, model_config_file_poll_wait_seconds) -> None:
    """The argument rules ServingCore and ModelServer share."""
    if config is not None and (model_name or model_base_path):
        raise ValueError("give either config or model_name/model_base_path, not both")
    if (model_name is None) != (model_base_path is None):
        raise ValueError("model_name and model_base_path go together")
    if model_config_file_poll_wait_seconds and not _is_config_file(config):
        raise ValueError("model_config_file_poll_wait_seconds needs config to be a config file path")


def _is_config_file(config) -> bool:
    return isinstance(config, os.PathLike) or (isinstance(config, str) and os.path.isfile(config))


def _model_configs(config) -> list[_core.ModelConfig]:
    """Text (TF Serving's text format), a path to a config file, or a list of model dicts."""
    if _is_config_file(config):
        with open(config, encoding="utf-8") as f:
            return _core.parse_model_server_config(f.read())
    if isinstance(config, str):
        return _core.parse_model_server_config(config)
    if isinstance(config, Iterable):
        return [_model_config(entry) for entry in config]
    raise TypeError("config must be text, a config file path, or a list of model dicts")


class ServingCore:
    """Serves versioned models from directories; thread-safe.

    Parameters follow TensorFlow Serving's flags where they exist. ``config`` is
    a text-format ModelServerConfig, a path to one, or a list of model dicts;
    ``model_name``/``model_base_path`` configure a single model instead. A config
    file is re-read every ``model_config_file_poll_wait_seconds`` (0: read once)
    and applied when it changes; a file that cannot be read or parsed leaves the
    running config serving and shows in ``config_file_status()``. The other
    keywords are the serving core's options (listed below with their
    defaults), checked natively (ValueError naming the option).
    """

    def __init__(
        self,
        config=None,
        *,
        model_name: str | None = None,
        model_base_path: str | os.PathLike | None = None,
        model_config_file_poll_wait_seconds: float = 0.0,
        **options,
    ):
        _check_model_source(config, model_name, model_base_path, model_config_file_poll_wait_seconds)
        self._signatures: dict[tuple, tuple[int, Signature]] = {}  # selector -> (version, signature)
        self._config_watcher = None
        _check_option_names(type(self).__name__, options, scope="core")
        self._native = _core.ServerCore(options)
        if model_name is not None:
            self.add_model(model_name, model_base_path)
        elif config is not None and _is_config_file(config):
            self._config_watcher = _core.ConfigFileWatcher(
                self._native, os.fspath(config), model_config_file_poll_wait_seconds
            )
        elif config is not None:
            self.reload_config(config)

    @classmethod
    def _over(cls, native: _core.ServerCore, config_watcher=None) -> ServingCore:
        """A ServingCore over a native core that something else owns (a ModelServer)."""
        core = cls.__new__(cls)
        core._signatures = {}
        core._config_watcher = config_watcher
        core._native = native
        return core

    # --- configuration -----------------------------------------------------------------

    def reload_config(self, config) -> None:
        """Replaces the configured models; models left alone keep serving untouched."""
        self._native.reload_config(_model_configs(config))

    def add_model(
        self,
        name: str,
        base_path: str | os.PathLike,
        *,
        version_policy=None,
        platform: str = "",
        version_labels: Mapping[str, int] | None = None,
    ) -> None:
        """Adds one model; ``version_policy`` is "latest", "all", {"latest": {"num_versions": 2}},
        {"specific": {"versions": [1, 2]}}, or None (the newest version)."""
        self._native.add_model(
            _model_config(
                {
                    "name": name,
                    "base_path": base_path,
                    "model_platform": platform,
                    "model_version_policy": version_policy,
                    "version_labels": version_labels,
                }
            )
        )

    def remove_model(self, name: str) -> None:
        """Removes one model; its versions unload once their in-flight requests finish."""
        self._native.remove_model(name)

    def load_version(self, name: str, version: int) -> None:
        """Serves ``version`` of a configured model even if its version policy
        would not (the directory must exist), retrying it if its load had
        failed; returns once it is AVAILABLE, or raises the load's error.
        Lasts until the model is removed or the version is unloaded."""
        self._native.load_version(name, int(version))

    def unload_version(self, name: str, version: int) -> None:
        """Stops serving ``version`` even if the policy picks it (in-flight
        requests finish first; with the default availability-preserving policy
        it serves until another version is available). Refused while a label
        points at it."""
        self._native.unload_version(name, int(version))

    def config_file_status(self) -> tuple[str, str] | None:
        """(code, message) of the last read of the config file, or None when the
        core was not configured from a file."""
        if self._config_watcher is None:
            return None
        return tuple(self._config_watcher.last_status())

    def set_label(self, name: str, label: str, version: int) -> None:
        """Points ``label`` (e.g. "stable", "canary") at an AVAILABLE version."""
        self._native.set_label(name, label, int(version))

    @property
    def models(self) -> list[str]:
        return [m.name for m in self._native.models()]

    # --- serving -----------------------------------------------------------------------

    def signature(
        self, name: str, version: int | None = None, label: str | None = None, signature_name: str = ""
    ) -> Signature:
        """The inputs and outputs of a version's signature (serving_default when unnamed)."""
        _, inputs, outputs = self._native.signature(name, version, label, signature_name)
        return Signature(signatures(inputs), signatures(outputs), signature_name or DEFAULT_SIGNATURE)

    def predict(
        self,
        name: str,
        inputs,
        version: int | None = None,
        label: str | None = None,
        signature_name: str = "",
    ):
        """Runs the selected version (latest available by default) and
        signature (serving_default by default): an array for a single-output
        signature, else a dict of arrays."""
        selector = (name, version, label, signature_name)
        cached = self._signatures.get(selector)
        if cached is None:
            cached = self._refresh_signature(selector)
        try:
            served, outputs = self._native.predict(name, version, label, signature_name, self._named(cached[1], inputs))
        except ValueError:
            # A version swap may have changed the inputs: retry once with the
            # serving version's own signature (a real input error fails again).
            cached = self._refresh_signature(selector)
            served, outputs = self._native.predict(name, version, label, signature_name, self._named(cached[1], inputs))
        if served != cached[0]:
            self._refresh_signature(selector)  # for the next request
        if len(outputs) == 1:
            return outputs[0][1]
        return dict(outputs)

    @staticmethod
    def _named(signature: Signature, inputs) -> dict[str, Any]:
        # Arranged and converted by the signature in Python (clear messages);
        # the request path checks the names again against the version it runs.
        return dict(zip(signature.input_names, arrange_inputs(signature, inputs), strict=True))

    def _refresh_signature(self, selector) -> tuple[int, Signature]:
        # The signature of the version the selector serves now; requests reuse it
        # until another version answers (one native call per request instead of two).
        served, inputs, outputs = self._native.signature(*selector)
        cached = (served, Signature(signatures(inputs), signatures(outputs), selector[3] or DEFAULT_SIGNATURE))
        self._signatures[selector] = cached
        return cached

    def status(self, name: str) -> list[VersionStatus]:
        """Every version the core knows of ``name``; NotFoundError if none."""
        return [VersionStatus(*entry) for entry in self._native.status(name)]

    def wait_until_available(self, name: str, version: int | None = None, timeout: float = 30.0) -> None:
        """Blocks until the version (any version when None) serves; raises on
        timeout or when that version's load failed for good."""
        self._native.wait_until_available(name, version, timeout)

    def events(self) -> list[VersionEvent]:
        """Recent version transitions, oldest first."""
        return [VersionEvent(*entry) for entry in self._native.events()]

    def metrics(self) -> dict:
        """Native counters and latency histograms: {"counters": [(name, labels, value)],
        "histograms": [(name, labels, [(upper_bound_seconds, cumulative_count)], count, sum_seconds)]}.
        Names: servekit_model_loads_total, servekit_model_load_failures_total,
        servekit_model_load_seconds, servekit_requests_total, servekit_request_latency_seconds."""
        return self._native.metrics()

    def base_path_status(self, name: str) -> tuple[str, str]:
        """(code, message) of the last scan of the model's base_path."""
        return tuple(self._native.base_path_status(name))

    # --- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Stops watching and unloads every model (waits for running loads)."""
        self._config_watcher = None  # before the core it drives
        self._native = None

    def __repr__(self) -> str:
        from servekit._display import core_text

        return f"<ServingCore {core_text(self)}>"

    def _repr_html_(self) -> str:
        from servekit._display import core_html

        return core_html("ServingCore", self)

    def __enter__(self) -> ServingCore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_option_names(owner: str, options: Mapping[str, Any], scope: str | None = None) -> None:
    """TypeError now, as Python does for an unknown keyword; the values are checked natively."""
    known = {option["name"] for option in _core.server_options() if scope is None or option["scope"] == scope}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"{owner}() got unexpected keyword argument(s) {unknown}; its options are {sorted(known)}")


def _options_doc(scope: str | None = None) -> str:
    """The native option table (of one scope, or all) as docstring lines."""
    lines = []
    for option in _core.server_options():
        if scope is None or option["scope"] == scope:
            lines.append(f"    ``{option['name']}`` ({option['default']!r}): {option['help']}.")
    return "\n".join(lines)


ServingCore.__doc__ += "\n    Options:\n\n" + _options_doc("core") + "\n"
