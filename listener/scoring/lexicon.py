"""socialear's built-in complaint lexicon: the phrases plain VADER does not see.

People rarely *say* they are unhappy with a service; they state the failure as a fact
("flight cancelled and 2 hours on hold", "charged twice, no reply to my email"). VADER
scores words of feeling, so these read as neutral. Each entry below is a phrase (see
`matcher` for the `<num>`/`<dur>`/`<day>`/`<ord>`/`*` placeholders) with a VADER-scale
valence (-4..4) and a kind, which is reported in `Sentiment.reasons` and drives the
care logic in `sentiment` (an open complaint outweighs polite words; a fixed problem
outweighs the complaint it fixed).

The entries are domain-general on purpose (telecom, travel, banking, retail, utilities,
software): a brand's own vocabulary belongs in rules.yaml `lexicon`, which extends and
overrides these. Valences follow VADER's scale: -1 mild, -2 clear, -3 strong.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cue:
    """What a matched phrase means: its valence, its kind, and whether it is a complaint."""

    valence: float
    kind: str
    complaint: bool = False  # evidence of an open problem (care logic, urgency negativity)


# Kinds that report a problem with the service (a negated one does not).
COMPLAINT_KINDS = frozenset(
    {"failure", "waiting", "money", "leaving", "escalation", "safety", "sarcasm"}
)

FAILURE: dict[str, float] = {
    # things that did not happen or do not work
    "cancelled": -1.8, "canceled": -1.8, "got cancelled": -2.2, "been cancelled": -2.2,
    "cancelled my": -1.0, "delayed": -1.8, "delay": -1.5, "delays": -1.5,
    "been delayed": -2.0, "late": -1.2, "days late": -2.2, "<num> days late": -2.2,
    "hours late": -2.2, "<num> hours late": -2.2, "late again": -2.5, "running late": -1.2,
    "is down": -2.0, "are down": -2.0, "was down": -1.8, "went down": -1.8, "been down": -2.0,
    "down again": -2.5, "still down": -2.5, "down for": -2.0, "outage": -2.2, "outages": -2.2,
    "power cut": -2.0, "power cuts": -1.5, "power outage": -2.2, "blackout": -2.0,
    "not working": -2.3, "isn't working": -2.3, "isnt working": -2.3, "stopped working": -2.3,
    "doesn't work": -2.3, "doesnt work": -2.3, "does not work": -2.3, "won't work": -2.0,
    "not work": -2.0, "didn't work": -2.0, "never works": -2.5, "keeps crashing": -2.5,
    "crashing": -2.0, "crashes": -2.0, "crashed": -2.0, "keeps dropping": -2.3,
    "keeps cutting out": -2.3, "cutting out": -2.0, "cuts out": -2.0, "cuttin out": -2.0,
    "drops out": -2.0, "keeps logging me out": -2.0, "logging me out": -1.8,
    "keeps saying": -1.5, "keeps failing": -2.3, "keeps": -0.5, "buffering": -1.5,
    "buffer": -1.2, "patchy": -1.5, "intermittent": -1.5,
    "broken": -2.1, "broke": -1.5, "faulty": -2.0, "defective": -2.2, "damaged": -2.0,
    "scratch": -1.5, "scratched": -1.8, "dent": -1.5, "dented": -1.8, "cracked": -2.0,
    "stain": -1.5, "stained": -1.5, "soaked": -1.5, "leak": -1.8, "leaking": -2.0,
    "leaks": -1.8, "sewage": -2.0, "brown water": -2.3, "smell": -1.0, "mould": -2.0,
    "lost my": -2.0, "lost our": -2.0, "lost the": -1.5, "missing": -1.5, "went missing": -2.0,
    "wrong": -1.8, "wrong item": -2.3, "wrong order": -2.3, "wrong size": -2.3,
    "wrong address": -2.0, "someone else's": -1.8, "old address": -1.2, "empty box": -2.5,
    "never arrived": -2.5, "never came": -2.3, "didn't arrive": -2.3, "hasn't arrived": -2.3,
    "has not arrived": -2.3, "not arrived": -2.3, "not delivered": -2.3, "never delivered": -2.5,
    "never arrives": -2.5, "didn't turn up": -2.3, "hasn't turned up": -2.3,
    "never turned up": -2.5, "didn't show": -2.3, "no show": -2.0, "no-show": -2.0,
    "marked delivered": -1.8, "marked as delivered": -1.8, "says delivered": -1.8,
    "not here": -1.5, "still not": -1.8, "still no": -1.8, "still can't": -2.0,
    "still cant": -2.0, "still hasn't": -2.2, "still haven't": -2.2, "still showing": -1.5,
    "still says": -1.2, "still waiting": -2.3,
    "no signal": -2.2, "no service": -2.2, "no internet": -2.2, "no wifi": -2.0,
    "no power": -2.2, "no connection": -2.0, "no water": -2.0, "no coverage": -2.0,
    "no hot water": -2.3, "no heating": -2.3, "without internet": -2.0, "without power": -2.2,
    "without water": -2.0, "without heating": -2.2, "off since": -1.8,
    "can't log in": -2.2, "cant log in": -2.2, "can't login": -2.2, "cant login": -2.2,
    "can't get into": -2.0, "can't access": -2.0, "cannot access": -2.0, "locked out": -2.2,
    "account locked": -2.0, "locked": -1.0, "froze my": -2.0, "frozen": -1.2, "blocked": -1.2,
    "session expired": -1.5, "not found": -1.5, "not showing": -1.8, "hasn't updated": -1.8,
    "error": -1.5, "errors": -1.5, "error message": -1.8, "glitch": -1.5, "bug": -1.2,
    "failed": -2.0, "fails": -2.0, "declined": -1.5, "bounced": -1.5, "stuck": -1.5,
    "unusable": -2.5, "useless": -2.0, "unreliable": -2.0, "slow": -1.2, "so slow": -2.0,
    "dropped calls": -2.2, "calls drop": -2.2, "overbooked": -2.0, "stranded": -2.5,
    "left stranded": -2.8, "missed my connection": -2.3, "missed connection": -2.0,
    "downgraded": -2.0, "bumped": -1.5, "diverted": -1.2, "split up": -1.5,
    "rude": -2.3, "unacceptable": -2.5, "not acceptable": -2.5, "disgrace": -2.8,
    "disgraceful": -2.8, "shambles": -2.8, "a mess": -2.0, "joke": -1.5, "a joke": -2.2,
    "what a joke": -2.8, "nightmare": -2.5, "i'm done": -2.0, "im done": -2.0,
    "it isn't": -1.2, "it's not": -0.8, "nothing": -0.5, "nothing yet": -1.8,
    "automated reply": -1.5, "auto-reply": -1.5, "auto reply": -1.5,
    "took my": -1.2, "mid-contract": -1.5,
}

WAITING: dict[str, float] = {
    "on hold": -2.0, "been on hold": -2.5, "still on hold": -2.5, "wait on hold": -2.0,
    "been waiting": -2.0, "waiting for": -1.2, "keep waiting": -2.0, "waited": -1.2,
    "no reply": -2.3, "no response": -2.3, "no answer": -2.0, "no one answers": -2.5,
    "nobody answers": -2.5, "no one replied": -2.3, "nobody replied": -2.3, "nobody": -1.2,
    "no one": -1.2, "not heard back": -2.3, "haven't heard back": -2.3,
    "havent heard back": -2.3, "never heard back": -2.5, "heard nothing": -2.3,
    "no update": -2.0, "no updates": -2.0, "any update": -1.2, "an update": -1.0,
    "no information": -1.8, "no record": -2.0, "no eta": -1.8, "no call": -1.5, "no explanation": -2.0, "following up": -1.2, "chasing": -1.5,
    "ignored": -2.0, "ignoring": -2.0, "ignore": -1.5,
    "for <num> hours": -1.8, "for <num> days": -1.8, "for <num> weeks": -2.0,
    "for hours": -1.8, "for days": -1.8, "for weeks": -2.0, "for months": -2.0,
    "for <dur>": -1.8, "<num> hours on hold": -2.5, "<dur> on hold": -2.5,
    "<num> minutes on hold": -2.3, "<num> mins on hold": -2.3,
    "since <day>": -1.8, "since last week": -2.0, "since last month": -2.0,
    "<num> days ago": -0.8, "<num> weeks ago": -1.0, "<dur> ago": -0.8,
    "and counting": -1.8, "in a row": -1.5, "running": -0.3, "<num> weeks in": -1.5,
    "days later": -1.5, "weeks later": -1.8, "yet again": -2.0, "again": -0.8,
    "<ord> time": -1.8, "<ord> email": -1.8, "<ord> call": -1.8, "<ord> time this": -2.0,
    "every time": -1.0, "every single time": -2.0, "each time": -0.8,
    "<num> times": -1.0, "twice": -1.2, "how many times": -2.2, "how many more": -2.2,
    "how much longer": -2.2, "how long do i": -1.8, "still": -0.5, "queue": -0.8,
    "caller number": -1.5, "10 working days": -1.2, "working days": -0.5,
}

MONEY: dict[str, float] = {
    "charged twice": -2.5, "double charged": -2.5, "charged me twice": -2.5,
    "billed twice": -2.5, "paid twice": -2.3, "debited twice": -2.5, "taken twice": -2.3,
    "overcharged": -2.5, "over charged": -2.5, "hidden fees": -2.3, "hidden fee": -2.3,
    "refund": -1.2, "no refund": -2.5, "where is my refund": -2.5, "still no refund": -2.8,
    "want a refund": -2.0, "want my money back": -2.5, "money back": -1.5,
    "rip off": -2.8, "ripoff": -2.8, "rip-off": -2.8, "ripped off": -2.8,
    "stole my money": -3.0, "took my money": -2.5, "paid it back": -0.5,
    "billing error": -2.3, "wrong bill": -2.3, "bill is wrong": -2.3, "price hike": -1.8,
    "price went up": -1.8, "went up": -1.0, "gone up": -1.0, "doubled": -1.5,
    "extra charge": -1.8, "charged for": -1.0, "still charging": -2.3, "full price": -1.0,
    "fee": -0.5, "fees": -0.5, "without any notice": -1.8, "without notice": -1.8,
}

LEAVING: dict[str, float] = {
    "cancel my contract": -2.5, "cancel my subscription": -2.2, "cancel my account": -2.2,
    "cancelling my": -2.2, "canceling my": -2.2, "switching to": -1.8, "switch to": -1.2,
    "moving to": -0.8, "leaving you": -2.3, "done with": -1.8, "never again": -2.8,
    "never using": -2.5, "never use": -2.0, "never flying": -2.8, "never ordering": -2.5,
    "never buying": -2.5, "won't be using": -2.3, "will not be using": -2.3,
    "take my business elsewhere": -2.8, "looking for another": -1.8,
    "other providers": -1.8, "another provider": -1.8, "find another provider": -2.3,
    "worst": -3.1, "avoid": -2.0, "have to leave": -1.8, "need to leave": -1.8,
}

ESCALATION: dict[str, float] = {
    "complaint": -1.8, "formal complaint": -2.5, "complain": -1.8, "complaining": -1.8,
    "ombudsman": -2.5, "ofcom": -1.8, "ofgem": -1.8, "ofwat": -1.8, "fca": -1.5,
    "trading standards": -2.3, "lawyer": -2.3, "solicitor": -2.3, "my mp": -2.0,
    "legal action": -2.8, "sue": -2.5, "small claims": -2.5, "chargeback": -2.3,
    "better business bureau": -2.3, "report you": -2.3, "environment agency": -1.5,
    "citizens advice": -1.8, "watchdog": -1.2,
}

SAFETY: dict[str, float] = {
    "scam": -2.5, "scammed": -2.5, "phishing": -2.3, "fraudulent": -2.3, "unsafe": -2.5,
    "dangerous": -2.5, "nearly tripped": -2.5, "sparking": -2.5, "gas smell": -2.5,
    "smell of gas": -2.5, "exposed wires": -2.5,
}

# Phrases that are negative although they contain positive words (the positive word is
# swallowed by the phrase, so VADER's +valence for it no longer counts).
SARCASM: dict[str, float] = {
    "thanks for nothing": -2.8, "great another": -2.3, "oh great": -1.8, "just great": -1.8,
    "just perfect": -1.5, "just what i needed": -2.0, "gotta love": -1.5,
    "got to love": -1.5, "love waiting": -2.3, "love how": -1.0, "love it when": -1.0,
    "yeah right": -2.0, "as usual": -1.0, "cheers for nothing": -2.8,
    "what a lovely surprise": -1.5, "never happened before": -1.5, "🙃": -1.2,
    "good to know": -0.5, "great to see": -0.5, "amazing value": -0.5,
}

# Good news about the service, also stated as facts ("fixed", "arrived on time"). A
# resolution in the text means the complaint words in it describe a problem now over.
RESOLUTION: dict[str, float] = {
    "fixed": 1.5, "fixed it": 2.0, "sorted": 1.5, "sorted it": 2.0, "sorted out": 1.8,
    "resolved": 1.5, "resolved it": 2.0, "working again": 2.0, "back up": 1.2,
    "back online": 1.5, "back on": 1.2, "restored": 1.2, "on time": 1.2, "reconnected": 1.5,
    "got my refund": 1.8, "refund came through": 1.8, "refunded": 1.5, "refund landed": 2.0,
    "refund arrived": 2.0, "refund done": 2.0, "refund processed": 1.8,
    "paid in full": 2.0, "are rare": 1.5, "is rare": 1.0, "paid out": 1.8, "sent a replacement": 2.0, "a replacement": 1.0,
    "sent a new one": 2.0, "rebooked": 1.5, "rebooked us": 2.0, "rebooked me": 2.0,
    "rang me back": 1.8, "called me back": 1.8, "called ahead": 1.5, "responded": 1.0,
    "apologised": 1.0, "apologized": 1.0, "stopped the payment": 1.8, "connected": 0.8,
    "arrived today": 1.0, "arrived early": 2.0, "a day early": 2.0, "next day": 1.2,
    "same day": 1.5, "within an hour": 1.8, "within <num> hours": 1.5,
    "within <num> days": 1.0, "in <num> minutes": 1.2, "in <num> mins": 1.2,
    "<num> mins flat": 2.0, "quick refund": 2.2, "quick to fix": 2.0, "quick to": 1.5,
    "no issues": 1.8, "no problems": 1.8, "no complaints": 2.0, "no questions": 1.5,
    "no questions asked": 2.0, "no arguing": 1.5, "no fuss": 1.8, "no hassle": 1.8,
    "quick response": 2.0, "fast response": 2.0, "quick reply": 2.0, "straight away": 1.2,
    "went above and beyond": 3.0, "above and beyond": 2.8, "can't ask for more": 2.5,
    "couldn't ask for more": 2.5, "can't fault": 2.5, "cant fault": 2.5,
    "can't recommend": 2.5, "highly recommend": 3.0, "would recommend": 2.5,
}

# Praise the VADER lexicon lacks (slang, care-specific compliments).
PRAISE: dict[str, float] = {
    "legend": 2.5, "legends": 2.5, "slick": 2.0, "smooth": 1.8, "smoothest": 2.5,
    "seamless": 2.2, "painless": 2.0, "hassle-free": 2.2, "unreal": 1.5, "handy": 1.5,
    "decent": 1.2, "spot on": 2.2, "hats off": 2.5, "kudos": 2.5, "shoutout": 2.0,
    "shout out": 2.0, "top notch": 2.5, "spoiling me": 2.0, "lifesaver": 2.5,
    "life saver": 2.5, "going crazy": 1.0, "goin crazy": 1.0, "genius": 2.0,
    "recommend": 1.5, "happy customer": 2.5, "five stars": 2.0, "5 stars": 2.0,
    "huge thanks": 2.8, "massive thanks": 2.8, "big thanks": 2.5, "thanks to the": 2.0,
    "well done": 2.0, "brilliant service": 2.5, "great service": 2.5,
}

# Courtesy, not sentiment: "Hi, could you please look into ... Thanks so much!" is a
# complaint. These count as mild praise only when no open complaint is in the text.
POLITE: dict[str, float] = {
    "thanks": 1.5, "thank you": 1.5, "thank": 1.2, "many thanks": 1.5, "thanks so much": 1.8,
    "thank you so much": 2.0, "cheers": 1.0, "thanks in advance": 0.0, "kind regards": 0.0,
    "best regards": 0.0, "regards": 0.0, "dear": 0.0, "hope you're well": 0.0,
    "hope you are well": 0.0, "sorry to bother you": 0.0, "i'd be grateful": 0.0,
    "would be grateful": 0.0, "grateful if": 0.0, "would really appreciate": 0.0,
    "would appreciate": 0.0, "i'd appreciate": 0.0, "appreciate it": 0.5, "kindly": 0.0,
    "friendly nudge": 0.0, "hoping you can": 0.0, "hope you can": 0.0, "just wanted to": 0.0,
}

# Reported news, notices and plans: not the author's experience (care has nothing to do).
NEWS: dict[str, float] = {
    "planned maintenance": 0.0, "planned works": 0.0, "engineering works": 0.0,
    "announced": 0.0, "announces": 0.0, "the company said": 0.0, "union says": 0.0,
    "the regulator announced": 0.0, "named in": 0.0, "recalls": 0.0, "fined": 0.0,
    "from monday": 0.0, "expected to": 0.0, "on standby": 0.0, "reminder": 0.0,
    "press release": 0.0, "reports that": 0.0, "according to": 0.0, "strike ballot": 0.0,
}

# VADER words that carry no sentiment in customer care ("credit" card, "interest" rate,
# "security" check, account "number", "like" as a preposition, "kind" regards...).
NEUTRAL_WORDS: dict[str, float] = {
    w: 0.0
    for w in (
        "number credit support supports security secure protected hand gift smart interest "
        "easy energy welcome friend like want pay spam straight accepted play chance sure "
        "pretty well kind hope hoping free cuts strike low drop ban mistake cancel matter "
        "true god yes no please help dear save saving savings share shares care"
    ).split()
}
# Phrases whose words VADER would misread ("by mistake", "fraud team", "damage cover").
NEUTRAL_PHRASES: dict[str, float] = {
    "by mistake": 0.0, "fraud team": 0.0, "accidental damage": 0.0, "no rush": 0.0,
    "no worries": 0.5, "no problem": 0.5, "not sure": 0.0, "don't know": 0.0,
    "dont know": 0.0, "no idea": 0.0, "just curious": 0.0, "out of interest": 0.0,
    "nothing wrong": 0.5, "same as usual": 0.0, "free of charge": 0.8, "just checking": 0.0,
}

# Emoji (single code points; `sentiment` pads them with spaces so each is a token).
EMOJI: dict[str, float] = {
    "😡": -3.0, "🤬": -3.2, "😠": -2.5, "😤": -2.2, "🙄": -1.8, "😒": -1.8, "👎": -2.2,
    "🤡": -1.5, "😭": -2.2, "😢": -2.0, "😩": -2.0, "😫": -2.0, "🤦": -2.0, "😞": -2.0,
    "😔": -1.5, "😕": -1.2, "🙁": -1.5, "☹": -1.8, "💩": -2.5, "🖕": -3.0, "❌": -1.0,
    "😑": -1.0, "😐": -0.5, "😬": -1.0, "🥶": -1.0, "😖": -2.0, "😣": -1.8, "💸": -1.0,
    "😍": 3.0, "🥰": 3.0, "❤": 2.5, "💙": 2.2, "💚": 2.2, "💜": 2.2, "🧡": 2.2, "💛": 2.2,
    "😊": 2.2, "🙂": 1.2, "😀": 2.0, "😃": 2.0, "😄": 2.2, "😁": 2.2, "👍": 1.5, "👏": 1.5,
    "🙌": 2.0, "💯": 1.8, "🎉": 2.0, "🥳": 2.2, "⭐": 1.5, "🌟": 1.8, "✨": 1.0, "🙏": 0.0,
    "🔥": 1.5, "🚀": 1.5, "😎": 1.5, "🤩": 2.5, "😌": 1.0, "☺": 2.0, "💪": 1.2, "👌": 1.5,
    "✅": 1.0, "🏆": 2.0, "🥇": 2.0,
}

EMOTICONS: dict[str, float] = {
    ">:(": -2.5, ":-/": -1.2, ":/": -1.2, "-_-": -1.5, "smh": -1.5, "ffs": -2.3,
    "fml": -2.3, "wtf": -2.5, "ugh": -1.8, "grr": -1.8, "meh": -1.0, ":-(": -2.0, ":(": -2.0,
}

# Not sentiment: evidence for urgency signals (valence 0; VADER's "+help" is not praise).
HELP: tuple[str, ...] = (
    "help", "please", "pls", "plz", "anyone know", "does anyone", "can someone",
    "can anyone", "how do i", "how can i", "what do i do", "need help", "assist",
)
URGENT: tuple[str, ...] = ("urgent", "urgently", "asap", "emergency", "immediately", "right now")

# Words that turn the following cue around ("not cancelled", "never delayed").
NEGATORS = frozenset(
    "not no never none nothing nobody without isn't isnt wasn't wasnt aren't arent "
    "weren't werent didn't didnt doesn't doesnt don't dont hasn't hasnt haven't havent "
    "won't wont can't cant couldn't couldnt hardly barely zero nearly almost".split()
)

# Words that cast doubt on a reported fix ("tracker says restored. It isn't.").
DOUBTERS = frozenset("says say said claims claimed supposedly apparently allegedly meant".split())

# Intensifiers before a cue (VADER's boosters apply only to its own lexicon words).
BOOSTERS: dict[str, float] = {
    "very": 0.3, "so": 0.3, "really": 0.3, "extremely": 0.4, "completely": 0.4,
    "totally": 0.4, "absolutely": 0.4, "utterly": 0.4, "always": 0.3, "constantly": 0.4,
    "literally": 0.2, "again": 0.3, "still": 0.3,
}

_TABLES: tuple[tuple[str, dict[str, float]], ...] = (
    ("failure", FAILURE), ("waiting", WAITING), ("money", MONEY), ("leaving", LEAVING),
    ("escalation", ESCALATION), ("safety", SAFETY), ("sarcasm", SARCASM),
    ("resolution", RESOLUTION), ("praise", PRAISE), ("polite", POLITE), ("news", NEWS),
    ("neutral", NEUTRAL_PHRASES), ("emoji", EMOJI), ("emoticon", EMOTICONS),
)


def builtin_cues() -> list[tuple[str, Cue]]:
    """Every built-in phrase with its Cue, in one list (rules.yaml entries are added after)."""
    out: list[tuple[str, Cue]] = []
    for kind, table in _TABLES:
        complaint = kind in COMPLAINT_KINDS
        out.extend((phrase, Cue(valence, kind, complaint)) for phrase, valence in table.items())
    out.extend((phrase, Cue(0.0, "help")) for phrase in HELP)
    out.extend((phrase, Cue(0.0, "urgent")) for phrase in URGENT)
    return out
