"""The HTML report (reports/html.py): one self-contained file, charts as inline
SVG, spikes marked, every mention escaped. Input is a hand-made report in the documented
JSON shape (reports/__init__.py), so these tests do not depend on the engine."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from reports import charts
from reports.html import render_body, render_html, spike_groups

HOSTILE = '<img src=x onerror=alert(1)><script>alert("x")</script>'
EVIL_URL = "javascript:alert(1)"


def _day(d: int) -> str:
    return f"2026-11-{d:02d}T00:00:00Z"


def _brand(name: str, competitor: bool, base: int, spike_day: int | None = None) -> dict[str, Any]:
    series = []
    for d in range(1, 15):
        n = base * (4 if d == spike_day else 1)
        series.append({"start": _day(d), "mentions": n, "engagement": n * 3,
                       "positive": n // 4, "neutral": n // 4, "negative": n - 2 * (n // 4),
                       "net_sentiment": -0.3})
    mentions = sum(p["mentions"] for p in series)
    return {"name": name, "competitor": competitor, "mentions": mentions, "engagement": 3 * mentions,
            "share_of_voice": 0.0, "engagement_share": 0.0, "net_sentiment": -0.35,
            "sentiment": {"positive": mentions // 4, "neutral": mentions // 4,
                          "negative": mentions - 2 * (mentions // 4)},
            "platforms": [{"platform": "x", "mentions": mentions, "share_of_voice": 0.5}],
            "drivers": [{"category": "outage", "count": 30, "share": 0.4, "previous": 10,
                         "previous_share": 0.1, "change": 0.3}],
            "terms": [{"term": "no signal", "count": 12, "z": 4.2}],
            "series": series,
            "top_posts": [{"text": f"top post {HOSTILE}", "url": EVIL_URL, "author": "eve",
                           "platform": "x", "engagement": 99, "reach": 1000}],
            "top_posts_by_reach": [], "top_authors": [{"author": "eve", "followers": 1000}]}


def fixture() -> dict[str, Any]:
    own, rival = _brand("Nimbus", False, 10), _brand("Arcwave", True, 5, spike_day=9)
    total = own["mentions"] + rival["mentions"]
    for b in (own, rival):
        b["share_of_voice"] = round(b["mentions"] / total, 4)
        b["engagement_share"] = b["share_of_voice"]
    example = {"text": f"Arcwave down {HOSTILE}", "url": "https://x.com/a/status/1",
               "author": "bob", "platform": "x", "created_at": "2026-11-09T08:00:00Z"}
    spikes = [{"brand": "Arcwave", "competitor": True, "kind": kind, "start": "2026-11-09T07:00:00Z",
               "end": "2026-11-09T13:00:00Z", "peak": "2026-11-09T09:00:00Z", "mentions": n,
               "baseline": base, "ratio": n / base, "p_value": 1e-9,
               "drivers": [{"category": "outage", "count": 14, "share": 0.8}],
               "terms": [{"term": "no service", "count": 9, "z": 5.0}],
               "examples": [example, {**example, "url": EVIL_URL}, example]}
              for kind, n, base in (("volume", 20, 2.5), ("negative", 15, 1.2))]
    return {"period": {"from": _day(1), "to": "2026-11-15T00:00:00Z", "interval": "day"},
            "generated_at": "2026-11-15T01:00:00Z", "brands": [own, rival], "spikes": spikes,
            "care": {"escalations": 12, "first_response_median_s": 840,
                     "within_sla_share": 0.83,
                     "by_queue": [{"queue": "care", "escalations": 12, "within_sla_share": 0.83}]}}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


def test_the_file_is_self_contained_no_script_nothing_fetched() -> None:
    html = render_html(fixture())
    tags = parse(html).tags
    names = [t for t, _ in tags]
    assert "script" not in names and "iframe" not in names and "object" not in names
    assert not [a for t, a in tags if t == "link"]  # no stylesheet or font to fetch
    for t, a in tags:  # nothing loads from anywhere: no src, no remote url() in styles
        assert "src" not in a, (t, a)
    assert "@import" not in html and "url(" not in html
    assert html.count("<style>") == 1 and "@media print" in html and "@page" in html
    assert names.count("svg") >= 4  # share of voice + a series per brand + net bars


def test_hostile_mention_text_stays_text_and_bad_links_are_dropped() -> None:
    html = render_html(fixture())
    assert HOSTILE not in html and "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;" in html
    assert "javascript:" not in html
    text = "".join(parse(html).text)
    assert HOSTILE in text  # the reader sees exactly what was posted


def test_share_of_voice_chart_has_a_bar_per_brand_proportional_to_its_share() -> None:
    r = fixture()
    svg = str(charts.share_of_voice_svg(r["brands"]))
    widths = [float(w) for w in re.findall(r'<rect x="150" y="\d+" width="([\d.]+)" height="14" fill="#(?!e3e6ec)', svg)]
    assert len(widths) == 2
    assert abs(widths[0] / widths[1] - r["brands"][0]["share_of_voice"] / r["brands"][1]["share_of_voice"]) < 0.01
    assert f"{r['brands'][0]['share_of_voice'] * 100:.0f}%" in svg


def test_series_chart_marks_the_spike_on_its_day_once_for_both_kinds() -> None:
    r = fixture()
    rival = r["brands"][1]
    svg = str(charts.sentiment_series_svg(rival, r["spikes"], "day"))
    assert svg.count('fill="#f59f00"') == 1  # one band for the volume + negative spike
    assert "volume + negative spike" in svg
    band_x = float(re.search(r'<rect x="([\d.]+)" y="22" width="[\d.]+" height="154" fill="#f59f00"', svg)[1])
    slot = (720 - 40 - 12) / 14
    assert round((band_x - 40) / slot) == 8  # 9 November is the 9th interval
    assert ' style="' not in svg  # the console's CSP blocks inline style attributes
    assert "net sentiment" not in svg  # (that is the brand row's own bar)


def test_spike_cards_group_kinds_and_show_examples_drivers_and_size() -> None:
    r = fixture()
    groups = spike_groups(r["spikes"])
    assert len(groups) == 1 and [s["kind"] for s in groups[0]["kinds"]] == ["volume", "negative"]
    body = str(render_body(r))
    card = body[body.index('<article class="rpt-spike'):body.index("</article>")]
    assert "20</span> mentions" in card and "15</span> negative mentions" in card
    assert "8.0×" in card and "outage · 14" in card and "no service" in card
    assert card.count("<blockquote>") == 3


def test_drivers_terms_top_posts_and_care_are_shown() -> None:
    body = str(render_body(fixture()))
    assert "+30 pts" in body and "no signal" in body and "top post" in body
    assert "Care performance" in body and "14 min" in body and "83%" in body


def test_a_report_without_optional_sections_still_renders() -> None:
    r = fixture()
    for b in r["brands"]:
        for key in ("terms", "top_posts", "top_posts_by_reach", "top_authors", "platforms"):
            b.pop(key)
    r["spikes"], r["care"] = [], None
    html = render_html(r)
    assert "No spikes in this period" in html and "Care performance" not in html
