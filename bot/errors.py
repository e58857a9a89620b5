"""One root error; every subclass carries a message that is safe to show a user."""

from __future__ import annotations


class WarroomError(Exception):
    """Root of every error Warroom raises on purpose; ``str(err)`` is safe to show users."""


class BadInput(WarroomError):
    """The user typed something we cannot act on. Nothing was changed."""

    def __init__(self, reason: str, *, example: str | None = None) -> None:
        self.reason = reason
        self.example = example
        super().__init__(f"{reason} — e.g. `{example}`" if example else reason)


class NotFound(WarroomError):
    """A named thing (incident, follow-up, commitment, playbook) does not exist."""


class Conflict(WarroomError):
    """The request is valid but the incident's state does not allow it."""


class PlaybookError(WarroomError):
    """One or more playbooks are invalid; the message lists every problem with file and line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class ChatError(WarroomError):
    """The chat platform refused or failed a call; the message names the call and the reason.

    ``unknown_outcome`` says the platform may have done it anyway (a 5xx, a timeout, a dropped connection);
    ``refused`` that it refused the payload itself (too big, malformed: Slack's `msg_blocks_too_long`, Teams' 413),
    so the same payload would be refused again — it is never resent unchanged."""

    unknown_outcome: bool = False
    refused: bool = False
