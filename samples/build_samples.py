"""Build samples/mentions.jsonl, the bundled sample feed, from the hand-written texts.

    python samples/build_samples.py            # rewrites samples/mentions.jsonl, prints counts

Every text is written by hand in `samples/texts/*.txt`; this script only adds the
bookkeeping a platform would: ids, timestamps (2026-11-15..2026-11-21 UTC), authors from a
fictional pool, follower counts, urls, threads, retweets and re-delivered duplicates. Three
quieter weeks before it (2026-10-25..2026-11-14) are composed from hand-written fragments
(`history_drafts`), so a competitor report has a baseline: share of voice over four weeks,
drivers against the previous period, and Arcwave's outage on 19 November standing out as
a spike (`texts/26_x_arcwave_outage.txt`). It is
deterministic (fixed seed), so re-running it reproduces the committed file byte for byte.
Everything is fictional: the brands (Nimbus Mobile, Arcwave, Telvio), people and outlets.

Text file format (one mention per line; `# ` starts a comment line)::

    @section platform=x brand=nimbus kind=complaint [lang=es] [sub=NimbusMobile]
             [window=2026-11-18T07:30/2026-11-18T13:00]
    a tweet
    @@gadgetgrumble a tweet by a named (notable) author
    [after=2026-11-18T14:00] a tweet posted after a time (a text that refers to an event)
    [window=2026-11-18T07:30/2026-11-18T12:00] a tweet posted within a time window
    @thread platform=x brand=nimbus kind=outage start=2026-11-18T07:41
    the thread's first post
    > a reply to the first post
    >> a reply to the line above

Reviews (appstore, googleplay, trustpilot) are written `rating | title | text`; reddit
submissions and rss items `title | text` (reddit comments, i.e. thread replies, are bare).
`brand` and `kind` are not written to the feed; they only feed the summary printed at the
end. Kinds: complaint, factual, polite, sarcasm, praise, question, neutral, neardup,
outage, spam, offtopic, news.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEXTS = HERE / "texts"
OUT = HERE / "mentions.jsonl"
SEED = 2026
WEEK_START = datetime(2026, 11, 15, tzinfo=UTC)
WEEK_END = datetime(2026, 11, 21, 23, 59, 59, tzinfo=UTC)
LAST_POST = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)  # replies and retweets follow later
BRAND_HANDLES = ("@NimbusMobile", "@ArcwaveTel", "@TelvioUK")
REVIEW_PLATFORMS = {"appstore", "googleplay", "trustpilot"}
TITLED_PLATFORMS = REVIEW_PLATFORMS | {"reddit", "rss"}
DUPLICATES = 11  # records the "API" delivers twice (same id), for the pipeline's dedupe
RETWEETS = 17

# Notable fictional accounts: verified and/or high reach. (handle, name, followers, verified)
NOTABLE = {
    "NimbusMobile": ("Nimbus Mobile", 212_400, True),
    "gadgetgrumble": ("Gadget Grumble", 184_300, True),
    "NorthernWireNews": ("Northern Wire", 96_500, True),
    "signalbarspod": ("Signal Bars Podcast", 41_200, True),
    "coach_dani_rees": ("Dani Rees", 268_900, True),
    "BeckyTravelsLight": ("Becky | Travels Light", 73_400, True),
    "tomasz_codes": ("Tomasz W.", 18_700, False),
    "leedsfoodie_amy": ("Amy eats Leeds", 22_150, False),
    "TheTelcoLedger": ("The Telco Ledger", 12_900, True),
    "dr_hannah_m": ("Dr Hannah M", 9_800, False),
    "marcus_runs_ldn": ("Marcus", 31_000, True),
    "pocketbudget": ("Pocket Budget", 15_600, False),
}
# rss outlets (fictional sites on the reserved .example domain)
OUTLETS = {
    "NorthernWireNews": "northernwire.example",
    "TheTelcoLedger": "telcoledger.example",
    "signalbarspod": "signalbars.example",
    "gadgetgrumble": "gadgetgrumble.example",
    "pocketbudget": "pocketbudget.example",
}
APPS = {
    ("appstore", "nimbus"): "https://apps.apple.com/gb/app/nimbus-mobile-my-account/id6443210987",
    ("appstore", "arcwave"): "https://apps.apple.com/gb/app/arcwave-account-top-up/id6451122334",
    ("appstore", "telvio"): "https://apps.apple.com/gb/app/telvio/id6470098812",
    (
        "googleplay",
        "nimbus",
    ): "https://play.google.com/store/apps/details?id=com.nimbusmobile.myaccount",
    ("googleplay", "arcwave"): "https://play.google.com/store/apps/details?id=com.arcwave.selfcare",
    ("googleplay", "telvio"): "https://play.google.com/store/apps/details?id=uk.telvio.app",
}
FIRST = (
    "jen sam priya tom ellie raj kate mo dan lucy aisha ben chloe olu nia gareth fern "
    "callum zara liam hannah kieran megan omar ruth will beth ade sophie jamie maya craig "
    "leah amir nat josh holly dev carys rhys isla tariq abbie connor yasmin lewis grace "
    "imran jade owen rosie kwame freya harvey sian"
).split()
LAST = "k b m lee jones patel obi walsh khan hughes reid shaw ali cole evans nash".split()
STYLES = ("{f}_{l}", "{f}{l}{n}", "{f}.{l}", "{l}{f}", "{f}_{n}", "its{f}", "{f}{l}_{n}",
          "the_{f}_{l}", "{f}x{l}", "{f}{n}{l}")  # fmt: skip


@dataclass
class Person:
    handle: str
    name: str
    uid: str
    followers: int
    verified: bool


@dataclass
class Draft:
    platform: str
    brand: str
    kind: str
    lang: str
    text: str
    title: str | None = None
    rating: int | None = None
    author: str | None = None  # a NOTABLE handle, else drawn from the pool
    sub: str | None = None
    when: datetime | None = None
    window: tuple[datetime, datetime] | None = None
    parent: Draft | None = None
    children: list[Draft] = field(default_factory=list)
    record: dict[str, Any] | None = None


def parse_attrs(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split()[1:])


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def read_drafts() -> list[Draft]:
    drafts: list[Draft] = []
    for path in sorted(TEXTS.glob("*.txt")):
        attrs: dict[str, str] = {}
        thread: list[Draft] = []  # the current thread's posts in file order
        for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if not line or line == "#" or line.startswith("# "):  # "#NimbusDown" is a text
                continue
            if line.startswith(("@section", "@thread")):
                attrs = parse_attrs(line)
                attrs["_thread"] = "1" if line.startswith("@thread") else ""
                thread = []
                continue
            if not attrs:
                sys.exit(f"{path.name}:{lineno}: text before any @section")
            depth = len(line) - len(line.lstrip(">"))
            line = line[depth:].strip()
            window = None
            if m := re.match(r"\[(after|window)=([^\]]+)\]\s*", line):
                start, _, end = m[2].partition("/")
                window = (parse_time(start), parse_time(end) if end else LAST_POST)
                line = line[m.end() :]
            author = None
            if line.startswith("@@"):
                author, _, line = line[2:].partition(" ")
                if author not in NOTABLE:
                    sys.exit(f"{path.name}:{lineno}: unknown notable author {author!r}")
            draft = Draft(
                platform=attrs["platform"],
                brand=attrs["brand"],
                kind=attrs["kind"],
                lang=attrs.get("lang", "en"),
                text=line,
                author=author,
                sub=attrs.get("sub"),
            )
            is_comment = depth > 0 and draft.platform == "reddit"
            if draft.platform in REVIEW_PLATFORMS:
                rating, draft.title, draft.text = (p.strip() for p in line.split(" | ", 2))
                draft.rating = int(rating)
            elif draft.platform in TITLED_PLATFORMS and not is_comment:
                draft.title, draft.text = (p.strip() for p in line.split(" | ", 1))
            if " | " in draft.text:
                sys.exit(f"{path.name}:{lineno}: stray ' | ' in text")
            if "window" in attrs:
                start, end = attrs["window"].split("/")
                draft.window = (parse_time(start), parse_time(end))
            draft.window = window or draft.window
            if attrs["_thread"]:
                if depth == 0:
                    draft.when = parse_time(attrs["start"]) if not thread else None
                    if thread:
                        sys.exit(f"{path.name}:{lineno}: a thread has one first post")
                elif depth == 1:
                    draft.parent = thread[0]
                else:
                    draft.parent = thread[-1]
                if draft.parent is not None:
                    draft.parent.children.append(draft)
                thread.append(draft)
            drafts.append(draft)
    return drafts


def build_people(rng: random.Random) -> list[Person]:
    seen: set[str] = set(NOTABLE)
    people: list[Person] = []
    while len(people) < 300:
        f, lname = rng.choice(FIRST), rng.choice(LAST)
        handle = rng.choice(STYLES).format(f=f, l=lname, n=rng.randint(1, 99))
        handle = handle.replace(".", "_")
        if handle in seen:
            continue
        seen.add(handle)
        followers = int(rng.lognormvariate(5.0, 1.3))  # median ~150, long tail
        name = f"{f.capitalize()} {lname.upper() if len(lname) == 1 else lname.capitalize()}"
        people.append(Person(handle, name, f"u{rng.randint(10**7, 10**9)}", followers, False))
    return people


def random_time(rng: random.Random, window: tuple[datetime, datetime] | None) -> datetime:
    start, end = window or (WEEK_START, LAST_POST)
    span = (end - start).total_seconds()
    while True:  # people post less at night (UK time ~ UTC in November)
        t = start + timedelta(seconds=rng.uniform(0, span))
        if window or 7 <= t.hour <= 23 or rng.random() < 0.25:
            return t.replace(microsecond=0)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def snowflake(rng: random.Random, t: datetime) -> str:
    ms = int(t.timestamp() * 1000) - 1288834974657
    return str((ms << 22) + rng.randint(0, (1 << 22) - 1))


def base36(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits + string.ascii_lowercase) for _ in range(n))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:50]


def assign_times(drafts: list[Draft], rng: random.Random) -> None:
    for d in drafts:
        if d.parent is None and d.when is None:
            d.when = random_time(rng, d.window)
    for d in drafts:  # file order puts parents before replies
        if d.parent is not None and d.parent.when is not None:
            d.when = d.parent.when + timedelta(seconds=rng.randint(90, 2400))


def make_record(d: Draft, who: Person, rng: random.Random) -> dict[str, Any]:
    if d.when is None:
        raise SystemExit(f"no time for {d.text!r}")
    p, t = d.platform, d.when
    parent = d.parent.record if d.parent is not None else None
    conversation = None
    if p == "x":
        num = snowflake(rng, t)
        rid = f"x-{num}"
        url = f"https://x.com/{who.handle}/status/{num}"
        conversation = parent["conversation_id"] if parent else rid
    elif p == "reddit":
        sub = d.sub or (d.parent.sub if d.parent else None) or "NimbusMobile"
        if parent is None:
            sid = base36(rng, 7)
            rid = f"reddit-t3_{sid}"
            url = f"https://www.reddit.com/r/{sub}/comments/{sid}/{slug(d.title or d.text)}/"
            conversation = rid
        else:
            cid = base36(rng, 7)
            rid = f"reddit-t1_{cid}"
            root = d
            while root.parent is not None:
                root = root.parent
            url = f"{root.record['url'] if root.record else ''}{cid}/"
            conversation = parent["conversation_id"]
    elif p == "appstore":
        num = str(rng.randint(10**10, 10**11 - 1))
        rid = f"appstore-{num}"
        url = f"{APPS.get((p, d.brand), APPS[(p, 'nimbus')])}?see-all=reviews#review-{num}"
    elif p == "googleplay":
        gid = "gp:AOqpTO" + base36(rng, 24)
        rid = f"googleplay-{gid}"
        url = f"{APPS.get((p, d.brand), APPS[(p, 'nimbus')])}&reviewId={gid}"
    elif p == "trustpilot":
        hexid = hashlib.sha1(f"{d.text}{t}".encode()).hexdigest()[:24]
        rid = f"trustpilot-{hexid}"
        url = f"https://uk.trustpilot.com/reviews/{hexid}"
    elif p == "rss":
        site = OUTLETS.get(who.handle, "localnews.example")
        path = f"{t:%Y/%m/%d}/{slug(d.title or d.text)}"
        rid = f"rss-{hashlib.sha1(path.encode()).hexdigest()[:16]}"
        url = f"https://{site}/{path}"
    else:
        raise SystemExit(f"unknown platform {p}")
    reach = who.followers
    engagement = rng.randint(0, 6) if reach < 5000 else rng.randint(40, 40 + reach // 150)
    if p in REVIEW_PLATFORMS:
        engagement = rng.choice([0, 0, 0, 1, 2, 5])
    text = d.text
    if p == "x" and parent is not None and not text.startswith("@"):
        # X prefixes a reply with the handles it goes to: the parent's author and the
        # brand accounts the parent mentioned
        to = [f"@{parent['author']['handle']}"]
        to += [h for h in BRAND_HANDLES if h in parent["text"] and h not in text and h not in to]
        text = " ".join([*to, text])
    return {
        "id": rid,
        "platform": p,
        "text": text,
        "created_at": iso(t),
        "author": {
            "handle": who.handle,
            "name": who.name,
            "id": who.uid,
            "followers": who.followers,
            "verified": who.verified,
        },
        "url": url,
        "lang": d.lang,
        "rating": d.rating,
        "title": d.title,
        "in_reply_to": parent["id"] if parent else None,
        "in_reply_to_user": parent["author"]["handle"] if parent else None,
        "conversation_id": conversation,
        "engagement": engagement,
        "is_repost": False,
    }


def notable(handle: str) -> Person:
    name, followers, verified = NOTABLE[handle]
    return Person(handle, name, f"u{int(hashlib.sha1(handle.encode()).hexdigest()[:8], 16)}",
                  followers, verified)  # fmt: skip


def retweet(original: dict[str, Any], who: Person, rng: random.Random) -> dict[str, Any]:
    t = datetime.fromisoformat(original["created_at"].replace("Z", "+00:00"))
    t += timedelta(seconds=rng.randint(60, 5 * 3600))
    num = snowflake(rng, t)
    text = f"RT @{original['author']['handle']}: {original['text']}"
    if len(text) > 140:  # the v2 API truncates the text of a plain retweet
        text = text[:139].rstrip() + "…"
    rec = dict(original)
    rec.update(
        id=f"x-{num}",
        text=text,
        created_at=iso(t),
        author={
            "handle": who.handle,
            "name": who.name,
            "id": who.uid,
            "followers": who.followers,
            "verified": who.verified,
        },
        url=f"https://x.com/{who.handle}/status/{num}",
        in_reply_to=None,
        in_reply_to_user=None,
        conversation_id=f"x-{num}",
        engagement=0,
        is_repost=True,
    )
    return rec


# ------------------------------------------------------------ background weeks
# Three quieter weeks before the hand-written week, so reports have a baseline to compare
# against (share of voice over time, drivers against the previous period, spikes against a
# normal week). Composed from hand-written fragments: a post is an opener, a problem (or a
# kind word, a question, a remark) and a closer, with the brand named the way people do.
HISTORY_START = datetime(2026, 10, 25, tzinfo=UTC)  # Sunday; the hand-written week follows
HISTORY_DAYS = (WEEK_START - HISTORY_START).days
# posts per ordinary weekday; weekends are quieter, as are nights (`history_time`)
HISTORY_RATE = {"nimbus": 34, "arcwave": 11, "telvio": 10}
HISTORY_BRANDS = {
    "nimbus": ("Nimbus", "Nimbus Mobile", "@NimbusMobile"),
    "arcwave": ("Arcwave", "Arcwave", "@ArcwaveTel"),
    "telvio": ("Telvio", "Telvio", "@TelvioUK"),
}
PLACES = ("Leeds", "Bristol", "Croydon", "Norwich", "Cardiff", "Glasgow", "Brighton", "Hull",
          "Exeter", "Derby", "Stockport", "Walthamstow", "Reading", "Sheffield", "Coventry",
          "Swansea", "Ipswich", "Bolton", "Luton", "Dundee")  # fmt: skip
PROBLEMS = {  # kind -> (weight, [texts]); {b} brand, {p} place, {n} a number
    "outage": (3, [
        "no signal in {p} since this morning", "mobile data has been dead in {p} all evening",
        "calls keep dropping in {p}, every single one", "no service at home in {p} again",
        "4G gone in {p} for the third night running", "the network is down in {p} and nobody says why",
    ]),
    "billing": (4, [
        "charged twice this month, £{n} gone", "my bill is £{n} more than the price I signed up for",
        "still waiting for a refund of £{n}", "direct debit taken twice and no explanation",
        "roaming charges of £{n} for a day in France, I had the add-on",
        "a price rise in the middle of my contract, another £{n} a month",
    ]),
    "waiting": (3, [
        "on hold for {n} minutes and then cut off", "no reply to my email after {n} days",
        "the chat keeps closing on me halfway through", "promised a call back, still waiting",
        "third time explaining the same problem to a new person",
    ]),
    "cancellation": (2, [
        "trying to cancel my contract and getting nowhere", "asked for my PAC code three times now",
        "switching to another network as soon as I can", "they want £{n} to let me leave",
    ]),
    "activation": (2, [
        "eSIM activation failed again, error after error", "new SIM arrived but it isn't working",
        "number porting stuck for {n} days",
    ]),
    "broadband": (2, [
        "the router drops out every evening", "the engineer didn't turn up, day off wasted",
        "fibre installation moved back a third time",
    ]),
}
OPENERS = ("{h}", "{h} hi,", "honestly", "ugh,", "{b} again:", "so", "{h} can someone help?",
           "fed up.", "")  # fmt: skip
CLOSERS = ("sort it out {h}", "anyone else?", "not good enough {h}", "this is ridiculous",
           "{h} please fix this", "why is it always {b}", "", "", "🙄", "😡")  # fmt: skip
PRAISE = (
    "{b} sorted my bill in ten minutes, proper service", "{h} thanks for the quick fix today",
    "good signal with {b} all over {p}, no complaints", "{b} 5G in {p} is fast, really impressed",
    "the {b} shop in {p} were brilliant with my nan's new phone", "{h} cheers for the goodwill credit",
    "two years with {b} and not one dropped call", "{b} app is actually quite nice now",
)
QUESTIONS = (
    "{h} do your SIM only plans include wifi calling?", "is {b} any good in {p}?",
    "{h} how long does a PAC code take?", "anyone on {b} in {p}? thinking of switching",
    "{h} is there an outage in {p} or is it my phone?", "does {b} do a 30 day rolling plan?",
)
REMARKS = (
    "{b} have a new unlimited plan out, £{n} a month", "saw a {b} advert on the bus in {p}",
    "{b} opening a new shop in {p} apparently", "just moved my phone over to {b}",
    "{b} price rise letter came today, same as everyone's",
)
REVIEW_TITLES = {1: ("Awful", "Avoid", "Never again"), 2: ("Poor service", "Disappointed"),
                 4: ("Pretty good", "Solid"), 5: ("Great network", "Brilliant support")}  # fmt: skip


def history_time(rng: random.Random, day: datetime) -> datetime:
    """A time on `day`: busy 8-22h, quiet at night (UK time ~ UTC in Oct/Nov)."""
    while True:
        t = day + timedelta(seconds=rng.randint(0, 86_399))
        if 8 <= t.hour <= 22 or rng.random() < 0.15:
            return t


def history_text(rng: random.Random, brand: str) -> tuple[str, str, int | None]:
    """(kind, text, rating) of one composed post."""
    short, full, handle = HISTORY_BRANDS[brand]
    roll = rng.random()
    if roll < 0.55:
        kinds = list(PROBLEMS)
        kind = rng.choices(kinds, [PROBLEMS[k][0] for k in kinds])[0]
        problem = rng.choice(PROBLEMS[kind][1])
        parts = [rng.choice(OPENERS), f"{short} {problem}" if rng.random() < 0.5 else problem,
                 rng.choice(CLOSERS)]
        text, rating = " ".join(p for p in parts if p), rng.choice([1, 1, 2])
        if short not in text and handle not in text:
            text = f"{text} {handle}"
    elif roll < 0.75:
        kind, text, rating = "praise", rng.choice(PRAISE), rng.choice([4, 5, 5])
    elif roll < 0.9:
        kind, text, rating = "question", rng.choice(QUESTIONS), 3
    else:
        kind, text, rating = "neutral", rng.choice(REMARKS), 3
    text = text.format(b=rng.choice((short, short, full)) if brand == "nimbus" else short,
                       h=handle, p=rng.choice(PLACES), n=rng.randint(2, 90))
    return kind, text[0].upper() + text[1:] if text[0].isalpha() else text, rating


def history_drafts(rng: random.Random) -> list[Draft]:
    drafts: list[Draft] = []
    seen: set[str] = set()
    for offset in range(HISTORY_DAYS):
        day = HISTORY_START + timedelta(days=offset)
        weekend = day.weekday() >= 5
        for brand, rate in HISTORY_RATE.items():
            n = max(0, round(rng.gauss(rate * (0.7 if weekend else 1.0), rate**0.5)))
            for _ in range(n):
                kind, text, rating = history_text(rng, brand)
                if text in seen:  # composed posts must not look like re-deliveries
                    continue
                seen.add(text)
                review = rng.random() < 0.15
                platform = rng.choice(("trustpilot", "appstore", "googleplay")) if review else "x"
                d = Draft(platform=platform, brand=brand, kind=kind, lang="en", text=text,
                          when=history_time(rng, day))
                if review:
                    d.rating = rating
                    d.title = rng.choice(REVIEW_TITLES.get(rating, ("Okay", "Fine")))
                drafts.append(d)
    return drafts


def build() -> tuple[list[dict[str, Any]], Counter[str]]:
    rng = random.Random(SEED)
    drafts = read_drafts()
    people = build_people(rng)
    drafts += history_drafts(rng)
    weights = [1 / (i + 1) ** 0.35 for i in range(len(people))]  # a few people post a lot
    assign_times(drafts, rng)
    counts: Counter[str] = Counter()
    records: list[dict[str, Any]] = []
    for d in drafts:
        who = notable(d.author) if d.author else rng.choices(people, weights)[0]
        d.record = make_record(d, who, rng)
        records.append(d.record)
        counts[f"platform/{d.platform}"] += 1
        counts[f"brand/{d.brand}"] += 1
        counts[f"kind/{d.kind}"] += 1
        counts[f"lang/{d.lang}"] += 1
        if d.parent is not None:
            counts["replies"] += 1
    x_originals = [d.record for d in drafts if d.platform == "x" and d.parent is None
                   and d.kind not in ("spam", "offtopic") and d.record]  # fmt: skip
    loud = sorted(x_originals, key=lambda r: -r["author"]["followers"])[:8]
    picks = loud + rng.sample([r for r in x_originals if r not in loud], RETWEETS - len(loud))
    for original in picks:
        who = rng.choices(people, weights)[0]
        records.append(retweet(original, who, rng))
        counts["platform/x"] += 1
        counts["retweets"] += 1
    records.sort(key=lambda r: (r["created_at"], r["id"]))
    # the "API" re-delivers some records later in the stream: same id, same content
    for original in rng.sample(records[:-40], DUPLICATES):
        at = records.index(original) + rng.randint(5, 40)
        records.insert(at, dict(original))
        counts["exact_duplicates"] += 1
    counts["records"] = len(records)
    return records, counts


def main() -> None:
    records, counts = build()
    with OUT.open("w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    for key, value in sorted(counts.items()):
        print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
