"""Messages cut to a platform's size: parts that each fit one post, in order, with nothing dropped.

An adapter knows what its platform counts (Slack: characters of block text after escaping, blocks per message;
Teams: the activity as UTF-16) and hands ``split`` a ``measure`` and a ``budget``. The cut falls between blocks,
then between the items of a list or a grid, and only then inside a text — always in the text as typed, before
any escaping, so an entity such as `&amp;` is never cut in half. Buttons stay on the first part, where the
message starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from bot.chat import Actions, Block, Bullets, Fields, Inline, Message, Section

Size = tuple[int, ...]
Measure = Callable[[Message], Size]
MORE = "…"
_RESERVED = " (99/99)"  # room kept in every title for the part number


def fits(size: Size, budget: Size) -> bool:
    return all(s <= b for s, b in zip(size, budget, strict=True))


@dataclass(frozen=True)
class _Atom:
    origin: int  # the block it came from: neighbours from one list or grid are drawn as one block again
    block: Block


def split(message: Message, *, measure: Measure, budget: Size) -> list[Message]:
    """``message`` as parts whose ``measure`` is within ``budget``; ``[message]`` when it fits already.

    Part titles say `(1/3)`, `(2/3)`, … so a reader knows more follows; every part keeps the tone."""
    if fits(measure(message), budget):
        return [message]
    probe = replace(message, title=message.title + _RESERVED, blocks=())

    def ok(blocks: Sequence[Block]) -> bool:
        return fits(measure(replace(probe, blocks=tuple(blocks))), budget)

    atoms = [atom for i, block in enumerate(message.blocks) for atom in _atoms(i, block, ok)]
    pinned = [a for a in atoms if isinstance(a.block, Actions)]
    parts: list[list[_Atom]] = []
    current = list(pinned)
    for atom in (a for a in atoms if not isinstance(a.block, Actions)):
        if len(current) > len(pinned if not parts else []) and not ok(_assemble([*current, atom])):
            parts.append(current)
            current = []
        current.append(atom)
    parts.append(current)
    if len(parts) == 1:
        return [replace(message, blocks=tuple(_assemble(parts[0])))]
    n = len(parts)
    return [
        replace(message, title=f"{message.title} ({i}/{n})", blocks=tuple(_assemble(part)))
        for i, part in enumerate(parts, start=1)
    ]


def _assemble(atoms: Sequence[_Atom]) -> list[Block]:
    """Atoms back into blocks: neighbouring items of one list or grid become one block again."""
    out: list[Block] = []
    last = -1
    for atom in atoms:
        block, previous = atom.block, out[-1] if out else None
        if atom.origin == last and isinstance(block, Bullets) and isinstance(previous, Bullets):
            out[-1] = Bullets(previous.items + block.items)
        elif atom.origin == last and isinstance(block, Fields) and isinstance(previous, Fields):
            out[-1] = Fields(previous.items + block.items)
        else:
            out.append(block)
        last = atom.origin
    return out


def _atoms(origin: int, block: Block, ok: Callable[[Sequence[Block]], bool]) -> Iterator[_Atom]:
    """The smallest pieces a block can be cut into: an item of a list or a grid, a section, a row of buttons; an
    item too big for a post on its own is cut into pieces of its text."""
    if isinstance(block, Bullets):
        for item in block.items:
            for piece in _pieces([item], lambda parts: Bullets(("".join(map(str, parts)),)), ok):
                yield _Atom(origin, piece)
    elif isinstance(block, Fields):
        for label, value in block.items:
            for piece in _pieces([value], _field(label), ok):  # a continued value starts with `…`
                yield _Atom(origin, piece)
    elif isinstance(block, Section):
        for piece in _pieces(list(block.parts), lambda parts: Section(tuple(parts)), ok):
            yield _Atom(origin, piece)
    else:
        yield _Atom(origin, block)


def _field(label: str) -> Callable[[list[Inline]], Block]:
    return lambda parts: Fields(((label, "".join(map(str, parts))),))


def _pieces(
    parts: list[Inline], make: Callable[[list[Inline]], Block], ok: Callable[[Sequence[Block]], bool]
) -> Iterator[Block]:
    """``parts`` (text, mentions, bold words) as the fewest blocks ``make`` builds that each fit on their own.

    A text is cut at a space near the end of what fits (else where it must), with `…` on both sides of the cut."""
    queue, current = list(parts), list[Inline]()
    while queue:
        part = queue.pop(0)
        if ok([make([*current, part])]):
            current.append(part)
            continue
        if isinstance(part, str) and len(part) > 1:
            room = _longest_prefix(part, _fitting(current, make, ok))
            if room == 0 and current:
                yield make(current)
                current = []
                queue.insert(0, part)
                continue
            room = max(room, 1)
            space = part.rfind(" ", room * 3 // 4, room)
            cut = space if space > 0 else room
            yield make([*current, part[:cut] + MORE])
            current = []
            rest = part[cut:].lstrip()
            if rest:
                queue.insert(0, MORE + rest)
            continue
        if current:  # a mention or a bold word does not fit after what came before: it starts the next piece
            yield make(current)
            current = []
            queue.insert(0, part)
        else:  # a single word of ours too big for any post: shown as it is, and the platform decides
            yield make([part])
    if current:
        yield make(current)


def _fitting(
    before: list[Inline], make: Callable[[list[Inline]], Block], ok: Callable[[Sequence[Block]], bool]
) -> Callable[[str], bool]:
    """Whether a piece of text, cut with `…`, still fits after ``before``."""
    kept = list(before)
    return lambda text: ok([make([*kept, text + MORE])])


def _longest_prefix(text: str, ok: Callable[[str], bool]) -> int:
    """The longest ``k`` such that ``ok(text[:k])``, by bisection (``ok`` holds for every shorter prefix too)."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if ok(text[:mid]):
            low = mid
        else:
            high = mid - 1
    return low
