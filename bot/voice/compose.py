"""Composing what the customer reads: customer fields in, a guarded text out. Every customer-addressed path uses this.

A draft is rendered from the incident's template set (its playbook's `language:` and `customer_templates:`, else the
shipped English) with only the customer fields (`Facts`). Each field is checked by the guard before it is used and the
rendered text once more after: anything that names an internal party falls back to the safe skeleton, and the
`Composed` value says which field leaked and the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.customer import BadNews, Commitment, CommitmentState, CustomerUpdate, Trigger
from bot.domain import Incident, IncidentState, Person
from bot.followups import ROOT_CAUSE, TEAM, US, FollowUp
from bot.playbooks import PlaybookLibrary
from bot.store import Store
from bot.voice.guard import Guard, Leak, Name
from bot.voice.honesty import mentions
from bot.voice.language import PageWords, Speaker, page_words, shipped_set
from bot.voice.templates import SKELETON, Facts, Promise, SentUpdate, TemplateSet, Waiting, shipped

_Checker = Callable[..., object]  # checks one customer field (text, field, fix, by_hand=…), noting a leak
_STATE = {
    IncidentState.OPEN: "investigating",
    IncidentState.MITIGATED: "workaround",
    IncidentState.RESOLVED: "fixed",
    IncidentState.CLOSED: "closed",
}


@dataclass(frozen=True)
class Composed:
    """A customer-addressed text, and the leaks that made it fall back to the skeleton (empty when it did not)."""

    text: str
    leaks: tuple[Leak, ...] = ()

    @property
    def warning(self) -> str | None:
        """What the room is told when the draft is the skeleton: which field leaked, and how to fix it."""
        if not self.leaks:
            return None
        causes = "; ".join(str(leak) for leak in self.leaks)
        return f"this draft is the safe skeleton, because {causes}. The next draft uses the fix."


@dataclass(frozen=True)
class PagePromise:
    """A promise as the customer's page shows it: its words, its due time and its state in customer words, and
    (at risk or missed) the reason as the customer was told it."""

    text: str
    due: str
    state: str  # open | at_risk | kept | missed
    state_words: str
    reason: str | None = None


@dataclass(frozen=True)
class PageUpdate:
    """An update the customer was sent, as they got it (or, when its text cannot be shown here, that it was sent)."""

    number: int
    text: str
    at: datetime
    shown_at: str


@dataclass(frozen=True)
class CustomerPage:
    """Everything the customer's page shows, each text built from customer fields and passed by the guard."""

    language: str
    headline: str
    state: str  # investigating | workaround | fixed | closed
    standing: tuple[str, ...]  # the `page` template's paragraphs
    promises: tuple[PagePromise, ...]
    next_update: str | None
    next_update_late: bool
    updates: tuple[PageUpdate, ...]  # newest first
    words: PageWords
    now: datetime
    shown_now: str
    leaks: tuple[Leak, ...] = ()

    def texts(self) -> list[str]:
        """Every text of the page that came from the incident (what the guard's tests search)."""
        out = [self.headline, *self.standing, self.next_update or ""]
        for p in self.promises:
            out += [p.text, p.due, p.reason or ""]
        out += [u.text for u in self.updates]
        return out


@dataclass(frozen=True)
class Known:
    """What an incident holds that a customer text is built from, or must keep out: read once per text."""

    follow_ups: dict[int, FollowUp]
    commitments: dict[int, Commitment]
    updates: list[CustomerUpdate]
    people: list[Person]  # who holds a role

    @classmethod
    async def load(cls, store: Store, incident: Incident) -> Known:
        n = incident.number
        return cls(
            {f.number: f for f in await store.follow_ups(n)},
            {c.number: c for c in await store.commitments(n)},
            await store.updates(n),
            [r.person for r in await store.roles(n)],
        )


class Voice:
    """The customer's voice of every incident: its language, its zone, its templates, its guard."""

    def __init__(self, playbooks: PlaybookLibrary) -> None:
        self.playbooks = playbooks

    def speaker(self, incident: Incident) -> Speaker:
        return Speaker(self.playbooks.get(incident.playbook).language, incident.timezone)

    def _templates(self, incident: Incident) -> TemplateSet:
        book = self.playbooks.get(incident.playbook)
        return book.customer_templates or shipped(self.speaker(incident).locale.language)

    # --- what the incident knows that the customer must not read -------------------------------------

    def guard(self, incident: Incident, known: Known) -> Guard:
        """Every internal name of the incident: vendors and their aliases, contacts and addresses, our people,
        refs, and the internal title where the customer knows the problem by another name."""
        names: list[Name] = []
        book = self.playbooks.get(incident.playbook)
        for vendor in book.vendors:
            names += [Name(vendor.name, "a vendor"), *(Name(a, f"an alias of {vendor.name}") for a in vendor.aliases)]
            names += _rungs(vendor.ladder)
        people: list[Person] = [incident.opened_by]
        for f in known.follow_ups.values():
            if f.kind != TEAM and f.vendor != US:
                names.append(Name(f.vendor, "a vendor"))
            elif f.vendor.startswith("@"):
                names.append(Name(f.vendor, "one of our people"))
            if f.reference:
                names.append(Name(f.reference, f"{f.ref}'s reference"))
            names += _rungs(f.ladder)
            people.append(f.owner)
        people += [*known.people, *(c.author for c in known.commitments.values()), *(u.author for u in known.updates)]
        for p in dict.fromkeys(people):
            names += [Name(p.id, "one of our people"), Name(p.name, "one of our people")]
            if " " in p.name.strip():
                names.append(Name(p.name.split()[0], "one of our people"))
        if incident.title.strip().casefold() != (incident.headline or "").strip().casefold():
            names.append(Name(incident.title, "the internal title"))
        customer = (incident.customer or "").casefold()
        return Guard(n for n in names if n.text.strip() and n.text.casefold() not in customer)

    async def screen(self, store: Store, incident: Incident, text: str) -> list[Name]:
        """The internal names in a person's own text for the customer (`update send <text>`)."""
        return self.guard(incident, await Known.load(store, incident)).found(text)

    # --- drafts --------------------------------------------------------------------------------------

    async def draft(
        self,
        store: Store,
        incident: Incident,
        kind: str,
        now: datetime,
        *,
        tell: Sequence[BadNews] = (),
        next_update: datetime | None = None,
        held: timedelta | None = None,
    ) -> Composed:
        """One customer text (`update`, `bad_news`, `final`, `watch`) from customer fields only, guarded."""
        speaker = self.speaker(incident)
        known = await Known.load(store, incident)
        guard = self.guard(incident, known)
        facts, leaks = self._facts(known, incident, speaker, guard, now, tell, next_update, held)
        templates = self._templates(incident)
        if not leaks:
            text = templates.render(kind, facts, speaker)
            if (name := guard.first(text)) is None:
                return Composed(text)
            leaks = [Leak(f"the playbook's `{kind}` template", name, "an edit of its customer_templates", by_hand=True)]
        skeleton = shipped(shipped_set(speaker.locale) or "en")
        return Composed(skeleton.render(SKELETON, facts, speaker), tuple(leaks))

    async def subject(self, store: Store, incident: Incident, now: datetime) -> str:
        """The subject of an email to the customer (the bot adds the `[INC-n]` tag replies are matched by)."""
        composed = await self.draft(store, incident, "email_subject", now)
        if composed.leaks:
            return self.neutral_headline(incident, self.speaker(incident))
        return composed.text

    async def news(self, store: Store, incident: Incident, b: BadNews) -> str:
        """How the customer hears one piece of bad news, in their language (empty when it is moot)."""
        known = await Known.load(store, incident)
        speaker = self.speaker(incident)
        said, _covered = _news_sentence(b, known.commitments, known.follow_ups, speaker, b.at, incident.state)
        return said or ""

    async def page(
        self, store: Store, incident: Incident, now: datetime, *, next_update: datetime | None
    ) -> CustomerPage:
        """The customer's page: the `page` template's text, each promise with its state (and the reason as told),
        the next update time, and every update the customer was sent, newest first, in their language and zone.
        Each field is guarded: a leaking one is left out (the headline falls back to the neutral one), and when
        the rendered text still names something internal the page's text is the safe skeleton."""
        speaker = self.speaker(incident)
        known = await Known.load(store, incident)
        guard = self.guard(incident, known)
        words = page_words(speaker)
        safe_known = Known(
            {n: f for n, f in known.follow_ups.items() if _follow_up_safe(f, guard)},
            {n: c for n, c in known.commitments.items() if guard.first(c.promise) is None},
            known.updates,
            known.people,
        )
        facts, leaks = self._facts(safe_known, incident, speaker, guard, now, (), next_update, None)
        if leaks:  # the headline or `doing:`: the page goes without them rather than not at all
            facts = replace(
                facts,
                headline=facts.headline
                if guard.first(facts.headline) is None
                else self.neutral_headline(incident, speaker),
                doing=facts.doing if guard.first(facts.doing) is None else None,
            )
        try:
            text = self._templates(incident).render("page", facts, speaker)
        except Exception:  # a playbook's `page` template that fails on these facts: the shipped one
            text = shipped(shipped_set(speaker.locale) or "en").render("page", facts, speaker)
        if (name := guard.first(text)) is not None:
            leaks.append(
                Leak("the playbook's `page` template", name, "an edit of its customer_templates", by_hand=True)
            )
            text = shipped(shipped_set(speaker.locale) or "en").render(
                SKELETON, replace(facts, next_update=None), speaker
            )
        told = [b for b in await store.bad_news(incident.number) if b.told]
        reasons = _told_reasons(incident, known, told, speaker, now)
        promises = []
        for c in sorted(safe_known.commitments.values(), key=lambda c: c.due):
            reason = reasons.get(c.number) if c.state in (CommitmentState.AT_RISK, CommitmentState.MISSED) else None
            if reason is not None and guard.first(reason) is not None:
                reason = None
            state = c.state.value
            promises.append(
                PagePromise(c.promise, speaker.datetime(c.due), state, words.states.get(state, state), reason)
            )
        updates = []
        for u in reversed([u for u in known.updates if u.exact]):
            shown = u.text if guard.first(u.text) is None else words.sent_by_email
            updates.append(PageUpdate(u.number, shown, u.at, speaker.datetime(u.at)))
        late = next_update is not None and next_update <= now
        return CustomerPage(
            language=str(speaker.locale).replace("_", "-"),
            headline=facts.headline,
            state=facts.state,
            standing=tuple(p for p in text.split("\n\n") if p.strip()),
            promises=tuple(promises),
            next_update=speaker.datetime(next_update) if next_update is not None and not late else None,
            next_update_late=late,
            updates=tuple(updates),
            words=words,
            now=now,
            shown_now=speaker.datetime(now),
            leaks=tuple(dict.fromkeys(leaks)),
        )

    async def share_mail(self, store: Store, incident: Incident, url: str) -> str:
        """The email `share to:` sends: the link to the page, with the (guarded) headline, in their language."""
        speaker = self.speaker(incident)
        guard = self.guard(incident, await Known.load(store, incident))
        headline = incident.headline if incident.headline and guard.first(incident.headline) is None else None
        return page_words(speaker).mail.format(headline=headline or self.neutral_headline(incident, speaker), url=url)

    def neutral_headline(self, incident: Incident, speaker: Speaker) -> str:
        phrases = speaker.phrases
        started = speaker.date(incident.opened_at)
        if incident.customer:
            return phrases.headline.format(customer=incident.customer, started=started)
        return phrases.headline_no_customer.format(started=started)

    def _facts(
        self,
        known: Known,
        incident: Incident,
        speaker: Speaker,
        guard: Guard,
        now: datetime,
        tell: Sequence[BadNews],
        next_update: datetime | None,
        held: timedelta | None,
    ) -> tuple[Facts, list[Leak]]:
        leaks: list[Leak] = []

        def checked(text: str | None, field: str, fix: str, *, by_hand: bool = False) -> str | None:
            if text and (name := guard.first(text)):
                leaks.append(Leak(field, name, fix, by_hand=by_hand))
            return text

        headline = checked(incident.headline, "the headline", 'set headline:"…"') or self.neutral_headline(
            incident, speaker
        )
        doing = checked(incident.doing, "`doing:`", 'set doing:"…"')
        commitments, follow_ups = known.commitments, known.follow_ups
        news: list[str] = []
        covered_c: set[int] = set()
        covered_f: set[int] = set()
        for b in _latest(tell):
            said, covered = _news_sentence(b, commitments, follow_ups, speaker, now, incident.state)
            if said is None or said in news:
                continue
            news.append(said)
            covered_c |= covered  # a promise the news speaks of is not listed again
            for n in covered:
                _check_commitment(commitments[n], checked)
            if b.follow_up is not None and b.follow_up in follow_ups:
                covered_f.add(b.follow_up)
                _check_follow_up(follow_ups[b.follow_up], checked)
        promises = []
        for c in commitments.values():
            if c.number not in covered_c:
                _check_commitment(c, checked)
                promises.append(Promise(c.promise, c.due, c.state.value))
        waiting = []
        for f in follow_ups.values():
            # our own teams' asks are internal deadlines: the customer hears of one only through its customer text
            if f.is_open and f.number not in covered_f and (f.kind != TEAM or f.customer_text):
                _check_follow_up(f, checked)
                waiting.append(Waiting(customer_item(f, speaker), f.due, now > f.due))
        exact = [u for u in known.updates if u.exact]
        last = exact[-1] if exact and guard.first(exact[-1].text) is None else None
        facts = Facts(
            customer=incident.customer or "",
            headline=headline,
            started=incident.opened_at,
            state=_STATE[incident.state],
            now=now,
            doing=doing,
            promises=tuple(promises),
            waiting=tuple(waiting),
            news=tuple(news),
            next_update=next_update,
            last_update=SentUpdate(last.text, last.at) if last else None,
            restored_at=incident.resolved_at,
            held=speaker.duration(held) if held is not None else None,
        )
        return facts, list(dict.fromkeys(leaks))


def says(update: str, b: BadNews, commitments: Iterable[Commitment], follow_ups: Iterable[FollowUp]) -> bool:
    """Honest telling: an update says ``b`` when it shares a content word with it, or with the promise or the ask it
    is about. "Told them it is taking a bit longer" says nothing of a late replacement router."""
    about: list[str | None] = [b.what, b.tell]
    about += [c.promise for c in commitments if c.number == b.commitment]
    about += [w for f in follow_ups if f.number == b.follow_up for w in (f.ask, f.customer_text, f.vendor)]
    return mentions(update, about)


def _follow_up_safe(f: FollowUp, guard: Guard) -> bool:
    """A follow-up whose customer words may be shown (its `customer:` text and customer-facing vendor name)."""
    return guard.first(f.customer_text) is None and (
        f.kind == TEAM or f.vendor == US or guard.first(f.customer_name) is None
    )


def _told_reasons(
    incident: Incident, known: Known, told: Sequence[BadNews], speaker: Speaker, now: datetime
) -> dict[int, str]:
    """For each promise, the latest bad news about it that the customer was told, as they hear it now."""
    reasons: dict[int, str] = {}
    for b in sorted(told, key=lambda b: b.number):
        said, covered = _news_sentence(b, known.commitments, known.follow_ups, speaker, now, incident.state)
        if said:
            reasons |= dict.fromkeys(covered, said)
    return reasons


def customer_item(f: FollowUp, speaker: Speaker) -> str:
    """How the customer hears of something we wait on: its `customer:` text, else a neutral phrase of its kind."""
    if f.customer_text:
        return f.customer_text
    phrases = speaker.phrases
    if f.kind == TEAM:
        return phrases.team_item
    if f.vendor == US:
        return phrases.rca_us_item
    supplier = f.customer_name or phrases.supplier  # the playbook's customer-facing name for the vendor
    if f.kind == ROOT_CAUSE:
        return phrases.rca_vendor_item.format(supplier=supplier)
    return phrases.vendor_item.format(supplier=supplier)


def _check_commitment(c: Commitment, checked: _Checker) -> None:
    checked(c.promise, f"{c.ref}'s promise", f'commit reword {c.ref} "…"')


def _check_follow_up(f: FollowUp, checked: _Checker) -> None:
    fix = 'rca customer "…"' if f.kind == ROOT_CAUSE else f'vendor customer {f.ref} "…"'
    checked(f.customer_text, f"{f.ref}'s customer text", fix)
    if f.kind != TEAM and f.vendor != US:
        checked(f.customer_name, f"the playbook's customer_name for {f.ref}", "an edit of the playbook", by_hand=True)


def _news_sentence(
    b: BadNews,
    commitments: dict[int, Commitment],
    follow_ups: dict[int, FollowUp],
    speaker: Speaker,
    now: datetime,
    state: IncidentState,
) -> tuple[str | None, set[int]]:
    """The customer's sentence for one piece of bad news, from the facts as they are now (None when moot), and the
    promises it speaks of."""
    if b.moot_at is not None:
        return None, set()
    phrases = speaker.phrases
    over = state in (IncidentState.RESOLVED, IncidentState.CLOSED)  # service is back: a slip is told in the past

    def promise(c: Commitment) -> str:
        return phrases.promise_join.format(promise=c.promise, due=speaker.datetime(c.due))

    f = follow_ups.get(b.follow_up) if b.follow_up is not None else None
    if f is not None:
        if not f.is_open:
            return None, set()  # it arrived (or we stopped waiting): nothing is late any more
        item = customer_item(f, speaker)
        said = {
            Trigger.VENDOR_ESCALATED: phrases.item_escalated,
            Trigger.VENDOR_PLAN_B: phrases.item_plan_b,
            Trigger.ETA_SLIPPED: phrases.item_moved if f.due > now else phrases.item_late,
        }.get(b.trigger, phrases.item_late)
        said = said.format(item=item, Item=_capfirst(item), due=speaker.datetime(f.due))
        # the promises it speaks of are those made before it slipped, and still open
        needing = [c for c in commitments.values() if c.is_open and f.number in c.needs and c.made_at <= b.at]
        endangered = [c for c in needing if f.due >= c.due] if b.trigger is Trigger.ETA_SLIPPED else needing
        if endangered:
            said += " " + phrases.puts_at_risk.format(promises=speaker.join([promise(c) for c in endangered]))
        elif needing:
            said += " " + phrases.still_stands.format(promises=speaker.join([promise(c) for c in needing]))
        return said, {c.number for c in needing}
    c = commitments.get(b.commitment) if b.commitment is not None else None
    if c is not None:
        due = speaker.datetime(c.due)
        if c.state is CommitmentState.KEPT:
            return None, set()
        if c.state is CommitmentState.MISSED:
            return phrases.promise_missed.format(promise=c.promise, due=due), {c.number}
        return phrases.promise_at_risk.format(promise=c.promise, due=due), {c.number}
    if b.trigger is Trigger.SEVERITY_RAISED:
        return (phrases.severity_raised_over if over else phrases.severity_raised), set()
    if b.trigger is Trigger.REOPENED:
        return (phrases.reopened_over if over else phrases.reopened), set()
    return phrases.something_changed, set()


def _latest(news: Sequence[BadNews]) -> list[BadNews]:
    """The latest piece of news about each thing (a follow-up's escalation supersedes its lateness), in order."""
    last: dict[tuple[str, int], BadNews] = {}
    for b in news:
        if b.follow_up is not None:
            last[("V", b.follow_up)] = b
        elif b.commitment is not None:
            last[("C", b.commitment)] = b
        else:
            last[("B", b.number)] = b
    return sorted(last.values(), key=lambda b: b.number)


def _capfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


def _rungs(ladder: Iterable[object]) -> list[Name]:
    names: list[Name] = []
    for rung in ladder:
        name, contact = getattr(rung, "name", ""), getattr(rung, "contact", "")
        names += [Name(name, "a contact on a ladder"), Name(contact, f"the contact details of {name}")]
    return names
