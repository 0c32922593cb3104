"""Tests for the boolean brand-query language (listener/query.py)."""

from __future__ import annotations

import itertools

import pytest

from listener.query import (
    And,
    Handle,
    Hashtag,
    Near,
    Not,
    Or,
    Phrase,
    Query,
    QueryError,
    Term,
    Wildcard,
    parse_query,
    prepare_text,
    to_x_query,
    tokenize,
)


def hits(query: str, text: str) -> bool:
    return parse_query(query).matches(text)


# --- tokenizer ------------------------------------------------------------------------


def test_tokenize_lowercases_and_splits_on_punctuation() -> None:
    assert tokenize("Nimbus is DOWN, again!") == ["nimbus", "is", "down", "again"]


def test_tokenize_keeps_handles_and_hashtags_whole() -> None:
    assert tokenize("@NimbusMobile #Outage now") == ["@nimbusmobile", "#outage", "now"]


def test_tokenize_email_is_not_a_handle() -> None:
    assert tokenize("me@nimbus.com") == ["me", "nimbus", "com"]


def test_tokenize_splits_apostrophes_so_possessives_match() -> None:
    assert tokenize("Nimbus's network") == ["nimbus", "s", "network"]


def test_tokenize_normalises_unicode_forms() -> None:
    decomposed = "cafe\u0301"
    assert tokenize(decomposed) == tokenize("café") == ["café"]


def test_tokenize_keeps_combining_marks_inside_words() -> None:
    assert tokenize("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]


# --- terms ----------------------------------------------------------------------------


def test_term_matches_whole_word() -> None:
    assert hits("outage", "Is there an outage?")


def test_term_is_case_insensitive() -> None:
    assert hits("Nimbus", "NIMBUS is down")
    assert hits("NIMBUS", "nimbus is down")


@pytest.mark.parametrize("text", ["nimbusy", "supernimbus", "nimbus_x", "nimbus2"])
def test_term_respects_word_boundaries(text: str) -> None:
    assert not hits("nimbus", text)


@pytest.mark.parametrize("text", ["(nimbus)", "nimbus.", "nimbus's plan", "x-nimbus-y"])
def test_term_matches_next_to_punctuation(text: str) -> None:
    assert hits("nimbus", text)


def test_term_matches_hashtag_of_the_same_word() -> None:
    assert hits("outage", "ugh #Outage again")


def test_term_does_not_match_handle() -> None:
    assert not hits("nimbusmobile", "@NimbusMobile help")


def test_hyphenated_term_matches_as_phrase() -> None:
    assert hits("t-mobile", "switching to T Mobile")
    assert hits("t-mobile", "T-Mobile rocks")
    assert not hits("t-mobile", "mobile t")


def test_apostrophe_term_matches_either_apostrophe() -> None:
    assert hits("don't", "I don’t care")


def test_term_with_trailing_punctuation_is_the_word() -> None:
    assert parse_query("nimbus,").matches("nimbus rocks")


def test_lowercase_and_or_not_are_plain_terms() -> None:
    q = parse_query("hold or wait")
    assert q.ast == And((Term("hold"), Term("or"), Term("wait")))
    assert q.matches("on hold or wait")
    assert not q.matches("on hold, wait")


def test_quoted_keyword_is_a_term() -> None:
    assert hits('"AND" nimbus', "nimbus and more")


# --- unicode --------------------------------------------------------------------------


def test_accented_term() -> None:
    assert hits("café", "Le CAFÉ est fermé")
    assert not hits("cafe", "Le café")


def test_spanish_brand() -> None:
    assert hits("Telefónica", "Problemas con TELEFÓNICA hoy")


def test_cyrillic_word_boundaries() -> None:
    assert hits("связь", "Плохая СВЯЗЬ сегодня")
    assert not hits("связь", "нет связью")


def test_cjk_term_matches_as_substring() -> None:
    assert hits("電波", "ニンバス携帯の電波がない")
    assert not hits("電波", "ニンバス携帯")


def test_korean_term_matches_with_particle() -> None:
    assert hits("님버스", "님버스가 안 돼요")


def test_cjk_phrase() -> None:
    assert hits('"ニンバス 電波"', "ニンバス電波ない")


def test_german_sharp_s_casefold() -> None:
    assert hits("strasse", "STRASSE gesperrt")
    assert hits("straße", "Strasse gesperrt")


# --- phrases --------------------------------------------------------------------------


def test_phrase_matches_consecutive_words() -> None:
    assert hits('"no signal"', "I have No Signal at home")


def test_phrase_ignores_punctuation_between_words() -> None:
    assert hits('"no signal"', "no... signal!")


def test_phrase_needs_order() -> None:
    assert not hits('"no signal"', "signal no")


def test_phrase_needs_adjacency() -> None:
    assert not hits('"no signal"', "no mobile signal")


def test_phrase_respects_word_boundaries() -> None:
    assert not hits('"no signal"', "nono signals")


def test_phrase_repeated_first_word() -> None:
    assert hits('"no signal"', "no no no signal")


def test_phrase_at_end_of_text() -> None:
    assert hits('"no signal"', "there is no") is False
    assert hits('"no signal"', "there is no signal")


def test_curly_quotes_are_phrases() -> None:
    q = parse_query("“no signal”")
    assert q.ast == Phrase("no signal")
    assert q.matches("no signal here")


# --- operators ------------------------------------------------------------------------


def test_and() -> None:
    q = parse_query("nimbus AND outage")
    assert q.matches("nimbus outage")
    assert not q.matches("nimbus fine")


def test_implicit_and() -> None:
    assert parse_query("nimbus outage").ast == parse_query("nimbus AND outage").ast


def test_or() -> None:
    q = parse_query("outage OR down")
    assert q.matches("it's down")
    assert q.matches("an outage")
    assert not q.matches("all good")


def test_not_keyword() -> None:
    q = parse_query("nimbus NOT harry")
    assert q.matches("nimbus down")
    assert not q.matches("nimbus 2000 harry potter")


def test_minus_term() -> None:
    q = parse_query("nimbus -harry")
    assert q.ast == And((Term("nimbus"), Not(Term("harry"))))
    assert not q.matches("harry's nimbus")


def test_minus_phrase() -> None:
    q = parse_query('nimbus -"nimbus 2000"')
    assert q.matches("nimbus is down")
    assert not q.matches("my Nimbus 2000 broom")


def test_minus_group() -> None:
    q = parse_query("nimbus -(harry OR potter)")
    assert not q.matches("nimbus potter")
    assert q.matches("nimbus down")


def test_double_negation() -> None:
    assert hits("nimbus --down", "nimbus down")


def test_parentheses_override_precedence() -> None:
    q = parse_query("(nimbus OR cirrus) outage")
    assert q.matches("cirrus outage")
    assert not q.matches("cirrus")


def test_and_binds_tighter_than_or() -> None:
    q = parse_query("nimbus OR cirrus outage")
    assert q.ast == Or((Term("nimbus"), And((Term("cirrus"), Term("outage")))))
    assert q.matches("nimbus")
    assert not q.matches("cirrus")


def test_not_binds_tighter_than_and() -> None:
    q = parse_query("NOT harry nimbus")
    assert q.ast == And((Not(Term("harry")), Term("nimbus")))


def test_not_binds_tighter_than_or() -> None:
    q = parse_query("nimbus OR NOT harry x")
    assert q.ast == Or((Term("nimbus"), And((Not(Term("harry")), Term("x")))))


def test_nested_groups_flatten() -> None:
    assert parse_query("a (b c)").ast == And((Term("a"), Term("b"), Term("c")))
    assert parse_query("a OR (b OR c)").ast == Or((Term("a"), Term("b"), Term("c")))


def test_keyword_prefix_is_a_term() -> None:
    assert parse_query("ORANGE ANDROID NOTE NEARBY").ast == And(
        (Term("ORANGE"), Term("ANDROID"), Term("NOTE"), Term("NEARBY"))
    )


def test_keyword_next_to_parenthesis() -> None:
    assert parse_query("(a)OR(b)").ast == Or((Term("a"), Term("b")))


# --- handles, hashtags, wildcards -----------------------------------------------------


def test_handle() -> None:
    q = parse_query("@NimbusMobile")
    assert q.ast == Handle("NimbusMobile")
    assert q.matches("@nimbusmobile help!")
    assert not q.matches("nimbusmobile help")
    assert not q.matches("@NimbusMobileHelp")


def test_hashtag() -> None:
    q = parse_query("#NimbusDown")
    assert q.ast == Hashtag("NimbusDown")
    assert q.matches("again #nimbusdown")
    assert not q.matches("nimbusdown")
    assert not q.matches("#nimbusdowntown")


def test_unicode_hashtag() -> None:
    assert hits("#Telefónica", "#TELEFÓNICA caída")


def test_wildcard_matches_prefix() -> None:
    q = parse_query("telco*")
    assert q.ast == Wildcard("telco")
    for text in ["telco", "Telcos", "telcoms are bad"]:
        assert q.matches(text), text
    assert not q.matches("a tel co")
    assert not q.matches("mytelco")


def test_wildcard_matches_past_word_boundary_unlike_term() -> None:
    assert hits("nimbus*", "nimbusy")
    assert not hits("nimbus", "nimbusy")


def test_wildcard_matches_hashtags() -> None:
    assert hits("telco*", "#TelcoFail")
    assert hits("#telco*", "#TelcoFail")
    assert not hits("#telco*", "telcofail")


def test_handle_wildcard() -> None:
    assert hits("@nimbus*", "@NimbusHelp hi")


# --- NEAR -----------------------------------------------------------------------------


def test_near_parses() -> None:
    assert parse_query("signal NEAR/3 outage").ast == Near(Term("signal"), Term("outage"), 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("signal outage", True),
        ("signal a b c outage", True),
        ("signal a b c d outage", False),
        ("outage a b c signal", True),
        ("outage a b c d signal", False),
        ("signal", False),
    ],
)
def test_near_distance_both_orders(text: str, expected: bool) -> None:
    assert hits("signal NEAR/3 outage", text) is expected


def test_near_zero_is_adjacent() -> None:
    assert hits("signal NEAR/0 outage", "outage signal")
    assert not hits("signal NEAR/0 outage", "signal x outage")


def test_near_uses_closest_pair() -> None:
    assert hits("signal NEAR/1 outage", "signal a b c d outage x signal")


def test_near_with_phrase_measures_from_nearer_end() -> None:
    q = parse_query('"no signal" NEAR/2 outage')
    assert q.matches("outage a b no signal")
    assert q.matches("no signal a b outage")
    assert not q.matches("no signal a b c outage")


def test_near_with_wildcard() -> None:
    assert hits("telco* NEAR/2 down", "telcos are down")
    assert not hits("telco* NEAR/1 down", "telcos are all down")


def test_near_with_or_group() -> None:
    q = parse_query("(signal OR coverage) NEAR/1 (outage OR down)")
    assert q.matches("coverage is down")
    assert not q.matches("coverage is really down")


def test_near_same_word_does_not_satisfy_both_sides() -> None:
    assert not hits("nimbus NEAR/3 nimbus*", "nimbus")
    assert hits("nimbus NEAR/3 nimbus*", "nimbus nimbusy")


def test_near_with_hashtag_operand() -> None:
    assert hits("#outage NEAR/2 nimbus", "#outage at nimbus")


def test_near_in_boolean_context() -> None:
    q = parse_query("(signal NEAR/2 outage) OR down -test")
    assert q.matches("outage of signal")
    assert q.matches("down")
    assert not q.matches("down test")


def test_minus_applies_to_near() -> None:
    q = parse_query("nimbus -signal NEAR/1 outage")
    assert q.ast == And((Term("nimbus"), Not(Near(Term("signal"), Term("outage"), 1))))
    assert q.matches("nimbus signal a b outage")
    assert not q.matches("nimbus signal outage")


# --- errors ---------------------------------------------------------------------------


def error_of(query: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse_query(query)
    return info.value


def test_error_is_value_error_with_column_and_message() -> None:
    err = error_of("nimbus AND")
    assert isinstance(err, ValueError)
    assert err.column == 11
    assert err.message == "expected a term after AND"
    assert str(err) == "column 11: expected a term after AND"


@pytest.mark.parametrize(
    ("query", "column", "fragment"),
    [
        ("", 1, "query is empty"),
        ("   ", 1, "query is empty"),
        ("nimbus AND", 11, "expected a term after AND"),
        ("nimbus AND   ", 11, "expected a term after AND"),
        ("nimbus OR", 10, "expected a term after OR"),
        ("nimbus AND OR x", 12, "expected a term after AND"),
        ("a OR OR b", 6, "expected a term after OR"),
        ("AND nimbus", 1, "expected a term before AND"),
        ("OR nimbus", 1, "expected a term before OR"),
        ("nimbus NOT", 11, "expected a term after NOT"),
        ("nimbus (", 8, "unclosed '('"),
        ("(nimbus OR (a b)", 1, "unclosed '('"),
        ("nimbus)", 7, "unmatched ')'"),
        ("(a) b)", 6, "unmatched ')'"),
        ("nimbus ()", 8, "empty parentheses"),
        ("nimbus (AND x)", 9, "expected a term after '('"),
        ('nimbus "no signal', 8, "unterminated quote"),
        ("nimbus “no signal", 8, "unterminated quote"),
        ('nimbus ""', 8, "empty phrase"),
        ("nimbus - harry", 8, "'-' must touch"),
        ("nimbus -", 8, "'-' must touch"),
        ("nimbus -)", 9, "unmatched ')'"),
        ("signal NEAR/x outage", 8, "bad NEAR/x"),
        ("signal NEAR outage", 8, "bad NEAR"),
        ("signal NEAR/ outage", 8, "bad NEAR/"),
        ("signal NEAR/3", 14, "expected a term after NEAR/3"),
        ("NEAR/3 outage", 1, "expected a term before NEAR/3"),
        ("a NEAR/2 b NEAR/3 c", 12, "NEAR cannot be chained"),
        ("a NEAR/2 (b c)", 11, "NEAR joins terms"),
        ("a NEAR/2 -b", 10, "expected a term after NEAR/2"),
        ("*", 1, "needs a word before '*'"),
        ("nimbus *telco", 8, "only suffix wildcards"),
        ("te*lco", 3, "only allowed at the end"),
        ("telco**", 6, "only allowed at the end"),
        ("t-mob*", 1, "one word followed by '*'"),
        ('"no sig*"', 1, "wildcards are not supported inside quoted phrases"),
        ("nimbus &&", 8, "no letters or digits"),
        ("@", 1, "a handle is @"),
        ("@nimbus.mobile", 1, "a handle is @"),
        ("#no-signal", 1, "a hashtag is #"),
        ("-foo", 1, "only excludes"),
        ("NOT foo", 1, "only excludes"),
        ("-foo -bar", 1, "only excludes"),
        ("nimbus OR -foo", 11, "every OR alternative"),
        ("(a -b) OR (-c -d)", 12, "every OR alternative"),
    ],
)
def test_errors_name_the_column(query: str, column: int, fragment: str) -> None:
    err = error_of(query)
    assert fragment in err.message
    assert err.column == column, str(err)


def test_negation_inside_a_positive_and_is_fine() -> None:
    assert parse_query("(a OR -b) c").matches("c")


# --- API: terms, matched_terms, pre-tokenized matching --------------------------------


def test_terms_lists_positive_leaves_in_order_without_duplicates() -> None:
    q = parse_query('(nimbus OR @NimbusMobile) "no signal" -harry telco* #down nimbus')
    assert q.terms() == ["nimbus", "@NimbusMobile", '"no signal"', "telco*", "#down"]


def test_terms_includes_near_operands_and_double_negation() -> None:
    assert parse_query("a NEAR/2 b --c").terms() == ["a", "b", "c"]


def test_matched_terms_explains_hits() -> None:
    q = parse_query('(nimbus OR @NimbusMobile) ("no signal" OR outage) -harry')
    assert q.matched_terms("@NimbusMobile no signal since 9") == ["@NimbusMobile", '"no signal"']
    assert q.matched_terms("nothing here") == []


def test_matches_tokens_agrees_with_matches() -> None:
    q = parse_query('(nimbus OR ニンバス) ("no signal" OR 電波) -harry')
    for text in ["Nimbus no signal", "ニンバス電波", "nimbus harry no signal", "other"]:
        assert q.matches_tokens(tokenize(text), text.lower()) == q.matches(text), text
        assert q.matches_prepared(prepare_text(text)) == q.matches(text), text


def test_query_is_frozen_and_keeps_source() -> None:
    q = parse_query("nimbus  outage")
    assert q.source == "nimbus  outage"
    assert q == Query("nimbus  outage", q.ast)
    with pytest.raises(AttributeError):
        q.source = "x"  # type: ignore[misc]


# --- property-like checks over a small corpus ----------------------------------------

CORPUS = [
    "",
    "nimbus",
    "Nimbus outage in Leeds",
    "no signal from @NimbusMobile",
    "#outage again, telcos are useless",
    "signal is fine, no outage",
    "cirrus down",
    "nimbusy cirrus",
    "outage signal nimbus cirrus down",
]
ATOMS = ["nimbus", "outage", '"no signal"', "@NimbusMobile", "telco*", "signal NEAR/1 outage"]


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(ATOMS, 2)))
def test_or_and_not_agree_with_python_booleans(a: str, b: str) -> None:
    qa, qb = parse_query(a), parse_query(b)
    q_or, q_and = parse_query(f"({a}) OR ({b})"), parse_query(f"({a}) AND ({b})")
    q_implicit, q_minus = parse_query(f"({a}) ({b})"), parse_query(f"({a}) -({b})")
    for text in CORPUS:
        ma, mb = qa.matches(text), qb.matches(text)
        assert q_or.matches(text) == (ma or mb), text
        assert q_and.matches(text) == (ma and mb), text
        assert q_implicit.matches(text) == (ma and mb), text
        assert q_minus.matches(text) == (ma and not mb), text


@pytest.mark.parametrize("atom", ATOMS)
def test_or_is_commutative_and_idempotent(atom: str) -> None:
    for other in ATOMS:
        left = parse_query(f"({atom}) OR ({other})")
        right = parse_query(f"({other}) OR ({atom})")
        same = parse_query(f"({atom}) OR ({atom})")
        for text in CORPUS:
            assert left.matches(text) == right.matches(text)
            assert same.matches(text) == parse_query(atom).matches(text)


def test_case_of_text_never_matters() -> None:
    for atom in ATOMS:
        q = parse_query(atom)
        for text in CORPUS:
            assert q.matches(text) == q.matches(text.upper()) == q.matches(text.lower())


# --- X search translation -------------------------------------------------------------


def x(query: str, **kwargs: object) -> str:
    return to_x_query(parse_query(query), **kwargs)  # type: ignore[arg-type]


def test_x_and_is_space() -> None:
    assert x("nimbus AND outage") == "nimbus outage -is:retweet"


def test_x_or_is_wrapped_before_suffix() -> None:
    assert x("nimbus OR @NimbusMobile") == "(nimbus OR @NimbusMobile) -is:retweet"


def test_x_without_suffix_keeps_bare_or() -> None:
    assert x("nimbus OR cirrus", exclude_retweets=False) == "nimbus OR cirrus"


def test_x_lang() -> None:
    assert x("nimbus", lang="en") == "nimbus -is:retweet lang:en"
    assert x("nimbus", lang="es", exclude_retweets=False) == "nimbus lang:es"


def test_x_rejects_bad_lang() -> None:
    with pytest.raises(ValueError, match="lang"):
        x("nimbus", lang="en OR spam")


def test_x_not_phrase_handle_hashtag() -> None:
    got = x('(nimbus OR @NimbusMobile) "no signal" -harry -"nimbus 2000" #down')
    assert got == '(nimbus OR @NimbusMobile) "no signal" -harry -"nimbus 2000" #down -is:retweet'


def test_x_negated_group_and_nested_precedence() -> None:
    assert x("nimbus -(harry OR potter) OR cirrus down", exclude_retweets=False) == (
        "(nimbus -(harry OR potter)) OR (cirrus down)"
    )


def test_x_quotes_punctuated_terms() -> None:
    assert x("t-mobile outage", exclude_retweets=False) == '"t-mobile" outage'


def test_x_quoted_keyword_stays_quoted() -> None:
    assert x('"OR" nimbus', exclude_retweets=False) == '"OR" nimbus'


def test_x_rejects_wildcard_with_column() -> None:
    with pytest.raises(QueryError) as info:
        x("nimbus telco*")
    assert info.value.message == "X search has no wildcard operator: telco*"
    assert info.value.column == 8


def test_x_rejects_near() -> None:
    with pytest.raises(QueryError, match="no NEAR operator: signal NEAR/3 outage"):
        x("nimbus (signal NEAR/3 outage)")


def test_x_length_limit() -> None:
    words = " OR ".join(f"word{i:04d}" for i in range(60))  # 60 * 12 - 4 = 716 chars
    with pytest.raises(QueryError) as info:
        x(words, exclude_retweets=False)
    assert info.value.message == "X query is 716 characters; the limit is 512"


def test_x_length_exactly_at_limit_is_fine() -> None:
    q = "a" * 500
    assert len(x(q)) == 512
    with pytest.raises(QueryError, match="513 characters"):
        x("a" * 501)


def test_ascii_tokens_are_the_general_tokenizer_s() -> None:
    """listener.query.tokenize takes a plain `\\w` regex for ASCII text; the same tokens."""
    import random

    from listener.query import _TOKEN_RE, _fold, tokenize

    rng = random.Random(5)
    pieces = ["@", "#", "a", "Nimbus", "_", "1", " ", "-", "'", "@@x", "#x#y", "a@b", "\n", ".", "ZZ"]
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 9)))
        assert tokenize(text) == _TOKEN_RE.findall(_fold(text)), text
