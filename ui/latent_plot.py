"""The shared latent-map figure: a WebGL scatter coloured by class, plus overlay helpers.

One Scattergl trace per class (so the legend toggles classes) with each point's dataset row in
``customdata``; overlays (paths, ellipses, markers, rectangles) are ``Scattergl`` traces too,
added after the points: plotly draws every SVG trace below the WebGL layer, so an SVG marker
inside a dense cluster would be hidden by the points it marks. Overlays carry no customdata,
so ``selected_rows`` ignores them when the user box-selects across them.
Used by the Latent map and the Interpolation pages:

    fig = latent_scatter(coords, labels, class_names)
    add_path(fig, path_xy, name="interpolation")  # or any fig.add_trace(...)
    st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key=...)

Streamlit re-keys a chart (dropping its selection) whenever the figure changes, so a page that
draws the selection onto the figure should keep ``selected_rows(event)`` in session state from
an ``on_select`` callback, as the Latent map page does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

# Tableau-10: ten distinguishable classes, readable on light and dark themes.
CLASS_COLORS = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
OVERLAY_COLOR = "#111111"


def class_color(label: int) -> str:
    return CLASS_COLORS[int(label) % len(CLASS_COLORS)]


def latent_scatter(
    coords: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    ids: np.ndarray | None = None,
    axis_titles: tuple[str, str] = ("z₀", "z₁"),
    title: str | None = None,
    equal_aspect: bool = True,
    height: int = 620,
    marker_size: float = 4.0,
    opacity: float = 0.65,
) -> go.Figure:
    """Scatter of map coordinates (N, 2) coloured by class; row ids ride in ``customdata``."""
    coords = np.asarray(coords, np.float32)
    labels = np.asarray(labels)
    ids = np.arange(len(coords)) if ids is None else np.asarray(ids)
    fig = go.Figure()
    for k, name in enumerate(class_names):
        mask = labels == k
        if not mask.any():
            continue
        fig.add_trace(
            go.Scattergl(
                x=coords[mask, 0],
                y=coords[mask, 1],
                mode="markers",
                name=f"{k}: {name}" if name != str(k) else name,
                customdata=ids[mask][:, None],
                marker={"size": marker_size, "color": class_color(k), "opacity": opacity},
                hovertemplate=f"#%{{customdata[0]}} · {name}<br>(%{{x:.2f}}, %{{y:.2f}})"
                "<extra></extra>",
            )
        )
    fig.update_layout(
        height=height,
        title=title,
        margin={"l": 10, "r": 10, "t": 40 if title else 30, "b": 10},
        legend={
            "itemsizing": "constant",
            "orientation": "h",
            "yanchor": "top",
            "y": -0.12,
            "x": 0.0,
        },
        xaxis_title=axis_titles[0],
        yaxis_title=axis_titles[1],
        hovermode="closest",
    )
    if equal_aspect:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def shared_scatter(
    key: str,
    coords: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    axis_titles: tuple[str, str] = ("z₀", "z₁"),
    equal_aspect: bool = True,
) -> go.Figure:
    """``latent_scatter`` built once per ``key`` (the map's identity) and shared by all sessions.

    Validating 10,000 points into plotly objects cost more than the rest of a Latent map rerun;
    see ``ui.figure_cache``: the returned figure is a fresh copy, so overlays stay per session.
    """
    from ui.figure_cache import shared_figure

    names = tuple(class_names)
    return shared_figure(
        ("latent_scatter", key, names, axis_titles, equal_aspect),
        lambda: latent_scatter(
            coords, labels, names, axis_titles=axis_titles, equal_aspect=equal_aspect
        ),
    )


def _overlay(fig: go.Figure, xy: np.ndarray, name: str, **kwargs: Any) -> go.Figure:
    """Add a WebGL trace: WebGL traces are drawn in order above all SVG ones, so it is on top."""
    xy = np.atleast_2d(np.asarray(xy, np.float64))
    fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], name=name, hoverinfo="name", **kwargs))
    return fig


def add_path(
    fig: go.Figure,
    points: np.ndarray,
    name: str = "path",
    color: str = OVERLAY_COLOR,
    markers: bool = True,
) -> go.Figure:
    """A polyline through map points (K, 2), e.g. an interpolation path."""
    return _overlay(
        fig,
        points,
        name,
        mode="lines+markers" if markers else "lines",
        line={"color": color, "width": 2},
        marker={"size": 7, "color": color},
    )


def add_ellipse(
    fig: go.Figure, points: np.ndarray, name: str = "2σ ellipse", color: str = OVERLAY_COLOR
) -> go.Figure:
    """A closed outline (from ``vae_core.latent.ellipse.ellipse_points``)."""
    return _overlay(fig, points, name, mode="lines", line={"color": color, "width": 2.5})


def add_marker(
    fig: go.Figure,
    xy: np.ndarray,
    name: str,
    color: str = OVERLAY_COLOR,
    symbol: str = "x",
    size: int = 14,
) -> go.Figure:
    """Highlight one or more map positions (M, 2)."""
    return _overlay(
        fig,
        xy,
        name,
        mode="markers",
        marker={"size": size, "color": color, "symbol": symbol, "line": {"width": 2}},
    )


def add_rectangle(
    fig: go.Figure, bounds: tuple[float, float, float, float], name: str = "decoded grid"
) -> go.Figure:
    """A dashed box (x0, x1, y0, y1), e.g. the extent of the decoded manifold grid."""
    x0, x1, y0, y1 = bounds
    xy = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
    return _overlay(
        fig, xy, name, mode="lines", line={"color": "#333333", "width": 1.5, "dash": "dash"}
    )


def selected_rows(event: Mapping[str, Any] | None) -> list[int]:
    """Dataset rows picked in a ``st.plotly_chart(on_select=...)`` event, in selection order.

    Points from overlay traces carry no customdata and are skipped.
    """
    if not event:
        return []
    selection = event.get("selection") or {}
    rows: list[int] = []
    seen: set[int] = set()
    for point in selection.get("points") or []:
        custom = point.get("customdata", point.get("custom_data"))
        if isinstance(custom, Mapping):  # a typed array arrives as {"0": value}
            custom = custom.get("0", custom.get(0))
        elif isinstance(custom, list | tuple):
            custom = custom[0] if custom else None
        if custom is None:
            continue
        try:
            row = int(custom)
        except (TypeError, ValueError):
            continue
        if row not in seen:
            seen.add(row)
            rows.append(row)
    return rows


def add_regions(fig: go.Figure, regions: Any, n_classes: int) -> go.Figure:
    """The classifier's regions (``vae_core.evaluation.regions.DecisionRegions``) under the
    points: each cell in its class's colour, more opaque where the classifier is surer, so the
    pale seams are its borders. A layout image, not a trace: it leaves the axes, the legend and
    the selection alone."""
    from PIL import Image

    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in CLASS_COLORS], np.uint8)
    chance = 1.0 / n_classes
    sure = np.clip((regions.confidence - chance) / (1 - chance), 0, 1)
    rgba = np.zeros((*regions.label.shape, 4), np.uint8)
    rgba[..., :3] = rgb[regions.label % len(CLASS_COLORS)]
    rgba[..., 3] = (40 + 110 * sure).astype(np.uint8)
    x0, x1, y0, y1 = regions.xs[0], regions.xs[-1], regions.ys[0], regions.ys[-1]
    dx, dy = (x1 - x0) / (len(regions.xs) - 1), (y1 - y0) / (len(regions.ys) - 1)
    fig.add_layout_image(
        source=Image.fromarray(rgba[::-1], "RGBA"),  # image rows run top (largest y) down
        xref="x",
        yref="y",
        x=x0 - dx / 2,
        y=y1 + dy / 2,
        sizex=x1 - x0 + dx,
        sizey=y1 - y0 + dy,
        sizing="stretch",
        layer="below",
    )
    return fig
