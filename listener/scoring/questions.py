"""Is a post a question, and what kind: an information request or a complaint?

The distinction matters to care (README of the labelled set): "how do I cancel an order
I placed by mistake?" needs an answer, not an apology, while "why has my bill gone up
again?" is a complaint phrased as a question. Openers decide, since they are cheap and
reliable: "how do I / can I / does / is there / what's / anyone know" ask for
information; "why / how come / how many more / when will / where is my" complain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# First words of an interrogative sentence (after any @handles).
_OPENERS = frozenset(
    "how what when where why which who whom whose is are am was were do does did can could "
    "will would should shall may might has have had anyone anybody any isn't aren't "
    "doesn't don't can't won't what's whats where's hows how's whos who's".split()
)
# Openers that make a question even without "?" ("how do i turn off voicemail"); "was",
# "had" and friends open statements too often ("was worried about the delay but...").
_BARE_OPENERS = frozenset(
    "how what when where why which who does do did can could is are will should anyone any what's whats where's".split()
)
# Greetings and fillers before the real opener ("Hi team, quick question: does...").
_FILLER = frozenset(
    "hi hello hey hiya morning good afternoon evening dear team all quick question q so ok "
    "okay um please pls sorry just there folks guys one".split()
)
# Two-word openers that complain rather than ask.
_COMPLAINING = (
    ("why",),
    ("how", "come"),
    ("how", "many"),
    ("how", "much", "longer"),
    ("when", "will"),
    ("when", "are"),
    ("when", "is"),
    ("where", "is", "my"),
    ("where's", "my"),
    ("wheres", "my"),
    ("is", "anyone", "else"),
    ("anyone", "else"),
    ("is", "it", "just"),
    ("what", "is", "going"),
    ("what's", "going"),
    ("how", "is", "it"),
    ("how", "hard"),
    ("how", "difficult"),
    ("seriously",),
    ("really",),
    ("am", "i", "the", "only"),
    ("could", "you"),
    ("can", "you"),
    ("would", "you"),
    ("would", "it", "be"),
    ("could", "someone"),
    ("can", "someone"),
    ("is", "there", "any", "way"),
    ("how", "long", "do", "i"),
    ("how", "long", "does", "it", "take", "to", "get"),
    ("how", "long", "will", "it", "take"),
    ("do", "you", "even"),
    ("does", "anyone", "at"),
    ("is", "anyone"),
    ("would", "someone"),
    ("would", "anyone"),
    ("could", "anyone"),
    ("will", "someone"),
    ("will", "anyone"),
)
_SENTENCE_RE = re.compile(r"[^.!?\n]+[.!?]*")
_STRIP = "\"'“”‘’()[]*:;,-"


def _sentence_tokens(sentence: str) -> list[str]:
    out = []
    for word in sentence.split():
        if word.startswith(("@", "#", "http")):
            continue
        token = word.lower().strip(_STRIP + ".!?")
        if token:
            out.append(token.replace("’", "'"))
    return out


def question_kind(text: str, tokens: Sequence[str]) -> str | None:
    """ "info", "complaint" or None (not a question)."""
    if "?" not in text and (not tokens or tokens[0] not in _BARE_OPENERS):
        return None
    first: list[str] | None = None
    for sentence in _SENTENCE_RE.findall(text):
        words = _sentence_tokens(sentence)
        if not words:
            continue
        if sentence.rstrip().endswith("?") or words[0] in _BARE_OPENERS:
            first = words
            break
    if first is None:
        return None
    start = 0
    while start < len(first) - 1 and first[start] in _FILLER:
        start += 1
    lead = first[start:]
    if lead[0] == "if":
        return "info"  # hypothetical: "if my bag arrives damaged, what's the process?"
    if lead[0] not in _OPENERS:
        # "Located where?", "Day 5?", or a request at the end of a statement ("I was
        # charged twice, could you check?"): not an information request
        return "complaint"
    for opener in _COMPLAINING:
        if tuple(lead[: len(opener)]) == opener:
            return "complaint"
    return "info"
