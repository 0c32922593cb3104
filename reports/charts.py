"""Inline SVG charts for the competitor report, shared by the HTML file and the console.

Why hand-written SVG rather than a charting library: the HTML report must be one file that
opens offline and prints to PDF, and the console's Content-Security-Policy allows no inline
script or style. So every chart is a static `<svg>` built here, styled only with
presentation attributes (`fill`, `stroke`, ...), never a `style` attribute, which the
console's CSP would block. Every piece of text is escaped (brand names come from
rules.yaml, but they are still outside input).

Each function takes plain report data (the JSON of `build_competitor_report`) and returns
`Markup`, safe to drop into a Jinja template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from markupsafe import Markup, escape

# One colour per sentiment, and a palette for brands (own brand first, in blue).
POSITIVE, NEUTRAL, NEGATIVE = "#2f9e6b", "#b8c0cc", "#d64545"
SPIKE_FILL, SPIKE_INK = "#f59f00", "#a15c00"
BRAND_COLOURS = ("#2454d6", "#e8590c", "#7048e8", "#0c8599", "#c2255c", "#5c940d")
INK, MUTED, GRID = "#1c2330", "#667085", "#e3e6ec"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (or datetime) as an aware UTC datetime; None if unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def bucket_time(point: Mapping[str, Any]) -> datetime | None:
    """The start of one series interval, whatever the engine called it."""
    for key in ("start", "t", "time", "bucket", "at", "from", "date"):
        if key in point:
            return parse_time(point[key])
    return None


def sentiment_counts(point: Mapping[str, Any]) -> tuple[int, int, int]:
    """(positive, neutral, negative) of a series point or a brand."""
    nested = point.get("sentiment")
    source: Mapping[str, Any] = nested if isinstance(nested, Mapping) else point
    pos = int(source.get("positive", 0) or 0)
    neg = int(source.get("negative", 0) or 0)
    if "neutral" in source:
        neu = int(source.get("neutral", 0) or 0)
    else:
        neu = max(0, int(point.get("mentions", 0) or 0) - pos - neg)
    return pos, neu, neg


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: Any, *, size: int = 11, fill: str = MUTED,
          anchor: str = "start", weight: str | None = None) -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return (f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" fill="{fill}" '
            f'text-anchor="{anchor}" font-family="{FONT}"{bold}>{escape(str(text))}</text>')


def _svg(width: int, height: int, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>' + "".join(body) + "</svg>"
    )


def brand_colour(index: int) -> str:
    return BRAND_COLOURS[index % len(BRAND_COLOURS)]


def share_of_voice_svg(brands: Sequence[Mapping[str, Any]]) -> Markup:
    """Horizontal bars: each brand's share of mentions and, lighter, of engagement."""
    width, label_w, row_h, top = 720, 150, 44, 26
    bar_w = width - label_w - 70
    height = top + row_h * max(1, len(brands)) + 8
    body = [_text(label_w, 14, "share of mentions", size=11, fill=INK),
            (f'<rect x="{label_w + 118}" y="6" width="10" height="10" fill="{BRAND_COLOURS[0]}" '
             f'fill-opacity="0.35"/>'), _text(label_w + 132, 14, "share of engagement", size=11)]
    for i, b in enumerate(brands):
        y = top + i * row_h
        colour = brand_colour(i)
        sov = float(b.get("share_of_voice") or 0.0)
        eng = b.get("share_of_voice_engagement", b.get("engagement_share"))
        name = str(b.get("name", "?"))
        body.append(_text(label_w - 10, y + 13, name, size=12, fill=INK, anchor="end",
                          weight="600"))
        if b.get("competitor"):
            body.append(_text(label_w - 10, y + 27, "competitor", size=10, anchor="end"))
        body.append(f'<rect x="{label_w}" y="{y + 2}" width="{bar_w}" height="14" '
                    f'fill="{GRID}" rx="2"/>')
        body.append(f'<rect x="{label_w}" y="{y + 2}" width="{_num(bar_w * sov)}" height="14" '
                    f'fill="{colour}" rx="2"/>')
        body.append(_text(label_w + bar_w + 8, y + 14, f"{sov * 100:.0f}%", size=12, fill=INK,
                          weight="600"))
        if eng is not None:
            e = float(eng or 0.0)
            body.append(f'<rect x="{label_w}" y="{y + 20}" width="{_num(bar_w * e)}" '
                        f'height="9" fill="{colour}" fill-opacity="0.35" rx="2"/>')
            body.append(_text(label_w + bar_w + 8, y + 29, f"{e * 100:.0f}%", size=10))
    return _svg(width, height, body, "Share of voice by brand")


def _nice_max(value: float) -> int:
    if value <= 5:
        return 5
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000):
        if value <= step:
            return step
    return int(value) + 1


def _axis_label(t: datetime, interval: str) -> str:
    if interval == "hour":
        return t.strftime("%d %b %H:00")
    return t.strftime("%d %b")


def sentiment_series_svg(brand: Mapping[str, Any], spikes: Sequence[Mapping[str, Any]] = (),
                         interval: str = "day") -> Markup:
    """Stacked columns per interval (negative, neutral, positive), spikes shaded in amber."""
    series = [p for p in brand.get("series") or [] if isinstance(p, Mapping)]
    name = str(brand.get("name", "?"))
    width, height, left, right, top, bottom = 720, 210, 40, 12, 22, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    label = f"{name}: mentions by sentiment per {interval}"
    if not series:
        return _svg(width, 60, [_text(left, 30, "no mentions in this period", size=12)], label)
    counts = [sentiment_counts(p) for p in series]
    ymax = _nice_max(max((sum(c) for c in counts), default=0))
    n = len(series)
    slot = plot_w / n
    bar = max(1.0, slot * 0.78)
    body: list[str] = []
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{_num(y)}" y2="{_num(y)}" '
                    f'stroke="{GRID}" stroke-width="1"/>')
        body.append(_text(left - 6, y + 4, int(ymax * frac), size=10, anchor="end"))
    starts = [bucket_time(p) for p in series]
    bands: dict[tuple[int, int], list[str]] = {}  # one band per span, naming every kind
    for spike in spikes:
        s, e = parse_time(spike.get("start")), parse_time(spike.get("end"))
        if s is None:
            continue
        i0 = _index_at(starts, s)
        if i0 is None:
            continue
        # `end` is exclusive: the last interval is the one holding the spike's last hour
        i1 = _index_at(starts, e - timedelta(seconds=1)) if e is not None and e > s else i0
        i1 = i0 if i1 is None else max(i0, i1)
        kinds = bands.setdefault((i0, i1), [])
        kind = str(spike.get("kind", "volume"))
        if kind not in kinds:
            kinds.append(kind)
    for (i0, i1), kinds in sorted(bands.items()):
        x = left + i0 * slot
        w = max(slot, (i1 - i0 + 1) * slot)
        body.append(f'<rect x="{_num(x)}" y="{top}" width="{_num(w)}" height="{plot_h}" '
                    f'fill="{SPIKE_FILL}" fill-opacity="0.16" stroke="{SPIKE_FILL}" '
                    f'stroke-opacity="0.6" stroke-dasharray="3 2"/>')
        label = "▲ " + " + ".join(sorted(kinds, key=lambda k: k != "volume")) + " spike"
        right_half = x + w / 2 > left + plot_w * 0.6
        body.append(_text(x + w if right_half else x, top - 6, label, size=10,
                          fill=SPIKE_INK, weight="600", anchor="end" if right_half else "start"))
    for i, (pos, neu, neg) in enumerate(counts):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        for value, colour in ((neg, NEGATIVE), (neu, NEUTRAL), (pos, POSITIVE)):
            if value <= 0:
                continue
            h = plot_h * value / ymax
            y -= h
            body.append(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(bar)}" '
                        f'height="{_num(h)}" fill="{colour}"/>')
    ticks = min(n, 8)
    for k in range(ticks):
        i = round(k * (n - 1) / max(1, ticks - 1))
        t = starts[i]
        if t is None:
            continue
        anchor = "start" if k == 0 and ticks > 1 else "end" if k == ticks - 1 and ticks > 1 \
            else "middle"
        body.append(_text(left + (i + 0.5) * slot, height - bottom + 16, _axis_label(t, interval),
                          size=10, anchor=anchor))
    legend_x = width - right - 250
    for j, (text, colour) in enumerate((("positive", POSITIVE), ("neutral", NEUTRAL),
                                        ("negative", NEGATIVE))):
        x = legend_x + j * 72
        body.append(f'<rect x="{x}" y="{height - 11}" width="9" height="9" fill="{colour}"/>')
        body.append(_text(x + 13, height - 3, text, size=10))
    return _svg(width, height, body, label)


def _index_at(starts: Sequence[datetime | None], t: datetime) -> int | None:
    """Index of the interval holding `t` (the last one starting at or before it)."""
    found = None
    for i, s in enumerate(starts):
        if s is not None and s <= t:
            found = i
    if found is None and starts and starts[0] is not None and t < starts[0]:
        return 0
    return found


def net_sentiment_bar(value: float | None) -> Markup:
    """A small diverging bar for a net sentiment in -1..1."""
    width, height, mid = 120, 14, 60
    if value is None:
        return Markup('<span class="muted">—</span>')
    v = max(-1.0, min(1.0, float(value)))
    w = abs(v) * (mid - 2)
    x = mid if v >= 0 else mid - w
    colour = POSITIVE if v >= 0 else NEGATIVE
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="netbar" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="net sentiment {v:+.2f}">'
        f'<rect x="0" y="3" width="{width}" height="8" fill="{GRID}" rx="2"/>'
        f'<rect x="{_num(x)}" y="3" width="{_num(w)}" height="8" fill="{colour}" rx="2"/>'
        f'<line x1="{mid}" x2="{mid}" y1="0" y2="{height}" stroke="{MUTED}" stroke-width="1"/>'
        "</svg>"
    )
