"""Validate tests/data/labelled/posts.jsonl and print its counts.

Usage:  python tests/data/labelled/check_set.py [path/to/posts.jsonl]

Exits non-zero if a record is malformed, an id or text is duplicated, or an
industry x label cell is not split half dev / half test (off by at most one).
Prints markdown tables (the same ones that are pasted into README.md).
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

LABELS = ("negative", "neutral", "positive")
CATEGORIES = {
    "outage", "service_failure", "delay", "billing", "refund", "cancellation",
    "waiting", "no_response", "delivery", "account_access", "safety",
    "escalation_threat", "praise", "question", "other",
}
HARD = ("factual", "polite", "sarcasm", "mixed", "question", "slang", None)
LANGS = {"en", "es", "fr", "de"}
KEYS = ["id", "industry", "brand", "text", "label", "category", "rating",
        "question", "lang", "hard", "split"]


def load(path: Path) -> list[dict]:
    records, errors = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            r = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: invalid JSON ({exc})")
            continue
        if list(r) != KEYS:
            errors.append(f"line {n}: keys {list(r)}")
        if r.get("label") not in LABELS:
            errors.append(f"line {n}: label {r.get('label')!r}")
        if r.get("category") not in CATEGORIES:
            errors.append(f"line {n}: category {r.get('category')!r}")
        if r.get("hard") not in HARD:
            errors.append(f"line {n}: hard {r.get('hard')!r}")
        if r.get("lang") not in LANGS:
            errors.append(f"line {n}: lang {r.get('lang')!r}")
        if r.get("split") not in ("dev", "test"):
            errors.append(f"line {n}: split {r.get('split')!r}")
        if r.get("rating") is not None and r.get("rating") not in (1, 2, 3, 4, 5):
            errors.append(f"line {n}: rating {r.get('rating')!r}")
        if not isinstance(r.get("question"), bool):
            errors.append(f"line {n}: question {r.get('question')!r}")
        words = len(str(r.get("text", "")).split())
        if not 1 <= words <= 60:
            errors.append(f"line {n}: {words} words")
        if r.get("label") != "negative" and r.get("category") not in ("praise", "question", "other", "outage", "delay"):
            errors.append(f"line {n}: non-negative post with complaint category {r.get('category')}")
        if r.get("label") == "negative" and r.get("category") in ("praise", "question"):
            errors.append(f"line {n}: negative post with category {r.get('category')}")
        records.append(r)
    ids = Counter(r["id"] for r in records)
    errors += [f"duplicate id {i}" for i, c in ids.items() if c > 1]
    texts = Counter(r["text"].strip().lower() for r in records)
    errors += [f"duplicate text {t!r}" for t, c in texts.items() if c > 1]
    cells = Counter((r["industry"], r["label"], r["split"]) for r in records)
    for ind in {r["industry"] for r in records}:
        for lab in LABELS:
            if abs(cells[(ind, lab, "dev")] - cells[(ind, lab, "test")]) > 1:
                errors.append(f"split unbalanced for {ind}/{lab}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    return records


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("posts.jsonl")
    recs = load(path)
    n = len(recs)
    print(f"{n} posts, ids and texts unique, every line valid JSON\n")

    industries = sorted({r["industry"] for r in recs}, key=lambda i: (-sum(r["industry"] == i for r in recs), i))
    c = Counter((r["industry"], r["label"], r["split"]) for r in recs)
    print("### Industry x label x split (dev / test)\n")
    print("| industry | negative | neutral | positive | total |")
    print("|---|---|---|---|---|")
    tot = Counter()
    for ind in industries:
        cells = []
        for lab in LABELS:
            d, t = c[(ind, lab, "dev")], c[(ind, lab, "test")]
            tot[(lab, "dev")] += d
            tot[(lab, "test")] += t
            cells.append(f"{d} / {t}")
        s = sum(c[(ind, lab, sp)] for lab in LABELS for sp in ("dev", "test"))
        print(f"| {ind} | " + " | ".join(cells) + f" | {s} |")
    print("| **all** | " + " | ".join(f"{tot[(lab, 'dev')]} / {tot[(lab, 'test')]}" for lab in LABELS)
          + f" | {n} |")
    labs = Counter(r["label"] for r in recs)
    splits = Counter(r["split"] for r in recs)
    print("\nLabel shares: " + ", ".join(f"{lab} {labs[lab]} ({pct(labs[lab], n)})" for lab in LABELS))
    print(f"Split sizes: dev {splits['dev']}, test {splits['test']}")

    print("\n### Hard-case kind x label\n")
    h = Counter((r["hard"], r["label"]) for r in recs)
    hs = Counter((r["hard"], r["split"]) for r in recs)
    print("| hard | negative | neutral | positive | total | dev | test |")
    print("|---|---|---|---|---|---|---|")
    for kind in HARD:
        row = [h[(kind, lab)] for lab in LABELS]
        print(f"| {kind or 'null'} | " + " | ".join(map(str, row))
              + f" | {sum(row)} | {hs[(kind, 'dev')]} | {hs[(kind, 'test')]} |")
    neg = labs["negative"]
    fact = h[("factual", "negative")]
    print(f"\nFactual (no emotional words) share of negatives: {fact}/{neg} = {pct(fact, neg)}")

    print("\n### Category x label\n")
    cl = Counter((r["category"], r["label"]) for r in recs)
    print("| category | negative | neutral | positive |")
    print("|---|---|---|---|")
    for cat in sorted({r["category"] for r in recs}, key=lambda k: -sum(cl[(k, lab)] for lab in LABELS)):
        print(f"| {cat} | " + " | ".join(str(cl[(cat, lab)]) for lab in LABELS) + " |")

    print("\n### Other fields\n")
    langs = Counter(r["lang"] for r in recs)
    print("- lang: " + ", ".join(f"{k} {v}" for k, v in langs.most_common())
          + f" (non-English {pct(n - langs['en'], n)})")
    rated = [r for r in recs if r["rating"] is not None]
    rc = Counter((r["rating"], r["label"]) for r in rated)
    print(f"- rating present: {len(rated)} ({pct(len(rated), n)}); "
          + "; ".join(f"{s}★: " + "/".join(str(rc[(s, lab)]) for lab in LABELS) for s in range(1, 6))
          + " (neg/neu/pos)")
    q = Counter(r["label"] for r in recs if r["question"])
    print(f"- question=true: {sum(q.values())} (" + ", ".join(f"{lab} {q[lab]}" for lab in LABELS) + ")")
    lengths = sorted(len(r["text"].split()) for r in recs)
    print(f"- words per post: min {lengths[0]}, median {lengths[len(lengths) // 2]}, max {lengths[-1]}")
    print("- brands: " + ", ".join(f"{b} {k}" for b, k in Counter(r['brand'] for r in recs).most_common()))


if __name__ == "__main__":
    main()
