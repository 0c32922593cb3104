"""Which language a mention is in, and whether socialear can honestly score it.

VADER (and socialear's complaint lexicon) is English-only, so a non-English post is
marked `language_supported=False` and labelled neutral rather than mis-scored.

Cost matters: lingua costs more than a VADER call even in low-accuracy mode, so it is
the last resort:
1. the platform's own tag (`Mention.lang`, e.g. X's `lang`) is trusted when it names a
   language (`und`, `qme`, `zxx`... mean "don't know" and are ignored);
2. text with clear English function words and none of the other candidates' is English
   (measured against lingua's high-accuracy mode on the labelled set, see bench/);
3. otherwise lingua decides among a restricted set of languages. The detector is built
   once per process and shared, because building it loads models.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

SUPPORTED = frozenset({"en"})

CANDIDATES: tuple[Language, ...] = (
    Language.ENGLISH, Language.SPANISH, Language.FRENCH, Language.GERMAN,
    Language.PORTUGUESE, Language.ITALIAN, Language.DUTCH, Language.POLISH, Language.WELSH,
)

# Platform tags that say nothing about the language.
_UNKNOWN_TAGS = frozenset({"und", "qme", "qht", "qam", "qct", "qst", "zxx", "art", "", "xx"})

# Frequent English function words; rare or absent in the other candidates' texts.
_ENGLISH = frozenset(
    "the and are were my you your it it's i'm i've i'd this that for with have has been "
    "not can't don't didn't isn't won't doesn't haven't wasn't what why how when would could "
    "should just still again any anyone after before from they our at but if there their "
    "about get got can does did love great new thanks thank please help service customer "
    "works working update account phone today now time day hours never ever really very "
    "all out up by one like know who which where because only too back here then than some "
    "more been being im ive dont cant wont didnt doesnt isnt its".split()
)

# Function words of the other candidates that never (or hardly) occur in English posts.
_FOREIGN = frozenset(
    # es / pt / it
    "el una del por para que pero muy mi es está esta desde hace también "
    "não com uma seu sua meu minha está muito já ainda sem porque você "
    "il della che non sono è ho mio mia anche ancora questo "
    # fr
    "le les des une je mon ma mes pas ne avec pour dans depuis sur très toujours "
    "c'est j'ai aucun rien vous nous "
    # de / nl
    "der das und ist nicht ich mein meine mit seit schon noch kein keine bei auch sehr "
    "het een niet ik mijn voor nog geen zijn wel ook "
    # pl / cy
    "nie jest się na że mam mój moja już od bardzo "
    "yn mae y ac ond ddim fy gyda wedi".split()
)

_lock = threading.Lock()
_detectors: dict[tuple[Language, ...], LanguageDetector] = {}


def detector(languages: Sequence[Language] = CANDIDATES) -> LanguageDetector:
    """The shared lingua detector for these languages (built on first use, then cached)."""
    key = tuple(languages)
    with _lock:
        found = _detectors.get(key)
        if found is None:
            found = (
                LanguageDetectorBuilder.from_languages(*key)
                .with_low_accuracy_mode()
                .with_preloaded_language_models()
                .build()
            )
            _detectors[key] = found
        return found


def normalise_tag(tag: str | None) -> str | None:
    """`en-GB` -> `en`; tags meaning "unknown" -> None."""
    if not tag:
        return None
    code = tag.strip().lower().replace("_", "-").split("-")[0]
    return None if code in _UNKNOWN_TAGS else code


def looks_english(text: str, tokens: Sequence[str]) -> bool:
    """Cheap, conservative English test: ASCII letters, >= 2 English words, no foreign ones.

    Words shared with a candidate language ("no", "me", "is", "was", "in") are in
    neither list. A false "no" only costs a lingua call, so the test errs that way.
    """
    if not text.isascii() and any(c.isalpha() for c in text if ord(c) > 127):
        return False
    english = foreign = 0
    for token in tokens:
        if token in _ENGLISH:
            english += 1
        elif token in _FOREIGN:
            foreign += 1
    return english >= 2 and foreign == 0


class LanguageGate:
    """Decides a mention's language once per mention, as cheaply as is accurate."""

    def __init__(self, languages: Sequence[Language] = CANDIDATES) -> None:
        self._detector = detector(languages)

    def detect(
        self, text: str, tokens: Sequence[str], platform_tag: str | None = None
    ) -> str | None:
        """ISO 639-1 code, or None when the text has no language (only links, emoji)."""
        tagged = normalise_tag(platform_tag)
        if tagged is not None:
            return tagged
        if looks_english(text, tokens):
            return "en"
        if not any(c.isalpha() for c in text):
            return None
        found = self._detector.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found is not None else None

    @staticmethod
    def supported(language: str | None) -> bool:
        """None (no detectable language: links, emoji, a handle) is scored as English."""
        return language is None or language in SUPPORTED
