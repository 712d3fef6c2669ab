"""Coordinates for the server-rendered SVG charts; the templates draw them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """One data point: where it is drawn, what its tooltip says and where it links."""

    x: float
    y: float
    label: str
    href: str | None = None
    css: str = ""


@dataclass(frozen=True)
class Chart:
    """A line chart in a WIDTH x HEIGHT viewBox."""

    width: int
    height: int
    points: list[Point]
    scale: str  # what the bottom and top edges stand for, as text

    @property
    def polyline(self) -> str:
        """The ``points`` attribute of the line."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def line_chart(
    values: Sequence[tuple[float | None, str, str | None, str]],
    *,
    width: int = 160,
    height: int = 32,
    top: float | None = None,
    bottom: float = 0.0,
    scale: str = "",
) -> Chart:
    """Scale (value, label, href, css) in time order into a chart; None values are left out."""
    pad = 3
    known = [v for v, *_ in values if v is not None]
    ceiling = top if top is not None else max(known, default=0.0) or 1.0
    span = (ceiling - bottom) or 1.0
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    points = [
        Point(
            x=pad + i * step,
            y=pad + (height - 2 * pad) * (1 - (min(max(value, bottom), ceiling) - bottom) / span),
            label=label,
            href=href,
            css=css,
        )
        for i, (value, label, href, css) in enumerate(values)
        if value is not None
    ]
    return Chart(width, height, points, scale)
