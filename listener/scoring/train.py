"""Train the sentiment decision layer (`model`) and write `model_weights.py`.

    python -m listener.scoring.train            # cross-validate, fit, write model_weights.py
    python -m listener.scoring.train --dry-run  # cross-validate and print, write nothing

A multinomial logistic regression over `features.FEATURES` and the learned grams
(`features.grams`), L2 penalty on the weights (not the intercepts), fitted by scipy's
L-BFGS on the mean log-loss (numpy/scipy: the dev extras; run time needs neither).

Data: ONLY `split == "dev"` records: the dev split of `tests/data/labelled/posts.jsonl`
(380 posts) plus the training files `train_extra.jsonl`, `train_extra2.jsonl`,
`train_short.jsonl` and `train_topics.jsonl` (see `TRAIN_EXTRA.md`), 2,550 in all. The
test split of posts.jsonl, `holdout.jsonl` and `holdout2.jsonl` are never read here.

Why "cross-fitted" features. The built-in lexicon was written while reading the dev
posts, so on dev the cues are far more complete than on new text (dev accuracy of the
rules ~0.92, test ~0.78). A model trained on those features would learn "the cues are
always right" and generalise no better than the rules. So each dev post is featurised by
an engine that *excludes every built-in phrase occurring in no dev post outside that
post's fold*: phrases that only that fold could have inspired. This imitates a lexicon
that never saw the post, so the model learns how far to trust the cues, and how much the
generic evidence (negations, numbers, durations, first person, "still/again", question
kind, stars, ...) adds when a cue is missing. At run time the full lexicon is used.

Protocol (all within dev):
- folds: stratified by label; within a label, posts ordered by sha256(f"{seed}:{id}") and
  dealt round-robin into K=5 folds, for two seeds; and leave-one-writer-out
  (`writer_of`); each assignment with its own cross-fitted features. A gram is learnable
  in a fold only if the fold's training posts use it for MIN_BRANDS brands;
- "rules" (before): the label is the compound's sign (the pre-model scorer), scored
  in-sample (full lexicon) and cross-fitted (fold k scored with fold k's reduced lexicon);
- "model" (after): for each seed and fold, fit on the other folds' cross-fitted features,
  predict fold k's cross-fitted features; the grid of L2 strength x class weighting x
  gram scale is ranked by the mean of the random folds' and the writer folds' macro-F1
  (ties: negative recall);
- sanity gate: going down that ranking, each setting is fitted on all dev posts and the
  first whose model labels every post of `SANITY` as stated is kept. `SANITY` is a short
  fixed list of obvious product cases scored with the run-time path (full lexicon):
  one-word or few-word clear posts ("terrible", "awful service", "worst service ever" ->
  negative; "great", "love it", "thanks, sorted!" -> positive), a bare star rating (1-2
  negative, 3 neutral, 4-5 positive: the path for unsupported languages), a mild 3-star
  post (neutral), a 3-star post naming a failure (negative), a plain notice (neutral) and
  a negated failure ("nothing damaged": not negative). A weakly regularised fit can
  learn dataset shortcuts (it learned "short post -> neutral" from the length feature,
  which `features` now reads only beyond `features.SHORT` tokens) that cross-validation
  on posts of typical length does not punish. If no setting passes, nothing is written.
  Each candidate first gets its negative-intercept shift (`choose_shift`, from its
  pooled out-of-fold scores), and the gate judges the shifted model;
- final fit: all dev posts, cross-fitted features of both random seeds stacked,
  with the kept settings. Non-English posts (scored by the es/fr/de keyword lexicons, not
  by this model) are left out of fitting but counted in every score.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from listener.scoring.features import FEATURES
from listener.scoring.lexicon import builtin_cues
from listener.scoring.matcher import PhraseMatcher, phrase_tokens
from listener.scoring.model import LABELS, LinearModel, gram_norm
from listener.scoring.scorer import Scorer
from listener.scoring.sentiment import SentimentEngine, _tokenise
from listener.types import Author, Mention
from socialear.config import Brand, RulesConfig

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "labelled" / "posts.jsonl"
EXTRA = ROOT / "tests" / "data" / "labelled" / "train_extra.jsonl"  # all dev
EXTRA2 = ROOT / "tests" / "data" / "labelled" / "train_extra2.jsonl"  # all dev
SHORT = ROOT / "tests" / "data" / "labelled" / "train_short.jsonl"  # all dev: 1-6 word posts
TOPICS = ROOT / "tests" / "data" / "labelled" / "train_topics.jsonl"  # all dev: topic words, no complaint
OUT = Path(__file__).resolve().parent / "model_weights.py"

K = 5
SEEDS: tuple[int | str, ...] = (0, 1, "writer")  # two random 5-fold splits, and leave-one-writer-out
RANDOM_SEEDS = tuple(s for s in SEEDS if s != "writer")
# train_extra2.jsonl was written by two helpers (A, B) with their own brands: telling them
# apart makes leave-one-writer-out possible without a field outside the record format
_WRITER_A_BRANDS = frozenset(
    "Quillfield Mobile|Skerry Broadband|Ardent Telecom|Halcyon Airways|Puffin Air|Vantage Skies|Cobble & Vine|"
    "Marketly|Heronsgate Home|Spoonrun|Larchline Trains|Covewell Insurance|Glimmerbox|Rookery Inns|"
    "Tollgate Car Hire|Ironfern Gyms|Swiftmoth Parcels|Ledgerly|Zipcab".split("|")
)
LAMBDAS = (0.001, 0.003, 0.01, 0.03)
CLASS_WEIGHTS = ("none", "balanced")
# learned-gram column value (single words, word pairs); 0: none of that kind
SCALES: tuple[tuple[float, float], ...] = ((0.0, 0.0), (2.0, 6.0), (4.0, 4.0), (4.0, 6.0), (6.0, 6.0))
MIN_BRANDS = 3  # a gram must occur in posts about this many brands to be learned
PRUNE = 0.01  # learned words whose class weights all stay within this are dropped
NEG_PRECISION_FLOOR = 0.88  # `choose_shift`: trade recall for precision only down to here
# (text, star rating, acceptable labels) the kept model must get right: see the docstring
SANITY: tuple[tuple[str, int | None, tuple[str, ...]], ...] = (
    ("terrible", None, ("negative",)),
    ("awful", None, ("negative",)),
    ("awful service", None, ("negative",)),
    ("worst service ever", None, ("negative",)),
    ("great", None, ("positive",)),
    ("love it", None, ("positive",)),
    ("thanks, sorted!", None, ("positive",)),
    ("", 1, ("negative",)),
    ("", 2, ("negative",)),
    ("", 3, ("neutral",)),
    ("", 4, ("positive",)),
    ("", 5, ("positive",)),
    ("It's fine. Nice enough.", 3, ("neutral",)),
    ("Support kept me on hold for an hour.", 3, ("negative",)),
    ("The store on King Street opens at 9.", None, ("neutral",)),
    ("The parcel has arrived, nothing damaged", None, ("neutral", "positive")),
)

Row = tuple[list[tuple[int, float]], list[str], int]  # sparse features, grams, label index
# a fold model's raw scores on its test posts: cross-fitted features, full-lexicon features
OutOfFold = tuple[list[tuple[float, float, float]], list[tuple[float, float, float]]]


# -- data ---------------------------------------------------------------------------------
def load_dev(paths: Sequence[Path] = (DATA, EXTRA, EXTRA2, SHORT, TOPICS)) -> list[dict[str, Any]]:
    """The `split == "dev"` records of each file, in order (ids must not repeat)."""
    dev: list[dict[str, Any]] = []
    for path in paths:
        if path in (EXTRA2, SHORT, TOPICS) and not path.exists():
            continue  # the newest training file is optional while it is being written
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        dev.extend(r for r in records if r["split"] == "dev")
    assert dev and all(r["split"] == "dev" for r in dev)
    assert len({r["id"] for r in dev}) == len(dev)
    return dev


def writer_of(record: dict[str, Any]) -> int:
    """Which writer wrote a dev post: posts.jsonl, train_extra, train_extra2 A / B, and the
    two small targeted sets (train_short, train_topics) together as a fifth."""
    prefix = record["id"][0]
    if prefix == "V":
        return 2 if record["brand"] in _WRITER_A_BRANDS else 3
    return {"L": 0, "T": 1, "S": 4, "P": 4}[prefix]


def folds_for(records: Sequence[dict[str, Any]], seed: int | str, k: int = K) -> list[int]:
    """Fold index per record: stratified by label, order by sha256(seed:id), round-robin;
    or, for seed "writer", the writer (`writer_of`): each fold is one writer's posts."""
    if seed == "writer":
        return [writer_of(r) for r in records]
    fold = [0] * len(records)
    for label in LABELS:
        idx = [i for i, r in enumerate(records) if r["label"] == label]
        idx.sort(key=lambda i: hashlib.sha256(f"{seed}:{records[i]['id']}".encode()).hexdigest())
        for n, i in enumerate(idx):
            fold[i] = n % k
    return fold


def bench_rules() -> RulesConfig:
    """The same rules `bench/quality.py` scores with: built-in lexicon, no brand vocabulary."""
    return RulesConfig(brands=[Brand(name="Brand", query="brand")])


def _mention(i: int, record: dict[str, Any]) -> Mention:
    return Mention(
        source="train",
        platform="train",
        external_id=str(i),
        text=record["text"],
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        author=Author(platform="train", handle="u"),
        rating=record["rating"],
    )


def phrases_seen(engine: SentimentEngine, texts: Sequence[str]) -> list[set[tuple[str, ...]]]:
    """For each text, the built-in phrases occurring in it (overlapping matches included)."""
    matcher: PhraseMatcher[tuple[str, ...]] = PhraseMatcher()
    for phrase, _cue in builtin_cues():
        matcher.add(phrase, phrase_tokens(phrase))
    out = []
    for text in texts:
        tokens = _tokenise(engine._prepare(text))[2]
        out.append({value for _s, _e, value in matcher.find_all(tokens)})
    return out


def _zero_model() -> LinearModel:
    """A model that only makes the engine compute features (its labels are not used)."""
    zeros = (0.0,) * len(FEATURES)
    return LinearModel({c: zeros for c in LABELS}, {c: 0.0 for c in LABELS})


class Featuriser:
    """Scores dev posts with the scorer's own path (language gate included)."""

    def __init__(self, records: Sequence[dict[str, Any]]) -> None:
        self.records = records
        self.scorer = Scorer(bench_rules(), model=None)
        self.full = SentimentEngine(None, model=_zero_model(), keep_grams=True)
        self.mentions = [_mention(i, r) for i, r in enumerate(records)]
        self.seen = phrases_seen(self.full, [r["text"] for r in records])
        # which posts the English model scores; the others keep the keyword/unsupported label
        self.english: list[bool] = []
        self.fixed: list[str | None] = []
        for m, r in zip(self.mentions, records, strict=True):
            tokens = self.full.analyse(r["text"], r["rating"]).tokens
            supported = self.scorer.language.supported(self.scorer.language.detect(r["text"], tokens, None))
            self.english.append(supported)
            self.fixed.append(None if supported else self.scorer.score(m).sentiment.label)

    def excluded(self, fold: Sequence[int], k: int) -> set[tuple[str, ...]]:
        """Built-in phrases that occur in fold k's posts and in no other dev post."""
        inside: set[tuple[str, ...]] = set()
        outside: set[tuple[str, ...]] = set()
        for f, seen in zip(fold, self.seen, strict=True):
            (inside if f == k else outside).update(seen)
        return inside - outside

    def rows(self, engine: SentimentEngine) -> tuple[list[Row], list[str]]:
        """Features and the rules' own label for every post, with this engine."""
        rows: list[Row] = []
        rule_labels: list[str] = []
        for r in self.records:
            a = engine.analyse(r["text"], r["rating"])
            c = a.sentiment.compound
            rule_labels.append("positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral")
            rows.append((a.features, a.grams, LABELS.index(r["label"])))
        return rows, rule_labels

    def cross_fitted(self, fold: Sequence[int]) -> tuple[list[Row], list[str], dict[int, int]]:
        """Each post featurised by the engine of its own fold; and how many phrases each dropped."""
        rows: list[Row] = [([], [], 0)] * len(self.records)
        rule_labels = [""] * len(self.records)
        dropped: dict[int, int] = {}
        for k in range(K):
            excluded = self.excluded(fold, k)
            dropped[k] = len(excluded)
            engine = SentimentEngine(None, model=_zero_model(), exclude=excluded, keep_grams=True)
            fold_rows, fold_rules = self.rows(engine)
            for i, f in enumerate(fold):
                if f == k:
                    rows[i] = fold_rows[i]
                    rule_labels[i] = fold_rules[i]
        return rows, rule_labels, dropped

    def final(self, predicted: Sequence[str], indices: Sequence[int]) -> list[str]:
        """Predictions for `indices`, with the fixed label for non-English posts."""
        out = []
        for i, p in zip(indices, predicted, strict=True):
            out.append(self.fixed[i] or p)
        return out


# -- the model ------------------------------------------------------------------------------
def vocabulary(rows: Sequence[Row], brands: Sequence[str], indices: Sequence[int]) -> list[str]:
    """Grams used in posts about at least MIN_BRANDS different brands, among `indices`.

    A brand name, handle or product name occurs for one brand only, so it never becomes a
    learned word; nor does a phrase one brand's customers happen to repeat."""
    seen: dict[str, set[str]] = {}
    for i in indices:
        brand = brands[i]
        for gram in rows[i][1]:
            seen.setdefault(gram, set()).add(brand)
    return sorted(g for g, b in seen.items() if len(b) >= MIN_BRANDS)


def fit(
    rows: Sequence[Row], lam: float, scheme: str, scale: tuple[float, float] = (0.0, 0.0), vocab: Sequence[str] = ()
) -> LinearModel:
    """Multinomial logistic regression: dense features, plus one column per vocabulary gram
    (value `scale * model.gram_norm(grams in the post)`, so `scale` sets how strongly the shared L2
    penalty holds the words back)."""
    try:
        import numpy as np
        from scipy.optimize import minimize
        from scipy.sparse import csr_matrix
    except ImportError as exc:  # training is a development task: `pip install -e '.[dev]'`
        raise SystemExit(f"training needs numpy and scipy ({exc}); install the dev extras: pip install -e '.[dev]'") from None
    d = len(FEATURES)
    unigram, pair = scale
    # per gram: its column and its scale (single words and word pairs may be held back differently)
    column = {g: d + k for k, g in enumerate(g for g in vocab if (pair if " " in g else unigram))}
    gram_scale = {g: (pair if " " in g else unigram) for g in column}
    data: list[float] = []
    cols: list[int] = []
    indptr = [0]
    for x, grams, _y in rows:
        for j, v in x:
            cols.append(j)
            data.append(v)
        norm = gram_norm(len(grams))  # as `LinearModel` applies them
        for g in grams:
            c = column.get(g)
            if c is not None:
                cols.append(c)
                data.append(gram_scale[g] * norm)
        indptr.append(len(cols))
    p = d + len(column)
    X = csr_matrix((np.array(data), np.array(cols, dtype=np.int64), np.array(indptr)), shape=(len(rows), p))
    y = np.array([row[2] for row in rows])
    n, nc = len(rows), len(LABELS)
    onehot = np.eye(nc)[y]
    sw = np.ones(n)
    if scheme == "balanced":
        counts = np.bincount(y, minlength=nc)
        sw = n / (nc * counts[y])
    sw = sw / sw.sum()
    rows_n = np.arange(n)

    def loss_grad(theta: Any) -> tuple[float, Any]:
        W = theta[: p * nc].reshape(p, nc)
        b = theta[p * nc :]
        S = X @ W + b
        S = S - S.max(axis=1, keepdims=True)
        E = np.exp(S)
        Z = E.sum(axis=1)
        loss = -float((sw * (S[rows_n, y] - np.log(Z))).sum()) + 0.5 * lam * float((W * W).sum())
        G = (E / Z[:, None] - onehot) * sw[:, None]
        return loss, np.concatenate([(X.T @ G + lam * W).ravel(), G.sum(axis=0)])

    result = minimize(loss_grad, np.zeros(p * nc + nc), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    W = result.x[: p * nc].reshape(p, nc)
    b = result.x[p * nc :]
    weights = {c: [float(w) for w in W[:d, i]] for i, c in enumerate(LABELS)}
    bias = {c: float(b[i]) for i, c in enumerate(LABELS)}
    lexical = {}
    for g, k in column.items():
        ws = W[k] * gram_scale[g]
        ws = ws - ws.mean()  # only differences between classes matter
        if float(np.abs(ws).max()) >= PRUNE:
            lexical[g] = [float(w) for w in ws]
    return LinearModel(weights, bias, lexical=lexical)


def shifted(model: LinearModel, shift: float) -> LinearModel:
    """The same model with `shift` added to the negative class's intercept."""
    bias = dict(model.bias)
    bias["negative"] += shift
    return LinearModel(model.weights, bias, lexical=model.lexical)


def choose_shift(scores: Sequence[tuple[float, float, float]], gold: Sequence[str]) -> tuple[float, dict[str, float]]:
    """The negative-intercept shift (out-of-fold scores, pooled) with the best negative
    recall whose negative precision stays >= NEG_PRECISION_FLOOR; 0 when none qualifies
    or when no shift beats the unshifted model's recall."""
    best = (0.0, -1.0, 0.0)
    for step in range(-20, 21):
        shift = step * 0.05
        predicted = [LABELS[_argmax((s0 + shift, s1, s2))] for s0, s1, s2 in scores]
        r = report(gold, predicted)
        if r["neg_precision"] >= NEG_PRECISION_FLOOR and (r["neg_recall"], -abs(shift)) > (best[1], -abs(best[0])):
            best = (shift, r["neg_recall"], r["neg_precision"])
    shift = round(best[0], 2)
    predicted = [LABELS[_argmax((s0 + shift, s1, s2))] for s0, s1, s2 in scores]
    return shift, {k: round(v, 3) for k, v in report(gold, predicted).items()}


def _argmax(s: tuple[float, float, float]) -> int:
    return 0 if s[0] >= s[1] and s[0] >= s[2] else 1 if s[1] >= s[2] else 2


# -- scores ---------------------------------------------------------------------------------
def report(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    f1s = []
    for label in LABELS:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p != label)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
        if label == "negative":
            out["neg_precision"], out["neg_recall"] = prec, rec
    out["macro_f1"] = sum(f1s) / len(f1s)
    out["accuracy"] = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p) / len(gold)
    return out


def mean(reports: Sequence[dict[str, float]]) -> dict[str, float]:
    return {k: round(sum(r[k] for r in reports) / len(reports), 3) for k in reports[0]}


def predict(model: LinearModel, rows: Sequence[Row]) -> list[str]:
    return [LABELS[_argmax(model._raw(x, grams))] for x, grams, _y in rows]


def sanity_failures(model: LinearModel) -> list[dict[str, Any]]:
    """`SANITY` posts the model labels wrongly, scored with the run-time path (full lexicon)."""
    engine = SentimentEngine(None, model=model)
    failures = []
    for text, rating, labels in SANITY:
        got = engine.analyse(text, rating).sentiment.label
        if got not in labels:
            failures.append({"text": text, "rating": rating, "expected": labels, "got": got})
    return failures


def _round(v: float) -> float:
    return round(v, 4) + 0.0  # no "-0.0"


def write_weights(model: LinearModel, training: dict[str, Any], path: Path = OUT) -> None:
    lines = [
        '"""Learned weights of the sentiment decision layer. GENERATED: do not edit by hand.',
        "",
        "Regenerate with `python -m listener.scoring.train` (see its docstring for the data,",
        "folds, cross-fitting and regularisation). `TRAINING` records how these were made and",
        "the cross-validated scores on the dev data (before: the rules alone; after: this model).",
        "`LEXICAL` holds the learned words and word pairs (`features.grams`), one weight per class.",
        '"""',
        "",
        f"FEATURES = {FEATURES!r}",
        f"LABELS = {LABELS!r}",
        "BIAS = {",
        *(f'    "{c}": {_round(model.bias[c])!r},' for c in LABELS),
        "}",
        "WEIGHTS = {",
    ]
    for c in LABELS:
        lines.append(f'    "{c}": (')
        for name, w in zip(FEATURES, model.weights[c], strict=True):
            lines.append(f"        {_round(w)!r},  # {name}")
        lines.append("    ),")
    lines.append("}")
    lines.append("LEXICAL = {")
    for gram in sorted(model.lexical):
        ws = ", ".join(repr(_round(w)) for w in model.lexical[gram])
        lines.append(f"    {gram!r}: ({ws}),")
    lines.append("}")
    lines.append(f"TRAINING = {json.dumps(training, indent=4)}")
    text = "\n".join(lines) + "\n"
    text = text.replace(": true", ": True").replace(": false", ": False").replace(": null", ": None")
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="cross-validate only; write nothing")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    records = load_dev()
    gold = [r["label"] for r in records]
    brands = [r["brand"] for r in records]
    feats = Featuriser(records)
    english = [i for i, e in enumerate(feats.english) if e]
    full_rows, full_rules = feats.rows(feats.full)
    before_in_sample = report(gold, feats.final(full_rules, range(len(records))))

    per_seed = {}
    for seed in SEEDS:
        fold = folds_for(records, seed)
        rows, rules, dropped = feats.cross_fitted(fold)
        per_seed[seed] = (fold, rows, rules, dropped)
        print(f"seed {seed}: phrases dropped per fold {dropped}", file=sys.stderr)
    # per seed and fold: the training posts and the learned-word vocabulary they allow
    splits = {}
    for seed in SEEDS:
        fold = per_seed[seed][0]
        for k in range(K):
            train = [i for i in english if fold[i] != k]
            test = [i for i in range(len(records)) if fold[i] == k]
            splits[seed, k] = (train, test, vocabulary(per_seed[seed][1], brands, train))

    def rules_by_fold(labels_of: Callable[[int | str], Sequence[str]]) -> dict[str, float]:
        """The rules' labels (per seed: `labels_of(seed)[i]`), scored fold by fold."""
        reports = []
        for seed in RANDOM_SEEDS:
            labels = labels_of(seed)
            for k in range(K):
                test = splits[seed, k][1]
                reports.append(report([gold[i] for i in test], feats.final([labels[i] for i in test], test)))
        return mean(reports)

    before_cf = rules_by_fold(lambda seed: per_seed[seed][2])
    before_in_sample_folds = rules_by_fold(lambda _seed: full_rules)

    def out_of_fold(lam: float, scheme: str, scale: tuple[float, float]) -> dict[tuple[int | str, int], OutOfFold]:
        """Per (seed, fold): the fold model's raw scores on its test posts, with the
        cross-fitted and the full-lexicon features. Everything later is read from these,
        so each setting is fitted once per fold."""
        raw = {}
        for seed in SEEDS:
            rows = per_seed[seed][1]
            for k in range(K):
                train, test, vocab = splits[seed, k]
                if test:
                    m = fit([rows[i] for i in train], lam, scheme, scale, vocab)
                    raw[seed, k] = (
                        [m._raw(rows[i][0], rows[i][1]) for i in test],
                        [m._raw(full_rows[i][0], full_rows[i][1]) for i in test],
                    )
        return raw

    def scored(
        raw: dict[tuple[int | str, int], OutOfFold],
        shift: float = 0.0,
        seeds: Sequence[int | str] = RANDOM_SEEDS,
        full_lexicon: bool = False,
    ) -> dict[str, float]:
        reports = []
        for (seed, k), both in raw.items():
            if seed in seeds:
                test = splits[seed, k][1]
                predicted = [LABELS[_argmax((a + shift, b, c))] for a, b, c in both[full_lexicon]]
                reports.append(report([gold[i] for i in test], feats.final(predicted, test)))
        return mean(reports)

    grid = []
    oof = []
    for scheme in CLASS_WEIGHTS:
        for lam in LAMBDAS:
            for scale in SCALES:
                raw = out_of_fold(lam, scheme, scale)
                scores = scored(raw)
                writer = scored(raw, seeds=("writer",))
                grid.append(
                    {
                        "lambda": lam,
                        "class_weight": scheme,
                        "scale": scale,
                        **scores,
                        "writer": writer,
                        "rank": round((scores["macro_f1"] + writer["macro_f1"]) / 2, 4),
                    }
                )
                oof.append(raw)
                print(json.dumps(grid[-1]), file=sys.stderr)

    stacked = [per_seed[seed][1][i] for seed in RANDOM_SEEDS for i in english]
    final_vocab = vocabulary(full_rows, brands, english)
    rejected = []
    for n in sorted(range(len(grid)), key=lambda n: (grid[n]["rank"], grid[n]["neg_recall"]), reverse=True):
        best, raw = grid[n], oof[n]
        lam, scheme = float(best["lambda"]), str(best["class_weight"])  # type: ignore[arg-type]
        scale = (float(best["scale"][0]), float(best["scale"][1]))  # type: ignore[index]
        # the operating point: out-of-fold scores of these settings (English posts), pooled
        pooled: list[tuple[float, float, float]] = []
        pooled_gold: list[str] = []
        for (seed, k), (scores_cf, _full) in raw.items():
            for i, score in zip(splits[seed, k][1], scores_cf, strict=True):
                if feats.fixed[i] is None:
                    pooled.append(score)
                    pooled_gold.append(gold[i])
        shift, at_shift = choose_shift(pooled, pooled_gold)
        model = shifted(fit(stacked, lam, scheme, scale, final_vocab), shift)
        failures = sanity_failures(model)
        if not failures:
            break
        rejected.append({"lambda": lam, "class_weight": scheme, "scale": scale, "sanity_failures": [f["text"] for f in failures]})
        print(f"rejected lambda={lam} class_weight={scheme} scale={scale}: {failures}", file=sys.stderr)
    else:
        print("no setting passes the sanity list; nothing written", file=sys.stderr)
        return 1

    # the chosen settings with their shift; also on the full-lexicon (in-sample cue) features
    after_shifted = scored(raw, shift)
    after_shifted_writer = scored(raw, shift, ("writer",))
    after_full_lexicon = scored(raw, shift, full_lexicon=True)
    in_sample_after = report(gold, feats.final(predict(model, full_rows), range(len(records))))
    files = [str(p.relative_to(ROOT)) for p in (DATA, EXTRA, EXTRA2, SHORT, TOPICS) if p.exists()]
    training = {
        "data": "split == 'dev' only: " + " + ".join(files),
        "n_dev": len(records),
        "n_fitted_rows": len(stacked),
        "dev_sha256": hashlib.sha256("\n".join(json.dumps(r, sort_keys=True) for r in records).encode()).hexdigest(),
        "model": "multinomial logistic regression over the dense features and learned grams, L2 on weights (not intercepts), L-BFGS, mean log-loss",
        "folds": f"{K}-fold stratified by label, sha256(seed:id) order, seeds {list(SEEDS)}",
        "features": "cross-fitted: each post featurised without built-in phrases seen only in its own fold; "
        f"learned grams: those used for >= {MIN_BRANDS} brands in the training folds",
        "chosen": {"lambda": lam, "class_weight": scheme, "scale": scale, "negative_shift": shift},
        "selection": "best CV macro-F1 among settings whose final fit passes the SANITY list; then the negative "
        f"intercept shift with the best pooled out-of-fold negative recall at precision >= {NEG_PRECISION_FLOOR}",
        "learned_grams": len(model.lexical),
        "sanity": [{"text": t, "rating": r, "labels": list(labs)} for t, r, labs in SANITY],
        "rejected_by_sanity": rejected,
        "cv_before_rules_cross_fitted": before_cf,
        "cv_before_rules_in_sample": before_in_sample_folds,
        "cv_after_model_cross_fitted": {k: v for k, v in best.items() if k not in ("lambda", "class_weight", "scale")},
        "cv_after_model_shifted": after_shifted,
        "leave_one_writer_out_after_model_shifted": after_shifted_writer,
        "pooled_out_of_fold_at_shift": at_shift,
        "cv_after_model_full_lexicon": after_full_lexicon,
        "dev_in_sample_before": {k: round(v, 3) for k, v in before_in_sample.items()},
        "dev_in_sample_after": {k: round(v, 3) for k, v in in_sample_after.items()},
        "grid": grid,
    }
    print(json.dumps({k: v for k, v in training.items() if k != "grid"}, indent=1))
    print(f"{time.perf_counter() - started:.0f}s", file=sys.stderr)
    if not args.dry_run:
        write_weights(model, training)
        print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
