"""Jinja filters for numbers, sizes and durations (times are a macro in _macros.html)."""

from __future__ import annotations

from flask import Flask


def duration(seconds: float | None) -> str:
    """Seconds as ``850 ms``, ``12.3 s``, ``4 min 05 s`` or ``2 h 03 min``."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def filesize(size: int | None) -> str:
    """Bytes in binary units."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def percent(value: float | None) -> str:
    """A ratio as a whole percentage (one decimal under 100 so 99.96 % does not read 100 %)."""
    if value is None:
        return "–"
    pct = value * 100
    return f"{pct:.0f} %" if pct in (0, 100) else f"{pct:.1f} %"


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.add_template_filter(duration)
    app.add_template_filter(filesize)
    app.add_template_filter(percent)
