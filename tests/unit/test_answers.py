"""The memory of read-only answers: what is given again, and when it is read afresh."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime, timedelta

from bot.answers import Answers
from bot.chat import Message, Reply
from bot.store.changes import Mark

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Version:
    def __init__(self) -> None:
        self.now: Hashable | None = 1

    def mark(self) -> Mark | None:
        return None if self.now is None else Mark(self.now, 0, 0)

    def unchanged_since(self, mark: Mark, _incident: int | None) -> bool:
        return self.now is not None and self.now == mark.version


class Reader:
    def __init__(self, *, failed: bool = False) -> None:
        self.reads, self.failed = 0, failed

    async def __call__(self) -> Reply:
        self.reads += 1
        return Reply((Message(f"read {self.reads}"),), failed=self.failed)


async def test_an_answer_is_given_again_until_the_version_changes() -> None:
    version, read = Version(), Reader()
    answers = Answers(version)
    first = await answers.answer("k", T0, read)
    assert await answers.answer("k", T0 + timedelta(seconds=5), read) is first
    assert answers.kept("k", T0) is first
    version.now = 2  # someone committed
    assert answers.kept("k", T0) is None
    assert (await answers.answer("k", T0, read)).messages[0].title == "read 2"


async def test_nothing_is_kept_when_the_version_cannot_be_told_or_the_read_failed() -> None:
    version, read = Version(), Reader()
    version.now = None
    answers = Answers(version)
    await answers.answer("k", T0, read)
    await answers.answer("k", T0, read)
    assert read.reads == 2
    version.now, broken = 1, Reader(failed=True)
    await answers.answer("k", T0, broken)
    await answers.answer("k", T0, broken)
    assert broken.reads == 2


async def test_an_answer_is_read_afresh_past_its_age_or_when_the_clock_goes_back() -> None:
    read = Reader()
    answers = Answers(Version(), max_age=timedelta(seconds=30))
    await answers.answer("k", T0, read)
    await answers.answer("k", T0 + timedelta(seconds=29), read)
    assert read.reads == 1
    await answers.answer("k", T0 + timedelta(seconds=30), read)
    assert read.reads == 2
    await answers.answer("k", T0, read)  # the console's /clock moved back
    assert read.reads == 3


async def test_the_memory_holds_the_most_recently_asked_answers_only() -> None:
    read = Reader()
    answers = Answers(Version(), size=2)
    for key in ("a", "b", "a", "c"):
        await answers.answer(key, T0, read)
    assert answers.kept("a", T0) is not None and answers.kept("c", T0) is not None
    assert answers.kept("b", T0) is None
