"""Platform icons, drawn here as small inline SVG: the console loads nothing from a CDN
(strict CSP, air-gapped installs), and an inline glyph needs no extra request per row.

The shapes are simple marks of our own (not the platforms' trademarked logos); the
accessible name is the platform's name, so a screen reader says "X", not "svg".
"""

from __future__ import annotations

from markupsafe import Markup, escape

from responders.replies import PLATFORM_NAMES

# 16x16 viewBox bodies; `currentColor` so they follow the text colour.
_GLYPHS: dict[str, str] = {
    "x": '<path d="M3 2h3l7 12h-3z" fill="currentColor"/>'
         '<path d="M12.5 2 3.5 14" stroke="currentColor" stroke-width="1.6"/>',
    "reddit": '<ellipse cx="8" cy="10" rx="6" ry="4.2" fill="currentColor"/>'
              '<circle cx="12.5" cy="3" r="1.4" fill="currentColor"/>'
              '<path d="M8 6 9 2.2l3.4.8" stroke="currentColor" fill="none" stroke-width="1"/>'
              '<circle cx="5.8" cy="9.6" r="1" fill="#fff"/><circle cx="10.2" cy="9.6" r="1" fill="#fff"/>',
    "trustpilot": '<path d="M8 1.5 9.9 6.2h5l-4 3 1.5 4.8L8 11l-4.4 3 1.5-4.8-4-3h5z" fill="currentColor"/>',
    "appstore": '<rect x="1.5" y="1.5" width="13" height="13" rx="3.5" fill="currentColor"/>'
                '<path d="M8 4 4.8 11.5M8 4l3.2 7.5M5.5 9.5h5" stroke="#fff" stroke-width="1.3" fill="none"/>',
    "googleplay": '<path d="M3 1.8v12.4L13.8 8z" fill="currentColor"/>',
    "rss": '<circle cx="3.5" cy="12.5" r="1.7" fill="currentColor"/>'
           '<path d="M2 7.2a6.8 6.8 0 0 1 6.8 6.8M2 2.5A11.5 11.5 0 0 1 13.5 14" '
           'stroke="currentColor" stroke-width="1.8" fill="none"/>',
}
_UNKNOWN = '<circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="1.6"/>'
_EXTRA_NAMES = {"trustpilot": "Trustpilot", "rss": "a feed", "appstore": "App Store"}


def platform_name(platform: str | None) -> str:
    """The platform's name as people say it ("X", "Google Play")."""
    key = (platform or "").lower()
    return _EXTRA_NAMES.get(key) or PLATFORM_NAMES.get(key) or (platform or "unknown")


def platform_icon(platform: str | None) -> Markup:
    """An inline SVG for `platform`, labelled with its name (escaped: it comes from data)."""
    key = (platform or "").lower()
    name = escape(platform_name(platform))
    body = _GLYPHS.get(key, _UNKNOWN)
    return Markup(
        f'<svg class="picon picon-{escape(key) or "unknown"}" viewBox="0 0 16 16" width="16" '
        f'height="16" role="img" aria-label="{name}"><title>{name}</title>{body}</svg>')
