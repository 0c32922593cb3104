"""socialear.terms on ASCII text takes an re.ASCII copy of its word regex: the same terms."""

from __future__ import annotations

import random

from socialear.terms import _WORD, _fold, mention_terms


def test_ascii_words_are_the_unicode_regex_words() -> None:
    from socialear.terms import _ASCII_WORD

    rng = random.Random(11)
    pieces = ["no", "signal", "'", "-", "_", "1", "x2", " ", "don't", "it's", "--a", "a-", "@x", "#y", "\n",
              "A", "Z", "9a", "a9", ".", "www.x", "http://a.b"]
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 10)))
        clean = _fold(text)
        assert _ASCII_WORD.findall(clean) == _WORD.findall(clean), text
    assert mention_terms("No signal in Leeds, don't-stop it's 5G #fail @Nimbus") == {
        "no signal", "signal", "leeds", "don't-stop", "leeds don't-stop"}
