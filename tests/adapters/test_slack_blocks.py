"""Block Kit rendering and Slack's escaped text coming in: user text is shown, never executed."""

from __future__ import annotations

from typing import Any

from adapters.slack.blocks import (
    block_text,
    blocks,
    command_from_form,
    escape,
    fallback_text,
    from_slack,
    open_form,
    split,
)
from bot.chat import Actions, Bullets, Button, Fields, Mention, Message, Section, Strong, Tone, UserRef
from bot.commands import OpenIncident, parse


def texts(rendered: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in rendered if "text" in b]


def test_user_strings_are_escaped_and_only_mentions_mention() -> None:
    message = Message(
        "INC-1 · <!here> & co",
        (Section.of("Owner ", Mention(UserRef("U1", "lee")), " — <!channel> & <@U2> ", Strong(" Roles: ")),),
    )
    title, body = texts(blocks([message]))
    assert title == "*INC-1 · &lt;!here&gt; &amp; co*"
    assert body == "Owner <@U1> — &lt;!channel&gt; &amp; &lt;@U2&gt;  *Roles:* "
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"
    assert "<!" not in fallback_text([message]) and "&lt;!channel&gt;" in fallback_text([message])


def test_fields_bullets_and_buttons_become_section_fields_lists_and_actions() -> None:
    message = Message(
        "⏰ V1 overdue",
        (
            Fields(tuple((f"k{n}", f"v{n} <x>") for n in range(12))),
            Bullets(("first <one>", "second")),
            Actions((Button("Heard back", "vendor heard V1", "primary"), Button("Snooze 1h", "vendor snooze V1 1h"))),
            Actions((Button("Status", "status"),)),
        ),
        Tone.REMINDER,
    )
    title, fields_a, fields_b, bullets, actions_a, actions_b = blocks([message])
    assert title["text"]["text"] == "*⏰ V1 overdue*"
    assert len(fields_a["fields"]) == 10 and len(fields_b["fields"]) == 2
    assert fields_a["fields"][0]["text"] == "*k0*\nv0 &lt;x&gt;"
    assert bullets["text"]["text"] == "• first &lt;one&gt;\n• second"
    heard, snooze = actions_a["elements"]
    assert (heard["value"], heard["style"], heard["text"]["text"]) == ("vendor heard V1", "primary", "Heard back")
    assert "style" not in snooze
    ids = [e["action_id"] for b in (actions_a, actions_b) for e in b["elements"]]
    assert len(set(ids)) == 3 and all(i.startswith("warroom:") for i in ids)


def test_bad_news_is_marked_and_a_message_past_slacks_limits_is_split_with_nothing_lost() -> None:
    long = Message("INC-2: severity raised", tuple(Section.of("x" * 5000) for _ in range(40)), Tone.BAD_NEWS)
    parts = split(long)
    n = len(parts)
    assert n >= 20 and [p.title for p in parts] == [f"INC-2: severity raised ({i}/{n})" for i in range(1, n + 1)]
    assert all(p.tone is Tone.BAD_NEWS for p in parts)
    for part in parts:
        rendered = blocks([part])
        assert rendered[0]["text"]["text"].startswith("🔴 *INC-2")
        assert len(rendered) <= 50 and block_text(rendered) <= 10_000
        assert all(len(t) <= 3000 for t in texts(rendered))
    body = "".join(str(p) for part in parts for b in part.blocks for p in b.parts)  # type: ignore[union-attr]
    assert body.replace("…", "") == "x" * 5000 * 40
    assert len(fallback_text([long])) <= 3000


def test_text_is_cut_before_escaping_never_inside_an_entity() -> None:
    amps = Message("t", (Fields((("Impact", "a" + "&" * 3000),)),))
    parts = split(amps)
    assert len(parts) > 1
    values = [v for part in parts for b in part.blocks for _, v in b.items]  # type: ignore[union-attr]
    assert "".join(values).replace("…", "") == "a" + "&" * 3000
    for part in parts:
        for field in blocks([part])[1]["fields"]:
            assert len(field["text"]) <= 2000 and field["text"].endswith(("&amp;", "…"))
    clipped = fallback_text([Message("&" * 4000)])
    assert len(clipped) <= 3000 and clipped.endswith("&amp;…")


def test_slacks_escaped_text_comes_back_as_typed() -> None:
    text, people = from_slack(
        "role comms <@U0DANA|dana> &lt;b&gt; &amp; <!channel> <!subteam^S1|@oncall> <#C1|general> "
        "<mailto:kim@example.com|kim@example.com> <https://x.example/a?b=1&amp;c=2|link> <@U0LEE> <@U0X|Dana Smith>"
    )
    assert text == (
        "role comms @dana <b> & @channel @oncall #general kim@example.com https://x.example/a?b=1&c=2 <@U0LEE> <@U0X>"
    )
    assert people == {"dana": "U0DANA"}


def test_the_open_form_carries_its_context_and_its_answers_become_an_open_command() -> None:
    view = open_form({"channel_id": "C1", "extra": 'at-risk:"2M"'}, severity=2, customer="Acme", impact=None)
    assert '"channel_id": "C1"' in view["private_metadata"]
    assert view["blocks"][1]["element"]["initial_option"]["value"] == "2"
    assert view["blocks"][2]["element"]["initial_value"] == "Acme"

    values = {
        "title": {"value": {"value": 'Registers "frozen" \u201cagain\u201d'}},
        "sev": {"value": {"selected_option": {"value": "2"}}},
        "customer": {"value": {"value": "Acme Retail"}},
        "impact": {"value": {"value": "300 stores\ncannot take cards"}},
    }
    command = parse(command_from_form(values, 'at-risk:"2M"'))
    assert isinstance(command, OpenIncident)
    assert (command.title, command.severity, command.customer) == ("Registers 'frozen' 'again'", 2, "Acme Retail")
    assert command.impact == "300 stores cannot take cards" and command.revenue_at_risk == 2_000_000
