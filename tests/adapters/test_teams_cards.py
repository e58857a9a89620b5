"""Adaptive Cards out, commands in: real mentions only where the core asked for them, text shown as typed."""

from __future__ import annotations

from typing import Any

from adapters.teams.cards import (
    CARD_CONTENT_TYPE,
    adaptive_card,
    attachment,
    command_from_submit,
    command_from_text,
    escape,
)
from bot.chat import Actions, Bullets, Button, Fields, Mention, Message, Section, Strong, Tone, UserRef

LEE = UserRef("00000000-0000-4000-8000-000000000002", "Lee Park")
BOT = {"id": "28:bot", "name": "Warroom"}


def texts(card: dict[str, Any]) -> list[str]:
    return [e["text"] for e in card["body"] if e["type"] == "TextBlock"]


def test_a_mention_becomes_an_at_tag_with_its_entity_and_user_text_cannot_make_one() -> None:
    sneaky = "<at>Lee Park</at> & <at>Boss</at> **urgent** [click](http://x)"
    card = adaptive_card(Message("Owner", (Section.of("Owner ", Mention(LEE), " — ", sneaky),)))
    [line] = texts(card)[1:]
    assert line.startswith("Owner <at>Lee Park</at> — ")
    assert line.count("<at>") == 1  # only the real mention; the typed ones are inert text
    assert "&lt;at&gt;Lee Park&lt;/at&gt; &amp; &lt;at&gt;Boss&lt;/at&gt;" in line
    assert r"\*\*urgent\*\*" in line and r"\[click\]" in line
    assert card["msteams"]["entities"] == [
        {"type": "mention", "text": "<at>Lee Park</at>", "mentioned": {"id": LEE.id, "name": "Lee Park"}}
    ]


def test_two_people_with_one_name_get_distinct_tags() -> None:
    other = UserRef("29:other-lee", "Lee Park")
    card = adaptive_card(Message("t", (Section.of(Mention(LEE), " and ", Mention(other), " and ", Mention(LEE)),)))
    tags = [e["text"] for e in card["msteams"]["entities"]]
    assert tags == ["<at>Lee Park</at>", "<at>Lee Park (2)</at>"]
    assert texts(card)[1] == "<at>Lee Park</at> and <at>Lee Park (2)</at> and <at>Lee Park</at>"


def test_every_block_has_its_card_element() -> None:
    message = Message(
        "INC-7 · Registers <down>",
        (
            Section.of(Strong("Roles: "), "comms"),
            Fields((("Severity", "1 (critical)"), ("Customer", "Acme_Retail"))),
            Bullets(("first", "second")),
            Actions(
                (Button("Heard back", "vendor heard V1", "primary"), Button("Escalate", "vendor escalate V1", "danger"))
            ),
        ),
        Tone.BAD_NEWS,
    )
    card = adaptive_card(message)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title, roles, *_ = card["body"]
    assert title["text"] == "INC-7 · Registers &lt;down&gt;" and title["color"] == "Attention"
    assert roles["text"] == "**Roles:** comms"  # bold without the space inside the asterisks
    facts = next(e for e in card["body"] if e["type"] == "FactSet")["facts"]
    assert facts == [{"title": "Severity", "value": "1 (critical)"}, {"title": "Customer", "value": r"Acme\_Retail"}]
    assert [e["text"] for e in card["body"] if e["type"] == "TextBlock"][-2:] == ["• first", "• second"]
    actions = next(e for e in card["body"] if e["type"] == "ActionSet")["actions"]
    assert actions == [
        {"type": "Action.Submit", "title": "Heard back", "data": {"warroom": "vendor heard V1"}, "style": "positive"},
        {
            "type": "Action.Submit",
            "title": "Escalate",
            "data": {"warroom": "vendor escalate V1"},
            "style": "destructive",
        },
    ]
    assert "entities" not in card["msteams"]
    assert attachment(message)["contentType"] == CARD_CONTENT_TYPE == "application/vnd.microsoft.card.adaptive"


def test_tones_colour_the_title() -> None:
    colours = {tone: adaptive_card(Message("t", tone=tone))["body"][0]["color"] for tone in Tone}
    assert (
        colours[Tone.SUCCESS] == "Good" and colours[Tone.REMINDER] == "Warning" and colours[Tone.ERROR] == "Attention"
    )


def test_escape_keeps_plain_text_plain() -> None:
    assert escape("a < b > c & d") == "a &lt; b &gt; c &amp; d"
    assert escape("V1_ETA *now*") == r"V1\_ETA \*now\*"


def test_the_bots_mention_and_the_incident_word_are_stripped() -> None:
    entities = [{"type": "mention", "text": "<at>Warroom</at>", "mentioned": BOT}]
    incoming = command_from_text('<at>Warroom</at> incident open "Router dead" sev:2', entities, bot_id="28:bot")
    assert incoming.text == 'open "Router dead" sev:2' and incoming.people == ()
    assert command_from_text("/incident status", [], bot_id="28:bot").text == "status"
    assert command_from_text("status INC-4", [], bot_id="28:bot").text == "status INC-4"  # 1:1 chat, no prefix
    assert command_from_text(None, [], bot_id="28:bot").text == ""


def test_other_mentions_become_handles_the_adapter_can_resolve() -> None:
    entities = [
        {"type": "mention", "text": "<at>Warroom</at>", "mentioned": BOT},
        {"type": "mention", "text": "<at>Lee Park</at>", "mentioned": {"id": "29:lee", "name": "Lee Park"}},
        {"type": "clientInfo", "locale": "en-US"},
    ]
    incoming = command_from_text(
        "<at>Warroom</at> incident role comms <at>Lee Park</at>&nbsp;\n", entities, bot_id="28:bot"
    )
    assert incoming.text == "role comms @29:lee"
    assert incoming.people == (UserRef("29:lee", "Lee Park"),)


def test_teams_html_is_read_as_text() -> None:
    entities = [{"type": "mention", "text": "<at>Warroom</at>", "mentioned": BOT}]
    incoming = command_from_text("<p><at>Warroom</at> note fan &amp; PSU swapped</p>", entities, bot_id="28:bot")
    assert incoming.text == "note fan & PSU swapped"


def test_a_button_click_carries_its_command() -> None:
    assert command_from_submit({"warroom": " vendor done V1 "}) == "vendor done V1"
    assert command_from_submit({"something": "else"}) is None
    assert command_from_submit("vendor done V1") is None
    assert command_from_submit(None) is None
