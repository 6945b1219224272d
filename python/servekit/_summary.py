"""The text table `Model.summary()` prints, laid out like Keras's.

Contract: `format_summary(model)` returns the table as a string and changes nothing.
One row per layer in the model's layer order: name (type), output shape (of the
layer's first call; "?" before the model has an input), parameter count and, for
functional models, the layers it takes its inputs from. Totals split trainable and
non-trainable parameters (BatchNormalization's moving statistics) as Keras does.
"""

from __future__ import annotations


def format_summary(model) -> str:
    graph = model._graph_or_none()
    output_shapes: dict[int, tuple] = {}
    sources: dict[int, str] = {}
    if graph is not None:
        for tensor in graph.inputs:
            output_shapes[id(tensor.producer.layer)] = tensor.shape
        for call in graph.calls:
            output_shapes.setdefault(id(call.layer), call.output.shape)
            sources.setdefault(id(call.layer), ", ".join(graph.call_name(t.producer) for t in call.inputs))

    header = ["Layer (type)", "Output Shape", "Param #"]
    show_sources = model._summary_shows_sources
    if show_sources:
        header.append("Connected to")
    rows = []
    for layer in model.layers:
        name = layer.name or "?"
        params = layer.count_params() if layer.built else 0
        row = [
            f"{name} ({type(layer).__name__})",
            str(output_shapes.get(id(layer), "?")),
            f"{params:,}",
        ]
        if show_sources:
            row.append(sources.get(id(layer), ""))
        rows.append(row)

    widths = [max(len(r[i]) for r in [header, *rows]) + 3 for i in range(len(header))]
    total_width = sum(widths) + 1

    def line(cells):
        return " " + "".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    built = [layer for layer in model.layers if layer.built]
    trainable = sum(layer._count_params(trainable=True) for layer in built)
    frozen = sum(layer._count_params(trainable=False) for layer in built)
    out = [f'Model: "{model.name}"', "_" * total_width, line(header), "=" * total_width]
    for i, row in enumerate(rows):
        out.append(line(row))
        out.append("_" * total_width if i < len(rows) - 1 else "=" * total_width)
    if not rows:
        out.append("=" * total_width)
    out += [
        f"Total params: {trainable + frozen:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {frozen:,}",
        "_" * total_width,
    ]
    return "\n".join(out)
