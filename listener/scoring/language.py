"""Which language a mention is in, and whether socialear can honestly score it.

VADER (and socialear's complaint lexicon) is English-only, so a non-English post is
marked `language_supported=False` and labelled neutral rather than mis-scored.

Cost matters: lingua costs more than a VADER call even in low-accuracy mode, so it is
the last resort:
1. the platform's own tag (`Mention.lang`, e.g. X's `lang`) is trusted when it names a
   language (`und`, `qme`, `zxx`... mean "don't know" and are ignored);
2. text with only ASCII letters and none of the other candidates' common words is English
   (see `looks_english` for how that was measured);
3. otherwise lingua decides among a restricted set of languages. The detector is built
   once per process and shared, because building it loads models.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

SUPPORTED = frozenset({"en"})

CANDIDATES: tuple[Language, ...] = (
    Language.ENGLISH,
    Language.SPANISH,
    Language.FRENCH,
    Language.GERMAN,
    Language.PORTUGUESE,
    Language.ITALIAN,
    Language.DUTCH,
    Language.POLISH,
    Language.WELSH,
)

# Platform tags that say nothing about the language.
_UNKNOWN_TAGS = frozenset({"und", "qme", "qht", "qam", "qct", "qst", "zxx", "art", "", "xx"})

# Function words (and a few review words) of each other candidate. A hit on any of them
# sends the text past the English fast path to the vote (`vote`), then lingua if the
# vote is unsure. None of them is an ordinary English word ("no", "me", "a", "is", "die",
# "van" are left out); words the candidates share ("de", "la", "que") count for each.
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    code: frozenset(words.split())
    for code, words in {
        "es": "el la los las de del en y con sin una por para que pero muy mi es está esta desde hace "
        "también nada gracias lo le se al un estrellas hay cuando porque nadie todavía ni su sus este "
        "ese como qué cuál dónde cuándo cuánto cuánta cuántos cuántas tiene tienen puedo según",
        "pt": "não com uma seu sua meu minha muito já ainda sem porque você obrigado obrigada da em de "
        "que para por mais foi está também ao",
        "it": "il della che non sono è ho mio mia anche ancora questo di grazie la un una con del "
        "molto ma questa perché nel nella alla gli hanno siamo",
        "fr": "le les des une je mon ma mes pas ne avec pour dans depuis sur très toujours du au aux "
        "et est sont merci mais ou qui elle c'est j'ai aucun rien vous nous la de en un il à ce "
        "cet cette ses bonjour comment été m'a d'un d'une n'est qu'il est-ce",
        "de": "der das und ist nicht ich mein meine mit seit schon noch kein keine bei auch sehr für "
        "aber nur wieder immer heute nichts bitte danke ein eine einer dem zu vom zum auf aus "
        "sie wir sterne es die den hat von gibt kann einen ohne nach unser unsere mir mich uns "
        "sind wird wurde sofort gerne etwas",
        "nl": "het een niet ik mijn voor nog geen zijn wel ook bedankt de en dat met naar maar heb "
        "heeft wordt je hebben graag bij",
        "pl": "nie jest się na że mam mój moja już od bardzo dziękuję",
        "cy": "yn mae y ac ond ddim fy gyda wedi diolch",
    }.items()
}
_FOREIGN = frozenset().union(*_FUNCTION_WORDS.values())
# English words that none of the candidates uses as a word: what outvotes a stray
# "de" or "y" ("tellura y is my bill £80??" is English)
_ENGLISH = frozenset(
    "the and my to it for with this that you your i i'm i've but not have has been are they what "
    "when why just can't don't didn't won't isn't still from our their would should could there "
    "here because about after again any did does get got how if into its it's more only out she "
    "some than then these those through too until up very were where which while who never every "
    "been being can cannot ever".split()
)
VOTE_MARGIN = 2  # distinct function words a language must lead every other by

assert not any(not w or w.startswith(("@", "http")) for w in _FOREIGN)  # see `detect`

_NOT_LANGUAGE_RE = re.compile(r"(?:[@#]\w+|https?://\S+)")
_ASCII_LETTER = re.compile("[A-Za-z]").search
_NON_ASCII = re.compile("[^\x00-\x7f]").findall  # the characters above U+007F, in order

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
    """Cheap English test: only ASCII letters and none of the other candidates' common words.

    Measured on the labelled dev set (380 posts, 22 not English): one German review with
    no listed function word slips through; lingua in low-accuracy mode alone also makes
    one mistake, at ~3x the cost of a VADER call. So lingua only sees the rest.
    """
    if not text.isascii() and any(c.isalpha() for c in _NON_ASCII(text)):
        return False
    return _FOREIGN.isdisjoint(tokens)


def vote(tokens: Sequence[str]) -> str | None:
    """The language whose function words the text uses most, if it leads every other
    candidate and English by VOTE_MARGIN distinct words; None (ask lingua) otherwise.

    Lingua costs ~130 µs a text, four VADER calls; a text that mixes in one foreign-looking
    word, or that is plainly in one language, needs no statistics. Measured on the dev
    posts (2,550, 118 not English): see `tests/listener/scoring/test_language.py`."""
    present = set(tokens)
    english = len(present & _ENGLISH)
    best = second = 0
    best_code = ""
    for code, words in _FUNCTION_WORDS.items():
        hits = len(present & words)
        if hits > best:
            best, second, best_code = hits, best, code
        elif hits > second:
            second = hits
    if english >= VOTE_MARGIN and english >= best + VOTE_MARGIN:
        return "en"
    if best >= english + VOTE_MARGIN and best >= second + VOTE_MARGIN:
        return best_code
    return None


class LanguageGate:
    """Decides a mention's language once per mention, as cheaply as is accurate."""

    def __init__(self, languages: Sequence[Language] = CANDIDATES) -> None:
        self._detector = detector(languages)

    def detect(self, text: str, tokens: Sequence[str], platform_tag: str | None = None) -> str | None:
        """ISO 639-1 code, or None when the text has no language (only links, emoji)."""
        if platform_tag:
            tagged = normalise_tag(platform_tag)
            if tagged is not None:
                return tagged
        if "@" in text or "http" in text or "#" in text:
            # handles, links and hashtags are names, not language. (Their tokens need no
            # filtering: no `_FOREIGN` word is empty or starts with "@" or "http".)
            text = _NOT_LANGUAGE_RE.sub(" ", text)
        if text.isascii():  # `looks_english`, inlined for the common case
            if _ASCII_LETTER(text) is None:  # str.isalpha, for ASCII
                return None
            if _FOREIGN.isdisjoint(tokens):
                return "en"
        else:
            # `any(c.isalpha() for c in text)`: the ASCII letters by regex, then only the
            # other characters one by one (an emoji tail made every text a Python loop)
            if _ASCII_LETTER(text) is None and not any(c.isalpha() for c in _NON_ASCII(text)):
                return None
            if looks_english(text, tokens):
                return "en"
        voted = vote(tokens)
        if voted is not None:
            return voted
        found = self._detector.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found is not None else None

    @staticmethod
    def supported(language: str | None) -> bool:
        """None (no detectable language: links, emoji, a handle) is scored as English."""
        return language is None or language in SUPPORTED
