"""Boolean brand queries: how `rules.yaml` says which posts mention a brand.

Care teams already write queries for Brandwatch, Talkwalker or Sprinklr, so socialear
accepts the same dialect instead of inventing one; a query can be pasted across.

Grammar (parsed with lark, LALR; precedence from tightest to loosest):

    primary  := WORD | "PHRASE" | ( or )        WORD: term, @handle, #hashtag, stem*
    near     := primary [NEAR/n primary]         NEAR binds tightest and does not chain
    unary    := NOT unary | -unary | near        `-` must touch what it excludes: -foo
    and      := unary ([AND] unary)*             adjacency is an implicit AND
    or       := and (OR and)*

Design choices, and why:

* Operators are upper case only (AND, OR, NOT, NEAR/n), as in Brandwatch: a lower-case
  `and`/`or`/`not` is an ordinary word to look for ("stuck on hold or cut off").
  Quote an upper-case word to search for it: `"AND"`.
* Matching works on word tokens, never raw substrings, so `nimbus` does not hit
  `nimbusy`. Text and queries are NFC-normalised and case-folded, and tokens keep
  combining marks (Devanagari, Arabic diacritics) inside the word. `@handle` and
  `#hashtag` are tokens of their own; a plain term also matches its hashtag (`outage`
  hits `#outage`) but not a handle, because a handle names an account, not a topic.
* Scripts written without spaces (Chinese, Japanese, Korean, Thai...) have no word
  boundaries to honour, so a term in those scripts matches as a substring.
* A word with inner punctuation (`t-mobile`, `at&t`, `don't`) is the phrase of its
  tokens, so it matches "T-Mobile", "T Mobile" and "don’t" alike.
* `NEAR/n` allows at most n words *between* its operands, in either order (Brandwatch's
  meaning: NEAR/0 is adjacency). Operands are terms, phrases, wildcards, handles,
  hashtags, or a parenthesised OR of those. Overlapping hits (the same word satisfying
  both sides) do not count. A phrase is measured from its nearer end.
* Only suffix wildcards (`telco*`): a leading `*` would need a scan of every token.
* A query that only excludes (`-foo`, `a OR -b`) would match almost every post, so it is
  rejected at load time rather than flooding a queue.
* Errors are `QueryError` with a 1-based column (character offset into the source) so
  the config loader can point at the exact spot.

Speed: a query is parsed once and compiled to closures over a `PreparedText` (the token
list, a token set and the folded text). Plain terms under AND/OR collapse into one set
operation. Callers matching many brands prepare the text once (`prepare_text`) or pass
tokens to `Query.matches_tokens`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedToken, VisitError

if TYPE_CHECKING:
    from socialear.config import Problem, RulesConfig

__all__ = [
    "And",
    "Handle",
    "Hashtag",
    "Near",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "PreparedText",
    "Query",
    "QueryError",
    "Term",
    "Wildcard",
    "parse_query",
    "prepare_text",
    "to_x_query",
    "tokenize",
]

X_QUERY_LIMIT = 512

# \w misses combining marks (Mn/Mc), which would cut Indic and Arabic words in pieces.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    "\u0900-\u0963\u0966-\u0dff\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u200c\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f"
)
_W = rf"[\w{_MARKS}]"
_TOKEN_RE = re.compile(rf"(?<!{_W})[@#]{_W}+|{_W}+")
# _TOKEN_RE on ASCII text (no mark is ASCII), whose `\w` is [a-zA-Z0-9_] with or without
# re.ASCII; with it, a table look-up per character instead of a Unicode database query
_ASCII_TOKEN_RE = re.compile(r"(?<!\w)[@#]\w+|\w+", re.ASCII)
_WORD_RE = re.compile(rf"{_W}+")
# Scripts written without spaces between words: match their terms as substrings.
_UNSPACED_RE = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
)
_NEAR_RE = re.compile(r"NEAR/(\d{1,3})")


class QueryError(ValueError):
    """A query that cannot be parsed or translated; `column` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


# --- the tree -----------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A single word, as written (`Outage`)."""

    text: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Phrase:
    """Words that must appear consecutively; `text` is the inside of the quotes."""

    text: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Handle:
    """An account mention; `name` excludes the `@`."""

    name: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Hashtag:
    """A hashtag; `tag` excludes the `#`."""

    tag: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Wildcard:
    """A suffix wildcard; `stem` excludes the `*` and may start with `@` or `#`."""

    stem: str
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    child: Node
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int  # most words allowed between the two operands
    column: int = field(default=0, compare=False)


Leaf = Term | Phrase | Handle | Hashtag | Wildcard
Node = Leaf | And | Or | Not | Near
_LEAVES = (Term, Phrase, Handle, Hashtag, Wildcard)


def _source(node: Node) -> str:
    """Canonical query text for a node (used in messages and `terms()`)."""
    if isinstance(node, Term):
        return node.text
    if isinstance(node, Phrase):
        return f'"{node.text}"'
    if isinstance(node, Handle):
        return f"@{node.name}"
    if isinstance(node, Hashtag):
        return f"#{node.tag}"
    if isinstance(node, Wildcard):
        return f"{node.stem}*"
    if isinstance(node, Not):
        return f"-{_grouped(node.child, (And, Or, Near))}"
    if isinstance(node, Near):
        left, right = (_grouped(side, (Or,)) for side in (node.left, node.right))
        return f"{left} NEAR/{node.distance} {right}"
    if isinstance(node, And):
        return " ".join(_grouped(child, (Or,)) for child in node.children)
    return " OR ".join(_grouped(child, (And,)) for child in node.children)


def _grouped(node: Node, kinds: tuple[type, ...]) -> str:
    return f"({_source(node)})" if isinstance(node, kinds) else _source(node)


# --- tokenizing the text ---------------------------------------------------------------


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFC", text).casefold()


def tokenize(text: str) -> list[str]:
    """Word tokens of `text`: case-folded, NFC, `@handle` and `#tag` kept whole."""
    if text.isascii():  # no combining mark in it: `\w` alone, which the regex engine tests faster
        return _ASCII_TOKEN_RE.findall(text.lower())
    return _TOKEN_RE.findall(_fold(text))


class PreparedText:
    """A text tokenized once, to be matched against many queries."""

    __slots__ = ("_index", "text", "tokens", "words")

    def __init__(self, tokens: list[str], text_lower: str) -> None:
        self.tokens = tokens
        self.text = text_lower
        words = set(tokens)
        if "#" in text_lower:  # a hashtag also counts as its bare word
            words.update(token[1:] for token in tokens if token[0] == "#")
        self.words = words
        self._index: dict[str, list[int]] | None = None

    def positions(self, word: str) -> list[int]:
        """Token indexes where `word` (or `#word`) occurs."""
        if self._index is None:
            index: dict[str, list[int]] = {}
            for i, token in enumerate(self.tokens):
                index.setdefault(token, []).append(i)
                if token[0] == "#":
                    index.setdefault(token[1:], []).append(i)
            self._index = index
        return self._index.get(word, [])


def prepare_text(text: str) -> PreparedText:
    """Tokenize `text` once for `Query.matches_prepared` over many queries."""
    folded = _fold(text)
    return PreparedText((_ASCII_TOKEN_RE if folded.isascii() else _TOKEN_RE).findall(folded), folded)


# --- parsing -------------------------------------------------------------------------

_STOP = r'[^\s()"“”]'
_GRAMMAR = rf"""
?start: or_expr
?or_expr: and_expr (OR and_expr)*
?and_expr: unary (AND? unary)*
?unary: NOT unary -> negate
      | MINUS unary -> negate
      | near
?near: primary NEAR primary -> near
     | primary
?primary: WORD -> word
        | PHRASE -> phrase
        | LPAR or_expr RPAR -> group

OR.3: /OR(?!{_STOP})/
AND.3: /AND(?!{_STOP})/
NOT.3: /NOT(?!{_STOP})/
NEAR.3: /NEAR(?:\/{_STOP}*)?(?!{_STOP})/
MINUS: /-(?=\S)/
LPAR: "("
RPAR: ")"
PHRASE: /"[^"]*"|“[^”]*”/
WORD: /[^\s()"“”\-]{_STOP}*/
%ignore /\s+/
"""
_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="basic")
_OPERATORS = {"AND", "OR", "NOT", "MINUS", "NEAR"}


def _column(token: Token) -> int:
    return (token.start_pos or 0) + 1


def _word_node(text: str, column: int) -> Node:
    if "*" in text:
        return _wildcard_node(text, column)
    if text[0] in "@#":
        return _account_or_tag(text, column)
    words = tokenize(text)
    if not words:
        raise QueryError(f"{text!r} has no letters or digits to look for", column)
    # Inner punctuation (t-mobile, at&t) splits into several tokens: match them in order.
    return Term(text, column) if len(words) == 1 else Phrase(text, column)


def _account_or_tag(text: str, column: int) -> Node:
    kind = "handle" if text[0] == "@" else "hashtag"
    if not _WORD_RE.fullmatch(text[1:]):
        raise QueryError(f"a {kind} is {text[0]} followed by letters, digits or _: {text}", column)
    return Handle(text[1:], column) if kind == "handle" else Hashtag(text[1:], column)


def _wildcard_node(text: str, column: int) -> Wildcard:
    star = text.index("*")
    if star == 0:
        raise QueryError(
            f"a wildcard needs a word before '*' (only suffix wildcards like telco*): {text}",
            column,
        )
    if star != len(text) - 1:
        raise QueryError(f"'*' is only allowed at the end of a word: {text}", column + star)
    stem = text[:-1]
    body = stem[1:] if stem[0] in "@#" else stem
    if not _WORD_RE.fullmatch(body):
        raise QueryError(f"a wildcard must be one word followed by '*': {text}", column)
    return Wildcard(stem, column)


def _phrase_node(token: Token) -> Phrase:
    inner, column = token.value[1:-1], _column(token)
    if "*" in inner:
        raise QueryError("wildcards are not supported inside quoted phrases", column)
    if not tokenize(inner):
        raise QueryError("empty phrase: put words between the quotes", column)
    return Phrase(inner, column)


def _near_operand(node: Node) -> Node:
    ok = isinstance(node, _LEAVES) or (
        isinstance(node, Or) and all(isinstance(child, _LEAVES) for child in node.children)
    )
    if not ok:
        raise QueryError(
            f"NEAR joins terms, phrases, wildcards or an OR-group of them, not {_source(node)!r}",
            node.column,
        )
    return node


def _flatten(kind: type[And] | type[Or], children: list[Node]) -> tuple[Node, ...]:
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else (child,))
    return tuple(flat)


class _ToTree(Transformer[Token, Node]):
    def word(self, items: list[Token]) -> Node:
        return _word_node(items[0].value, _column(items[0]))

    def phrase(self, items: list[Token]) -> Node:
        return _phrase_node(items[0])

    # lark types a rule's children as one list; the grammar fixes which position holds a
    # Token (an operator) and which a Node, so the ignores below name that position
    def group(self, items: list[Token | Node]) -> Node:
        return items[1]  # type: ignore[return-value]  # "(" Node ")"

    def negate(self, items: list[Token | Node]) -> Node:
        return Not(items[1], _column(items[0]))  # type: ignore[arg-type]  # "-" Node

    def near(self, items: list[Token | Node]) -> Node:
        left, op, right = items
        # Node NEAR/n Node; the NEAR token matched _NEAR_RE in the lexer
        distance = int(_NEAR_RE.fullmatch(op.value).group(1))  # type: ignore[union-attr]
        return Near(_near_operand(left), _near_operand(right), distance, left.column)  # type: ignore[arg-type]

    def and_expr(self, items: list[Token | Node]) -> Node:
        nodes = [item for item in items if not isinstance(item, Token)]
        return And(_flatten(And, nodes), nodes[0].column)

    def or_expr(self, items: list[Token | Node]) -> Node:
        nodes = [item for item in items if not isinstance(item, Token)]
        return Or(_flatten(Or, nodes), nodes[0].column)


def _lex(text: str) -> list[Token]:
    try:
        return list(_PARSER.lex(text))
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream or 0
        char, column = text[pos], pos + 1
        if char in '"“':
            raise QueryError("unterminated quote: add the closing quote", column) from None
        if char == "-":
            raise QueryError("'-' must touch the term, phrase or group it excludes, like -foo", column) from None
        raise QueryError(f"unexpected character {char!r}", column) from None


def _check_tokens(tokens: list[Token]) -> None:
    """Errors easier to name from the token stream: parentheses and NEAR distances."""
    open_parens: list[Token] = []
    for token in tokens:
        if token.type == "LPAR":
            open_parens.append(token)
        elif token.type == "RPAR":
            if not open_parens:
                raise QueryError("unmatched ')'", _column(token))
            open_parens.pop()
        elif token.type == "NEAR" and not _NEAR_RE.fullmatch(token.value):
            raise QueryError(
                f"bad {token.value}: NEAR needs a word distance from 0 to 999, like NEAR/3",
                _column(token),
            )
    if open_parens:
        raise QueryError("unclosed '(': add the matching ')'", _column(open_parens[-1]))


def _describe(token: Token) -> str:
    return {"MINUS": "'-'", "LPAR": "'('", "RPAR": "')'"}.get(token.type, str(token))  # a Token is its text


def _syntax_error(text: str, tokens: list[Token], exc: UnexpectedToken) -> QueryError:
    bad: Token = exc.token
    at_end = bad.type == "$END"
    column = len(text.rstrip()) + 1 if at_end else _column(bad)
    before = [t for t in tokens if at_end or (t.start_pos or 0) < (bad.start_pos or 0)]
    prev = before[-1] if before else None
    if prev is None:
        return QueryError(f"expected a term before {_describe(bad)}", column)
    if prev.type in _OPERATORS:
        return QueryError(f"expected a term after {_describe(prev)}", column)
    if prev.type == "LPAR":
        message = "empty parentheses" if bad.type == "RPAR" else "expected a term after '('"
        return QueryError(message, _column(prev) if bad.type == "RPAR" else column)
    if bad.type == "NEAR":
        return QueryError("NEAR cannot be chained: it joins exactly two operands", column)
    return QueryError(f"unexpected {_describe(bad)}", column)


def _is_positive(node: Node) -> bool:
    """Whether matching `node` requires something to be present in the text."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(_is_positive(child) for child in node.children)
    if isinstance(node, Or):
        return all(_is_positive(child) for child in node.children)
    return True


def _require_positive(node: Node) -> None:
    if isinstance(node, Or):
        for child in node.children:
            if not _is_positive(child):
                raise QueryError(
                    f"every OR alternative needs a term to look for: {_source(child)} alone matches almost every post",
                    child.column,
                )
    if not _is_positive(node):
        raise QueryError(
            "the query only excludes; add at least one term to look for (e.g. nimbus -nimbus2000)",
            node.column,
        )


def _parse_tree(text: str) -> Node:
    if not text.strip():
        raise QueryError("query is empty", 1)
    tokens = _lex(text)
    _check_tokens(tokens)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedToken as exc:
        raise _syntax_error(text, tokens, exc) from None
    try:
        node: Node = _ToTree().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, QueryError):
            raise exc.orig_exc from None
        raise
    _require_positive(node)
    return node


# --- compiling to closures -------------------------------------------------------------

Matcher = Callable[[PreparedText], bool]
Span = tuple[int, int]
Spanner = Callable[[PreparedText], list[Span]]


def _leaf_token(node: Node) -> str | None:
    """The one folded token a leaf is, if a set-membership test decides it."""
    if isinstance(node, Handle):
        return "@" + _fold(node.name)
    if isinstance(node, Hashtag):
        return "#" + _fold(node.tag)
    if isinstance(node, Term | Phrase):
        words = tokenize(node.text)
        if len(words) == 1 and not _UNSPACED_RE.search(words[0]):
            return words[0]
    return None


def _same_word(token: str, word: str) -> bool:
    return token == word or (token[0] == "#" and token[1:] == word)


def _phrase_spanner(words: tuple[str, ...]) -> Spanner:
    size = len(words)

    def spans(doc: PreparedText) -> list[Span]:
        tokens, found = doc.tokens, []
        for start in doc.positions(words[0]):
            end = start + size
            if end <= len(tokens) and all(_same_word(tokens[start + k], words[k]) for k in range(1, size)):
                found.append((start, end - 1))
        return found

    return spans


def _unspaced_leaf(pattern: re.Pattern[str]) -> tuple[Matcher, Spanner]:
    def matches(doc: PreparedText) -> bool:
        return pattern.search(doc.text) is not None

    def spans(doc: PreparedText) -> list[Span]:
        return [(i, i) for i, token in enumerate(doc.tokens) if pattern.search(token)]

    return matches, spans


def _wildcard_leaf(stem: str) -> tuple[Matcher, Spanner]:
    def matches(doc: PreparedText) -> bool:
        return any(word.startswith(stem) for word in doc.words)

    def spans(doc: PreparedText) -> list[Span]:
        return [
            (i, i)
            for i, token in enumerate(doc.tokens)
            if token.startswith(stem) or (token[0] == "#" and token.startswith(stem, 1))
        ]

    return matches, spans


def _phrase_leaf(words: tuple[str, ...]) -> tuple[Matcher, Spanner]:
    spans = _phrase_spanner(words)

    def matches(doc: PreparedText) -> bool:
        return doc.words.issuperset(words) and bool(spans(doc))

    return matches, spans


def _token_leaf(word: str) -> tuple[Matcher, Spanner]:
    def matches(doc: PreparedText) -> bool:
        return word in doc.words

    def spans(doc: PreparedText) -> list[Span]:
        return [(i, i) for i in doc.positions(word)]

    return matches, spans


def _compile_leaf(node: Leaf) -> tuple[Matcher, Spanner]:
    token = _leaf_token(node)
    if token is not None:
        return _token_leaf(token)
    if isinstance(node, Wildcard):
        stem = _fold(node.stem)
        if _UNSPACED_RE.search(stem):
            return _unspaced_leaf(re.compile(re.escape(stem)))
        return _wildcard_leaf(stem)
    text = node.text if isinstance(node, Term | Phrase) else _source(node)
    words = tuple(tokenize(text))  # a Term with inner punctuation, or a Phrase
    if any(_UNSPACED_RE.search(word) for word in words):
        return _unspaced_leaf(re.compile(r"\W*".join(map(re.escape, words))))
    return _phrase_leaf(words)


def _gap(a: Span, b: Span) -> int | None:
    """Words strictly between two spans; None when they overlap."""
    if a[1] < b[0]:
        return b[0] - a[1] - 1
    if b[1] < a[0]:
        return a[0] - b[1] - 1
    return None


def _operand(node: Node) -> tuple[Matcher, Spanner]:
    if isinstance(node, _LEAVES):
        return _compile_leaf(node)
    if not isinstance(node, Or):
        raise TypeError(f"not a NEAR operand: {node!r}")  # the parser already refused it
    parts = [_compile_leaf(child) for child in node.children if isinstance(child, _LEAVES)]

    def spans(doc: PreparedText) -> list[Span]:
        return [span for _, spanner in parts for span in spanner(doc)]

    return _compile(node), spans


def _compile_near(node: Near) -> Matcher:
    (left, left_spans), (right, right_spans) = _operand(node.left), _operand(node.right)
    limit = node.distance

    def matches(doc: PreparedText) -> bool:
        if not (left(doc) and right(doc)):
            return False
        rights = right_spans(doc)
        for a in left_spans(doc):
            for b in rights:
                gap = _gap(a, b)
                if gap is not None and gap <= limit:
                    return True
        return False

    return matches


def _split_simple(children: tuple[Node, ...]) -> tuple[frozenset[str], list[Matcher]]:
    """Leaves decided by one token go into a set; the rest compile to matchers."""
    simple: set[str] = set()
    rest: list[Matcher] = []
    for child in children:
        token = _leaf_token(child)
        if token is None:
            rest.append(_compile(child))
        else:
            simple.add(token)
    return frozenset(simple), rest


def _compile_and(node: And) -> Matcher:
    required, rest = _split_simple(node.children)

    def matches(doc: PreparedText) -> bool:
        if not required <= doc.words:
            return False
        for matcher in rest:
            if not matcher(doc):
                return False
        return True

    return matches


def _compile_or(node: Or) -> Matcher:
    anyof, rest = _split_simple(node.children)

    def matches(doc: PreparedText) -> bool:
        if not anyof.isdisjoint(doc.words):
            return True
        for matcher in rest:
            if matcher(doc):
                return True
        return False

    return matches


def _compile_not(node: Not) -> Matcher:
    inner = _compile(node.child)

    def matches(doc: PreparedText) -> bool:
        return not inner(doc)

    return matches


def _compile(node: Node) -> Matcher:
    if isinstance(node, And):
        return _compile_and(node)
    if isinstance(node, Or):
        return _compile_or(node)
    if isinstance(node, Not):
        return _compile_not(node)
    if isinstance(node, Near):
        return _compile_near(node)
    return _compile_leaf(node)[0]


def _positive_leaves(node: Node, positive: bool = True) -> Iterator[Leaf]:
    if isinstance(node, _LEAVES):
        if positive:
            yield node
    elif isinstance(node, Not):
        yield from _positive_leaves(node.child, not positive)
    elif isinstance(node, Near):
        yield from _positive_leaves(node.left, positive)
        yield from _positive_leaves(node.right, positive)
    else:
        for child in node.children:
            yield from _positive_leaves(child, positive)


# --- the public object ----------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A parsed, compiled brand query. Build it with `parse_query`."""

    source: str
    ast: Node
    _match: Matcher = field(init=False, repr=False, compare=False)
    _leaves: tuple[tuple[str, Matcher], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_match", _compile(self.ast))
        leaves: dict[str, Matcher] = {}
        for leaf in _positive_leaves(self.ast):
            leaves.setdefault(_source(leaf), _compile_leaf(leaf)[0])
        object.__setattr__(self, "_leaves", tuple(leaves.items()))

    def matches(self, text: str) -> bool:
        """Whether `text` satisfies the query."""
        return self._match(prepare_text(text))

    def matches_tokens(self, tokens: list[str], text_lower: str) -> bool:
        """Like `matches`, for text already split by `tokenize` (and folded likewise)."""
        return self._match(PreparedText(tokens, text_lower))

    def matches_prepared(self, prepared: PreparedText) -> bool:
        """Like `matches`, for text prepared once with `prepare_text`."""
        return self._match(prepared)

    def matched_terms(self, text: str) -> list[str]:
        """Positive terms/phrases/handles/hashtags/wildcards found in `text`, query order."""
        doc = prepare_text(text)
        return [source for source, matcher in self._leaves if matcher(doc)]

    def terms(self) -> list[str]:
        """Positive leaves as query text (`outage`, `"no signal"`, `@Nimbus`, `telco*`)."""
        return [source for source, _ in self._leaves]


def parse_query(text: str) -> Query:
    """Parse and compile `text`; raises `QueryError` with the column of the problem."""
    return Query(text, _parse_tree(text))


# --- X API v2 search -------------------------------------------------------------------

_LANG_RE = re.compile(r"[a-z]{2,3}")


def _x_leaf(node: Leaf) -> str:
    if isinstance(node, Wildcard):
        raise QueryError(f"X search has no wildcard operator: {_source(node)}", node.column)
    quoted = isinstance(node, Phrase) or not _WORD_RE.fullmatch(_source(node).lstrip("@#"))
    if quoted and isinstance(node, Term | Phrase):
        return '"' + " ".join(node.text.replace('"', " ").split()) + '"'
    return _source(node)


def _to_x(node: Node) -> str:
    if isinstance(node, _LEAVES):
        return _x_leaf(node)
    if isinstance(node, Near):
        raise QueryError(f"X search has no NEAR operator: {_source(node)}", node.column)
    if isinstance(node, Not):
        inner = _to_x(node.child)
        return f"-({inner})" if isinstance(node.child, And | Or) else f"-{inner}"
    if isinstance(node, And):
        return " ".join(_x_grouped(child, Or) for child in node.children)
    return " OR ".join(_x_grouped(child, And) for child in node.children)


def _x_grouped(node: Node, kind: type[And] | type[Or]) -> str:
    return f"({_to_x(node)})" if isinstance(node, kind) else _to_x(node)


def to_x_query(
    query: Query,
    *,
    lang: str | None = None,
    exclude_retweets: bool = True,
    max_length: int = X_QUERY_LIMIT,
) -> str:
    """Translate to X API v2 search syntax; QueryError for what X cannot express."""
    body = _to_x(query.ast)
    suffix: list[str] = []
    if exclude_retweets:
        suffix.append("-is:retweet")
    if lang is not None:
        if not _LANG_RE.fullmatch(lang):
            raise ValueError(f"lang must be a lower-case ISO 639-1 code like 'en', not {lang!r}")
        suffix.append(f"lang:{lang}")
    if suffix and isinstance(query.ast, Or):
        body = f"({body})"  # X applies AND before OR: keep the suffix on every alternative
    result = " ".join([body, *suffix])
    if len(result) > max_length:
        raise QueryError(f"X query is {len(result)} characters; the limit is {max_length}", 1)
    return result


def check_rules(cfg: RulesConfig) -> list[Problem]:
    """rules.yaml check (entry point `socialear.checks`): every brand query parses, the
    error pointing at the offending column."""
    from socialear.config import Problem

    problems: list[Problem] = []
    for i, brand in enumerate(cfg.brands):
        try:
            parse_query(brand.query)
        except QueryError as exc:
            problems.append(
                Problem(("brands", i, "query"), f"brands[{i}].query: invalid query: {exc.message}", offset=exc.column - 1)
            )
    return problems
