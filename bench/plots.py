"""PNG plots next to the benchmarks' tables: latency CDFs and throughput
against connections. matplotlib is a bench/test dependency (scripts/setup.sh
--dev); without it the plots are skipped with a line saying so, the tables
are printed all the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path("build/bench-plots")


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError:
        print("plots: matplotlib is not installed (scripts/setup.sh --dev installs it); no PNG written")
        return None
    return plt


def latency_cdfs(panels: Mapping[str, Mapping[str, np.ndarray]], title: str, path: Path) -> Path | None:
    """One panel per key of `panels`, each with a CDF per runtime: {panel: {runtime: latencies in µs}}."""
    plt = _pyplot()
    if plt is None or not panels:
        return None
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax, (panel, runtimes) in zip(axes.flat, panels.items(), strict=False):
        for runtime, samples in runtimes.items():
            ordered = np.sort(np.asarray(samples, dtype=float))
            ax.plot(ordered, np.arange(1, len(ordered) + 1) / len(ordered), label=runtime)
        ax.set(title=panel, xlabel="latency (µs, log)", ylabel="fraction of calls", xscale="log")
        _plain_log_ticks(ax.xaxis)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right", fontsize="small")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title)
    return _save(plt, fig, path)


def throughput_by_connections(
    series: Mapping[str, Sequence[tuple[int, float]]], title: str, path: Path, ylabel: str = "requests/s"
) -> Path | None:
    """One line per series: [(connections, requests/s)]."""
    plt = _pyplot()
    if plt is None or not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.2))
    connections = sorted({c for points in series.values() for c, _ in points})
    for label, points in series.items():
        points = sorted(points)
        ax.plot([c for c, _ in points], [r for _, r in points], "o-", label=label)
    ax.set(title=title, xlabel="connections", ylabel=ylabel, xscale="log", yscale="log")
    ax.set_xticks(connections, [str(c) for c in connections])
    _plain_log_ticks(ax.yaxis)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return _save(plt, fig, path)


def _plain_log_ticks(axis) -> None:
    """Log-scale ticks at 1, 2 and 5 times powers of ten, as plain numbers (1000, not 10^3)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    formatter = ScalarFormatter()
    formatter.set_scientific(False)
    axis.set_major_formatter(formatter)
    axis.set_minor_formatter(NullFormatter())


def _save(plt, fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot: {path}")
    return path
