"""Cutting a message to a platform's size: whole blocks first, then items, then text — nothing dropped."""

from __future__ import annotations

from bot.chat import Actions, Bullets, Button, Fields, Mention, Message, Section, Tone, UserRef
from bot.pages import split
from bot.render import plain_text


def size(message: Message) -> tuple[int]:
    return (len(plain_text(message)),)


def test_a_message_that_fits_is_left_alone() -> None:
    message = Message("INC-1 · fine", (Section.of("short"),))
    assert split(message, measure=size, budget=(1000,)) == [message]


def test_lists_are_cut_between_items_and_parts_are_numbered_with_buttons_on_the_first() -> None:
    items = tuple(f"item {n} " + "x" * 80 for n in range(40))
    message = Message("Big", (Bullets(items), Actions((Button("Status", "status"),))), Tone.BAD_NEWS, "`warroom x`")
    parts = split(message, measure=size, budget=(1000,))
    n = len(parts)
    assert n > 3 and [p.title for p in parts] == [f"Big ({i}/{n})" for i in range(1, n + 1)]
    assert all(size(p)[0] <= 1000 for p in parts) and all(p.tone is Tone.BAD_NEWS for p in parts)
    assert all(p.elsewhere == "`warroom x`" for p in parts)
    assert isinstance(parts[0].blocks[0], Actions) and not any(
        isinstance(b, Actions) for p in parts[1:] for b in p.blocks
    )
    assert [i for p in parts for b in p.blocks if isinstance(b, Bullets) for i in b.items] == list(items)


def test_a_text_too_long_for_any_part_is_cut_at_a_space_with_marks_on_both_sides() -> None:
    words = " ".join(f"w{n}" for n in range(1000))
    parts = split(
        Message(
            "T",
            (Fields((("Impact", words),)), Section.of("by ", Mention(UserRef("U1", "lee")))),
        ),
        measure=size,
        budget=(500,),
    )
    values = [v for p in parts for b in p.blocks if isinstance(b, Fields) for _, v in b.items]
    assert all(v.endswith("…") for v in values[:-1]) and all(v.startswith("…") for v in values[1:])
    assert " ".join(v.strip("…") for v in values) == words  # every cut fell on a space, and only a space was dropped
    assert any(isinstance(p, Mention) for b in parts[-1].blocks if isinstance(b, Section) for p in b.parts)
