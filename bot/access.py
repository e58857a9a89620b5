"""Who may do what in chat: one policy for Slack, Teams and the console, applied where a command finds its incident.

- An incident is acted on from its own war room. Elsewhere (a lobby, a DM, another incident's room) only `open`,
  `list`, `help`, `scorecard` and reading a *public* incident by name (`status INC-4`, `vendors INC-4`) work.
- A private incident (`set private:yes`, or a playbook with `private: true` at open) does not exist outside its
  room: `list` leaves it out, and naming it gets the very words a number nobody opened gets.
- In the room, the playbook's `permissions:` reserve some actions to roles (bot/playbooks.py, DEFAULT_PERMISSIONS).
  When nobody in the incident holds any of the roles an action needs, anyone in the room may do it: an incident
  whose commander left is not stuck.
- The HTTP API is not a chat surface: its tokens say what it may do (adapters/web/api.py).

Every refusal is one line, says that nothing was recorded, and tells nothing about a private incident.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot import commands as c
from bot.chat import Invocation
from bot.domain import Incident, RoleAssignment
from bot.errors import NotFound, WarroomError
from bot.playbooks import DEFAULT_PERMISSIONS, PlaybookLibrary
from bot.store.views import EVERY_INCIDENT, Visible
from bot.tokens import is_api_user

NOTHING_RECORDED = "nothing was recorded"

# The verb each command is typed with: what `permissions:` names.
_VERBS: dict[type[c.Command], str] = {
    c.OpenIncident: "open",
    c.ShowStatus: "status",
    c.ChangeSeverity: "sev",
    c.AssignRole: "role",
    c.InvitePeople: "invite",
    c.AddNote: "note",
    c.AddLesson: "lesson",
    c.AddAction: "action",
    c.FinishAction: "action",
    c.SnoozeAction: "action",
    c.MitigateIncident: "mitigate",
    c.ResolveIncident: "resolve",
    c.ReopenIncident: "reopen",
    c.CloseIncident: "close",
    c.RecordOutcome: "outcome",
    c.ChangeFields: "set",
    c.ListIncidents: "list",
    c.ShowHelp: "help",
    c.AskVendor: "vendor",
    c.HeardFromVendor: "vendor",
    c.ReceivedFromVendor: "vendor",
    c.EscalateFollowUp: "vendor",
    c.CancelFollowUp: "vendor",
    c.SnoozeFollowUp: "vendor",
    c.EmailFollowUp: "vendor",
    c.ListFollowUps: "vendors",
    c.AskTeam: "ask",
    c.OwnRootCause: "rca",
    c.RootCauseHeard: "rca",
    c.RootCauseDelivered: "rca",
    c.RootCausePushed: "rca",
    c.RecordUpdate: "update",
    c.SendDraft: "update",
    c.SendUpdate: "update",
    c.MakeCommitment: "commit",
    c.KeepCommitment: "commit",
    c.RiskCommitment: "commit",
    c.MissCommitment: "commit",
    c.RewordCommitment: "commit",
    c.ShowScorecard: "scorecard",
    c.ShareLink: "share",
    c.ListShares: "share",
    c.RevokeShare: "share",
}
# What a verb does, in the words of a refusal ("only the commander may … INC-4").
_DOING = {
    "close unresolved": "close unresolved",
    "sev down": "lower the severity of",
    "sev up": "raise the severity of",
    "at-risk": "change the revenue at risk of",
    "cost": "change the cost per hour of",
    "role": "assign roles in",
    "private": "change who may see",
    "playbook": "switch the playbook of",
    "share": "share",
}


class Refused(WarroomError):
    """A command this person may not run here; the message is one line and names nothing they may not see."""


def no_such_incident(number: int) -> str:
    """The answer to naming an incident that does not exist — and to naming a private one outside its room."""
    return f"there is no INC-{number}; {NOTHING_RECORDED}"


def verb_of(command: c.Command) -> str:
    """The verb a command was typed with (`vendor heard V1` → `vendor`)."""
    if isinstance(command, c.SetCustomerText):
        return "rca" if command.number is None else "vendor"
    return _VERBS[type(command)]


def actions_of(command: c.Command, before: Incident) -> tuple[str, ...]:
    """Every action `permissions:` may name that this command takes on ``before``: its verb, and the moves in it."""
    verb = verb_of(command)
    if isinstance(command, c.CloseIncident) and command.unresolved is not None:
        return ("close unresolved",)
    if isinstance(command, c.ChangeSeverity) and command.severity != before.severity:
        return (verb, "sev down" if command.severity > before.severity else "sev up")
    if isinstance(command, c.ChangeFields):
        moves = {
            "at-risk": command.revenue_at_risk,
            "cost": command.cost_per_hour,
            "private": command.private,
            "playbook": command.playbook,
        }
        return (verb, *(move for move, value in moves.items() if value is not None))
    return (verb,)


def _roles_text(roles: Sequence[str]) -> str:
    names = [f"the {r.replace('_', ' ')}" for r in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


class Access:
    """The policy, asked by the Desk each time a command finds its incident, and by `list`."""

    def __init__(self, playbooks: PlaybookLibrary) -> None:
        self.playbooks = playbooks

    def is_private(self, incident: Incident) -> bool:
        """Whether the incident is invisible outside its room; one whose playbook is gone counts as private."""
        if incident.private is not None:
            return incident.private
        try:
            return self.playbooks.get(incident.playbook).private
        except NotFound:
            return True

    def visible(self, incident: Incident, invocation: Invocation) -> bool:
        """Whether `list` (or anything that shows many incidents) may show this incident to whoever asked, there."""
        return is_api_user(invocation.user.id) or not self.is_private(incident) or _in_room(incident, invocation)

    def seen_from(self, invocation: Invocation) -> Visible:
        """`visible` for every incident at once, as the database reads it: what a read across incidents (`list`,
        `scorecard`) may count or show to whoever asked, there."""
        if is_api_user(invocation.user.id):
            return EVERY_INCIDENT
        return Visible(public_playbooks=self.public_playbooks(), room_id=invocation.room.id or None)

    def public(self) -> Visible:
        """The public incidents alone, as the database reads them (`is_private`, for every incident at once)."""
        return Visible(public_playbooks=self.public_playbooks())

    def public_playbooks(self) -> frozenset[str]:
        """The playbooks whose incidents are public unless set private (any other name counts as private)."""
        return frozenset(name for name in self.playbooks.names if not self.playbooks.get(name).private)

    async def check(
        self,
        command: c.Command,
        invocation: Invocation,
        incident: Incident,
        roles: Callable[[], Awaitable[Sequence[RoleAssignment]]],
    ) -> None:
        """Raise Refused unless this person may run this command on this incident from where they typed it.

        ``roles`` loads the incident's roles; it is called only when an action of the command is reserved to roles
        (a `status` or a `note` reads none)."""
        if is_api_user(invocation.user.id):
            return  # the API's tokens say what it may do
        if not _in_room(incident, invocation):
            if self.is_private(incident):
                raise Refused(no_such_incident(incident.number))
            if isinstance(command, c.READ_ONLY):
                return  # reading a public incident by name
            where = f" (#{incident.room_name})" if incident.room_name else ""
            raise Refused(
                f"{incident.ref} is worked on in its own war room{where}: run `{verb_of(command)}` there;"
                f" {NOTHING_RECORDED}"
            )
        permissions = self._permissions(incident)
        reserved = [(a, needed) for a in actions_of(command, incident) if (needed := permissions.get(a, ()))]
        if not reserved:
            return
        assigned = await roles()
        held = {r.role for r in assigned if r.person.id == invocation.user.id}
        filled = {r.role for r in assigned}
        for action, needed in reserved:
            if held & set(needed) or not filled & set(needed):
                continue
            doing = _DOING.get(action, action)
            raise Refused(
                f"only {_roles_text(needed)} may {doing} {incident.ref} (playbook {incident.playbook});"
                f" {NOTHING_RECORDED}"
            )

    def _permissions(self, incident: Incident) -> dict[str, tuple[str, ...]]:
        try:
            return dict(self.playbooks.get(incident.playbook).permissions)
        except NotFound:  # its playbook was removed: the defaults still hold
            return dict(DEFAULT_PERMISSIONS)


def _in_room(incident: Incident, invocation: Invocation) -> bool:
    return incident.room_id is not None and invocation.room.id == incident.room_id
