"""socialear's built-in complaint lexicon: the phrases plain VADER does not see.

People rarely *say* they are unhappy with a service; they state the failure as a fact
("flight cancelled and 2 hours on hold", "charged twice, no reply to my email"). VADER
scores words of feeling, so these read as neutral. Each entry below is a phrase (see
`matcher` for the `<num>`/`<dur>`/`<day>`/`<ord>`/`*` placeholders) with a VADER-scale
valence (-4..4) and a kind, which is reported in `Sentiment.reasons`.

The entries are domain-general on purpose (telecom, travel, banking, retail, software,
utilities): a brand's own vocabulary belongs in rules.yaml `lexicon`, which extends and
overrides these. Valences follow VADER's scale: -1 mild, -2 clear, -3 strong.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cue:
    """What a matched phrase means: its valence, its kind, and whether it is a complaint."""

    valence: float
    kind: str
    complaint: bool = False  # counts as complaint evidence (sarcasm detection, negativity)


# Kinds that are complaints about the service (a negated one is not).
COMPLAINT_KINDS = frozenset({"failure", "waiting", "money", "leaving", "escalation"})

FAILURE: dict[str, float] = {
    # things that did not happen / do not work
    "cancelled": -1.8, "canceled": -1.8, "got cancelled": -2.2, "been cancelled": -2.2,
    "delayed": -1.8, "delay": -1.5, "delays": -1.8, "been delayed": -2.0,
    "is down": -2.0, "are down": -2.0, "was down": -1.8, "went down": -1.8, "been down": -2.0,
    "down again": -2.5, "still down": -2.5, "down for": -2.0, "outage": -2.2, "outages": -2.2,
    "not working": -2.3, "isn't working": -2.3, "isnt working": -2.3, "stopped working": -2.3,
    "doesn't work": -2.3, "doesnt work": -2.3, "does not work": -2.3, "won't work": -2.0,
    "not work": -2.0, "didn't work": -2.0, "never works": -2.5, "keeps crashing": -2.5,
    "crashing": -2.0, "crashes": -2.0, "crashed": -2.0, "keeps dropping": -2.3,
    "broken": -2.1, "broke": -1.5, "faulty": -2.0, "defective": -2.2, "damaged": -2.0,
    "lost my": -2.0, "lost our": -2.0, "lost the": -1.5, "missing": -1.5,
    "wrong": -1.8, "wrong item": -2.3, "wrong order": -2.3,
    "never arrived": -2.5, "never came": -2.3, "didn't arrive": -2.3, "hasn't arrived": -2.3,
    "has not arrived": -2.3, "not arrived": -2.3, "not delivered": -2.3, "never delivered": -2.5,
    "still not": -1.8, "still no": -1.8, "still can't": -2.0, "still cant": -2.0,
    "no signal": -2.2, "no service": -2.2, "no internet": -2.2, "no wifi": -2.0,
    "no power": -2.2, "no connection": -2.0, "no water": -2.0, "no coverage": -2.0,
    "can't log in": -2.2, "cant log in": -2.2, "can't login": -2.2, "cant login": -2.2,
    "locked out": -2.2, "error": -1.5, "errors": -1.5, "glitch": -1.5, "bug": -1.2,
    "failed": -2.0, "fails": -2.0, "declined": -1.5, "stuck": -1.5,
    "unusable": -2.5, "useless": -2.0, "unreliable": -2.0, "slow": -1.2, "so slow": -2.0,
    "dropped calls": -2.2, "calls drop": -2.2, "overbooked": -2.0, "stranded": -2.5,
    "left stranded": -2.8, "no show": -2.0, "no-show": -2.0, "rude": -2.3,
    "unacceptable": -2.5, "disgrace": -2.8, "disgraceful": -2.8, "shambles": -2.8,
    "joke": -1.5, "a joke": -2.2, "what a joke": -2.8, "nightmare": -2.5,
}

WAITING: dict[str, float] = {
    "on hold": -2.0, "been on hold": -2.5, "still on hold": -2.5,
    "still waiting": -2.3, "been waiting": -2.0, "waiting for": -1.2, "keep waiting": -2.0,
    "no reply": -2.3, "no response": -2.3, "no answer": -2.0, "no one answers": -2.5,
    "nobody answers": -2.5, "no one replied": -2.3, "nobody replied": -2.3,
    "not heard back": -2.3, "haven't heard back": -2.3, "havent heard back": -2.3,
    "never heard back": -2.5, "no update": -2.0, "no updates": -2.0, "any update": -1.2,
    "ignored": -2.0, "ignoring": -2.0, "ignore": -1.5,
    "for <num> hours": -1.8, "for <num> days": -1.8, "for <num> weeks": -2.0,
    "for hours": -1.8, "for days": -1.8, "for weeks": -2.0, "for months": -2.0,
    "for <dur>": -1.8, "<num> hours on hold": -2.5, "<dur> on hold": -2.5,
    "since <day>": -1.8, "since last week": -2.0, "since last month": -2.0,
    "days later": -1.5, "weeks later": -1.8, "yet again": -2.0, "again": -0.8,
    "<ord> time": -1.8, "every time": -1.2, "every single time": -2.0,
    "how many times": -2.2, "how long": -1.0, "still": -0.5,
}

MONEY: dict[str, float] = {
    "charged twice": -2.5, "double charged": -2.5, "charged me twice": -2.5,
    "overcharged": -2.5, "over charged": -2.5, "hidden fees": -2.3, "hidden fee": -2.3,
    "refund": -1.2, "no refund": -2.5, "where is my refund": -2.5, "still no refund": -2.8,
    "want a refund": -2.0, "want my money back": -2.5, "money back": -1.5,
    "rip off": -2.8, "ripoff": -2.8, "rip-off": -2.8, "ripped off": -2.8,
    "scam": -2.8, "scammed": -3.0, "stole my money": -3.0, "took my money": -2.5,
    "billing error": -2.3, "wrong bill": -2.3, "bill is wrong": -2.3, "price hike": -1.8,
    "extra charge": -1.8, "charged for": -1.0, "still charging": -2.3,
}

LEAVING: dict[str, float] = {
    "cancel my contract": -2.5, "cancel my subscription": -2.2, "cancel my account": -2.2,
    "cancelling my": -2.2, "canceling my": -2.2, "switching to": -1.8, "switch to": -1.2,
    "moving to": -0.8, "leaving you": -2.3, "done with": -1.8, "never again": -2.8,
    "never using": -2.5, "never use": -2.0, "never flying": -2.8, "never ordering": -2.5,
    "never buying": -2.5, "won't be using": -2.3, "will not be using": -2.3,
    "take my business elsewhere": -2.8, "looking for another": -1.8,
    "find another provider": -2.3, "worst": -3.1, "avoid": -2.0,
}

ESCALATION: dict[str, float] = {
    "complaint": -1.8, "formal complaint": -2.5, "complain": -1.8, "complaining": -1.8,
    "ombudsman": -2.5, "regulator": -2.0, "ofcom": -2.0, "ofgem": -2.0, "fca": -1.8,
    "ftc": -1.8, "trading standards": -2.3, "lawyer": -2.3, "solicitor": -2.3,
    "legal action": -2.8, "sue": -2.5, "small claims": -2.5, "chargeback": -2.3,
    "better business bureau": -2.3, "bbb": -2.0, "report you": -2.3,
}

# Phrases that are negative although they contain positive words (the positive word is
# swallowed by the phrase, so VADER's +valence for it no longer counts).
SARCASM: dict[str, float] = {
    "thanks for nothing": -2.8, "thanks a lot": -0.5, "great another": -2.3,
    "oh great": -1.8, "just great": -1.8, "just perfect": -1.5, "just what i needed": -2.0,
    "gotta love": -1.2, "got to love": -1.2, "love how": -1.0, "love that": -0.5,
    "love it when": -1.0, "so glad": -0.3, "nice one": -0.5, "well done": 0.0,
    "yeah right": -2.0, "as usual": -1.5, "cheers for nothing": -2.8,
}

# Good news about the service: also stated as facts ("fixed", "arrived on time").
RESOLUTION: dict[str, float] = {
    "fixed": 1.5, "sorted": 1.5, "resolved": 1.5, "sorted it": 2.0, "sorted out": 1.8,
    "working again": 2.0, "back up": 1.2, "back online": 1.5, "on time": 1.2,
    "got my refund": 1.8, "refund came through": 1.8, "refunded": 1.0,
    "no issues": 1.8, "no problems": 1.8, "no complaints": 2.0, "quick response": 2.0,
    "fast response": 2.0, "quick reply": 2.0, "went above and beyond": 3.0,
    "above and beyond": 2.8, "highly recommend": 3.0, "recommend": 1.5,
    "thank you": 2.0, "thanks": 1.9, "cheers": 1.2,
}

# Emoji (matched as single tokens; `scoring.sentiment` pads them with spaces).
EMOJI: dict[str, float] = {
    "😡": -3.0, "🤬": -3.2, "😠": -2.5, "😤": -2.2, "🙄": -1.8, "😒": -1.8, "👎": -2.2,
    "🤡": -1.5, "😭": -2.2, "😢": -2.0, "😩": -2.0, "😫": -2.0, "🤦": -2.0, "😞": -2.0,
    "😔": -1.5, "😕": -1.2, "🙁": -1.5, "☹": -1.8, "💩": -2.5, "🖕": -3.0, "❌": -1.0,
    "😍": 3.0, "🥰": 3.0, "❤": 2.5, "💙": 2.2, "💚": 2.2, "💜": 2.2, "🧡": 2.2, "💛": 2.2,
    "😊": 2.2, "🙂": 1.2, "😀": 2.0, "😃": 2.0, "😄": 2.2, "😁": 2.2, "👍": 1.5, "👏": 1.5,
    "🙌": 2.0, "💯": 1.8, "🎉": 2.0, "🥳": 2.2, "⭐": 1.5, "🌟": 1.8, "✨": 1.0, "🙏": 0.8,
}

EMOTICONS: dict[str, float] = {
    ">:(": -2.5, ":-/": -1.2, ":/": -1.2, "-_-": -1.5, "smh": -1.5, "ffs": -2.3,
    "fml": -2.3, "wtf": -2.5, "ugh": -1.8, "grr": -1.8, "meh": -1.0,
}

# Not sentiment: evidence for urgency signals (valence 0, never swallow VADER words).
HELP: tuple[str, ...] = (
    "help", "please", "pls", "plz", "anyone know", "does anyone", "can someone",
    "can anyone", "how do i", "how can i", "what do i do", "need help", "assist",
)
URGENT: tuple[str, ...] = ("urgent", "urgently", "asap", "emergency", "immediately", "right now")

# Words that turn the following cue around ("not cancelled", "never delayed").
NEGATORS = frozenset(
    "not no never none nothing nobody without isn't isnt wasn't wasnt aren't arent "
    "weren't werent didn't didnt doesn't doesnt don't dont hasn't hasnt haven't havent "
    "won't wont can't cant couldn't couldnt hardly barely zero".split()
)

# Intensifiers before a cue (VADER's boosters apply only to its own lexicon words).
BOOSTERS: dict[str, float] = {
    "very": 0.3, "so": 0.3, "really": 0.3, "extremely": 0.4, "completely": 0.4,
    "totally": 0.4, "absolutely": 0.4, "utterly": 0.4, "always": 0.3, "constantly": 0.4,
    "literally": 0.2, "again": 0.3, "still": 0.3,
}


def builtin_cues() -> list[tuple[str, Cue]]:
    """Every built-in phrase with its Cue, in one list (rules.yaml entries are added after)."""
    out: list[tuple[str, Cue]] = []
    for kind, table in (
        ("failure", FAILURE), ("waiting", WAITING), ("money", MONEY), ("leaving", LEAVING),
        ("escalation", ESCALATION), ("sarcasm", SARCASM), ("resolution", RESOLUTION),
        ("emoji", EMOJI), ("emoticon", EMOTICONS),
    ):
        complaint = kind in COMPLAINT_KINDS
        out.extend((phrase, Cue(valence, kind, complaint)) for phrase, valence in table.items())
    out.extend((phrase, Cue(0.0, "help")) for phrase in HELP)
    out.extend((phrase, Cue(0.0, "urgent")) for phrase in URGENT)
    return out
