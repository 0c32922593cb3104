"""Suggested replies: sandboxed rendering, variable checks, X's weighted length and trimming."""

from __future__ import annotations

import pytest
from jinja2 import TemplateSyntaxError

from responders.replies import (
    ALLOWED_VARIABLES,
    ELLIPSIS,
    PermanentError,
    ReplyTemplateError,
    ReplyTooLong,
    check_reply_length,
    render_reply,
    reply_variables,
    template_variables,
    trim_to_limit,
    unknown_variables,
    x_weighted_length,
)

VARS = {
    "author": "Jen K",
    "handle": "@jen_k",
    "brand": "Nimbus Mobile",
    "brand_handle": "@NimbusCares",
    "ticket_link": "https://nimbus.zendesk.com/agent/tickets/35436",
    "category": "outage",
    "queue": "care-tier2",
}


def test_renders_variables():
    template = "Hi {{ author }} ({{ handle }}), {{ brand }} here: "
    template += "DM {{ brand_handle }} about {{ category }}."
    assert render_reply(template, VARS, "x") == ("Hi Jen K (@jen_k), Nimbus Mobile here: DM @NimbusCares about outage.")


def test_values_are_not_templates_and_not_escaped():
    out = render_reply("Hi {{ author }}", {**VARS, "author": "<b>{{ 7*7 }}</b> & co"}, "x")
    assert out == "Hi <b>{{ 7*7 }}</b> & co"  # plain text: the console escapes on display


def test_variable_detection_for_config_validation():
    template = "Hi {{ autor }}, see {{ ticket_link }} {% if queue %}{{ queue }}{% endif %}"
    assert template_variables(template) == {"autor", "ticket_link", "queue"}
    assert unknown_variables(template) == {"autor"}
    assert "author" in ALLOWED_VARIABLES
    with pytest.raises(TemplateSyntaxError):
        template_variables("{{ author ")


def test_unknown_or_missing_variable_is_an_error():
    with pytest.raises(ReplyTemplateError, match="autor"):
        render_reply("Hi {{ autor }}", VARS, "x")
    with pytest.raises(ReplyTemplateError):
        render_reply("Hi {{ secret }}", {**VARS, "secret": "leak"}, "x")  # not an allowed variable


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ author.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{% set x = [] %}{{ x.append(1) }}",
    ],
)
def test_sandbox_blocks_escapes(template):
    with pytest.raises(ReplyTemplateError):
        render_reply(template, VARS, "x")


def test_sandbox_error_is_permanent():
    assert issubclass(ReplyTemplateError, PermanentError)


def test_x_weighted_length():
    assert x_weighted_length("hello") == 5
    assert x_weighted_length("see https://status.nimbus.example/incidents/2024-05-01/very-long") == 4 + 23
    assert x_weighted_length("www.example.com/path.") == 23 + 1  # trailing dot is not the URL
    assert x_weighted_length("你好") == 4  # CJK weighs 2
    assert x_weighted_length("😀") == 2
    assert x_weighted_length("👍🏽") == 2  # skin tone is part of the emoji
    assert x_weighted_length("👨\u200d👩\u200d👧") == 2  # a ZWJ family counts once
    assert x_weighted_length("café") == 4
    assert x_weighted_length("\u2026") == 2  # the ellipsis itself weighs 2 on X


def test_trims_to_280_on_a_word_boundary_keeping_urls_whole():
    url = "https://status.nimbus.example/incidents/2024-05-01/" + "x" * 200
    text = ("We are so sorry about the outage. " * 6) + url + " " + ("Thanks for bearing with us. " * 5)
    out = render_reply(text, VARS, "x")
    assert x_weighted_length(out) <= 280
    assert out.endswith(ELLIPSIS)
    assert url in out  # the URL weighs 23, so it fits, whole
    assert not out[: -len(ELLIPSIS)].endswith(" ")
    words = text.split()
    assert all(w in words for w in out[: -len(ELLIPSIS)].split())  # no word cut in half


def test_trim_never_cuts_a_url():
    head = "word " * 54  # 270 weighted characters
    out = trim_to_limit(head + "https://example.com/a/very/long/path", "x")
    assert "https" not in out and x_weighted_length(out) <= 280


def test_trim_counts_cjk_double():
    out = trim_to_limit("你好 " * 200, "x")
    assert x_weighted_length(out) <= 280 and out.endswith(ELLIPSIS)


def test_short_text_and_other_platforms_untouched():
    assert trim_to_limit("short", "x") == "short"
    long = "word " * 100  # 500 chars: fine on Reddit
    assert trim_to_limit(long, "reddit") == long
    assert len(trim_to_limit("a" * 20_000, "reddit")) == 10_000
    assert trim_to_limit("a" * 20_000, "somewhere-new") == "a" * 20_000


def test_agent_text_too_long_is_refused_with_the_count():
    with pytest.raises(ReplyTooLong) as info:
        check_reply_length("a" * 301, "x")
    assert str(info.value) == "reply is 301 characters; X allows 280"
    assert (info.value.length, info.value.limit) == (301, 280)
    assert isinstance(info.value, PermanentError)
    check_reply_length("a" * 256 + " https://example.com/" + "x" * 500, "x")  # URL weighs 23: fits


def test_reply_variables_from_payload(make_payload):
    variables = reply_variables(make_payload(), brand_handle="@NimbusCares", ticket_link="https://t/1")
    assert variables == {
        "author": "Jen K",
        "handle": "@jen_k",
        "brand": "Nimbus Mobile",
        "brand_handle": "@NimbusCares",
        "ticket_link": "https://t/1",
        "category": "outage",
        "queue": "care-tier2",
    }
    assert set(variables) == ALLOWED_VARIABLES


PLAIN_OR_NOT = [
    "Hi {{ author }}, DM {{ brand_handle }} your postcode.",
    "{{author}}{{handle}}",
    "  Hi {{ author }}  \n\n",
    "Hi {{ author }}\r\nline two\r\n",
    "Hi {# a comment #}{{ author }} {{- brand }}",
    "{% raw %}{{ author }}{% endraw %} {{ queue }}",
    "Hi {{ author | upper }}",
    "Hi {{ author ~ '!' }}",
    "{% if queue %}{{ queue }}{% endif %} {{ brand }}",
    "Café ☕ {{ category }} — {{ ticket_link }}",
    "no variables at all",
    "",
    "Hi {{ handle }} {{ author }} {{ author }}",
]


@pytest.mark.parametrize("template", PLAIN_OR_NOT)
@pytest.mark.parametrize("author", ["Jen K", "{{ 7*7 }} <b>", " é ", ""])
def test_text_and_variables_render_as_jinja_does(template: str, author: str) -> None:
    """The join of a plain template's text and values (responders.replies._plain) is
    what jinja renders; anything else goes through jinja itself."""
    from responders.replies import _compiled, render_template

    variables = {**VARS, "author": author}
    visible = {k: v for k, v in variables.items() if k in ALLOWED_VARIABLES}
    assert render_template(template, variables) == _compiled(template).render(visible).strip()


def test_plain_templates_keep_jinja_errors() -> None:
    from responders.replies import _plain

    assert _plain("Hi {{ author }}") == ((False, "Hi "), (True, "author"))
    assert _plain("Hi {{ author | upper }}") is None and _plain("{% if x %}y{% endif %}") is None
    with pytest.raises(ReplyTemplateError, match="author"):
        render_reply("Hi {{ author }}", {k: v for k, v in VARS.items() if k != "author"}, "x")
    with pytest.raises(ReplyTemplateError):
        render_reply("Hi {{ author ", VARS, "x")
    assert render_reply("Hi {{ queue }}", {**VARS, "queue": 7}, "x") == "Hi 7"  # not a str: jinja's path
