"""The command grammar: what people type becomes the right command, and bad input a one-line reason."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from bot.commands import (
    AddAction,
    AddNote,
    AssignRole,
    ChangeFields,
    ChangeSeverity,
    InvitePeople,
    OpenIncident,
    ShowHelp,
    ShowStatus,
    parse,
    parse_amount,
)
from bot.errors import BadInput


def test_open_reads_quoted_title_and_options() -> None:
    command = parse('open "POS registers freeze in 300 stores" sev:1 customer:"Acme Retail" cost:40k/h at-risk:$2M')
    assert command == OpenIncident(
        title="POS registers freeze in 300 stores",
        severity=1,
        customer="Acme Retail",
        cost_per_hour=Decimal("40000"),
        revenue_at_risk=Decimal("2000000"),
    )


def test_open_takes_an_unquoted_title_and_curly_quotes() -> None:
    assert parse("open Router dead on arrival sev:2") == OpenIncident(title="Router dead on arrival", severity=2)
    assert parse("open \u201cRouter dead\u201d customer:\u201cAcme Retail\u201d") == OpenIncident(
        title="Router dead", customer="Acme Retail"
    )


def test_free_text_keeps_apostrophes_inner_quotes_and_colons() -> None:
    assert parse('note the vendor\'s rep said "soon"') == AddNote(text='the vendor\'s rep said "soon"')
    assert parse("note Root cause:firmware 4.2") == AddNote(text="Root cause:firmware 4.2")
    assert parse('note "  quoted whole  "') == AddNote(text="quoted whole")


def test_an_incident_can_be_named_after_the_verb() -> None:
    assert parse("status INC-42") == ShowStatus(incident=42)
    assert parse("sev inc-7 1 every store down") == ChangeSeverity(severity=1, reason="every store down", incident=7)


def test_people_roles_and_actions() -> None:
    assert parse("role vendor-manager @lee") == AssignRole(role="vendor_manager", handle="@lee")
    assert parse("invite @lee <@U123|sam> kim@example.com") == InvitePeople(
        handles=("@lee", "<@U123|sam>", "kim@example.com")
    )
    assert parse('action "qualify a second distributor" owner:@lee due:"tomorrow 09:00"') == AddAction(
        text="qualify a second distributor", owner="@lee", due="tomorrow 09:00"
    )


def test_empty_line_and_help() -> None:
    assert parse("") == ShowHelp()
    assert parse("help open") == ShowHelp(verb="open")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("frobnicate", "I don't know the verb 'frobnicate'"),
        ("open", "`open` needs a title"),
        ("open x sev:9", "severity must be 1 (worst) to 4"),
        ("open x sev:0", "severity must be 1 (worst) to 4"),
        ("open x prio:1", "`open` has no option prio:"),
        ("open x sev:1 sev:2", "option sev: is given twice"),
        ('open "<!channel> registers down"', "cannot contain mentions"),
        ('open "ping <@U123> now"', "cannot contain mentions"),
        ("open " + "y" * 5000, "the title is 5000 characters"),
        ('open x customer:"<!here>"', "customer: must be a plain name"),
        ('note "unclosed', "unclosed quote"),
        ("note", "`note` needs some text"),
        ("role comms", "`role` takes a role and one person"),
        ("sev", "`sev` needs a severity"),
        ("status extra words", "takes no words"),
        ("open INC-4 again", "takes no INC- number"),
        ("help frob", "there is no verb 'frob'"),
        ("open x at-risk:-5", "as an amount"),
    ],
)
def test_bad_input_is_one_line_with_an_example(text: str, reason: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse(text)
    message = str(caught.value)
    assert reason in message and "\n" not in message and "e.g. `" in message


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1895", "1895"),
        ("$1,895", "1895"),
        ("250k", "250000"),
        ("2M", "2000000"),
        ("1.5m", "1500000"),
        ("€99.50", "99.50"),
    ],
)
def test_amounts_as_people_type_them(text: str, amount: str) -> None:
    assert parse_amount(text) == Decimal(amount)


def test_cost_per_hour_accepts_rate_suffixes() -> None:
    assert parse_amount("40k/h", per_hour=True) == parse_amount("40000/hour", per_hour=True) == Decimal(40000)


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("at-risk 700k", {"revenue_at_risk": Decimal(700000)}),
        ("at-risk INC-4 $700,000", {"revenue_at_risk": Decimal(700000), "incident": 4}),
        ("cost 45k/h", {"cost_per_hour": Decimal(45000)}),
        ("cost 45k an hour", {"cost_per_hour": Decimal(45000)}),
        ("at-risk:2M", {"revenue_at_risk": Decimal(2000000)}),
        ("at-risk: 2M", {"revenue_at_risk": Decimal(2000000)}),
        ("cost:45k/h at-risk:2M", {"cost_per_hour": Decimal(45000), "revenue_at_risk": Decimal(2000000)}),
        ("set playbook:Service-Provider-Outage", {"playbook": "service-provider-outage"}),
    ],
)
def test_stakes_as_people_type_them_are_a_set(text: str, fields: dict[str, object]) -> None:
    assert parse(text) == ChangeFields(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("at-risk", "`at-risk` needs the revenue at risk"),
        ("cost", "`cost` needs the customer's cost per hour"),
        ("cost lots", "I can't read 'lots' as an amount"),
        ("at-risk:2M sev:1", "`set` has no option sev:"),
        ("set playbook:../etc", "playbook: takes a playbook's name"),
    ],
)
def test_stakes_and_playbook_switches_that_make_no_sense_are_refused(text: str, reason: str) -> None:
    with pytest.raises(BadInput, match=re.escape(reason)):
        parse(text)


def test_per_ask_cadence_team_asks_root_cause_and_action_forms() -> None:
    from datetime import timedelta

    from bot.commands import (
        AskTeam,
        AskVendor,
        FinishAction,
        OwnRootCause,
        ResolveIncident,
        RootCausePushed,
        SnoozeAction,
    )
    from bot.when import Every

    assert parse('vendor tailspin "RCA" due:2d every:1bd escalate-after:3 ref:TS-5521') == AskVendor(
        vendor="tailspin", ask="RCA", due="2d", reference="TS-5521", every=Every(business_days=1), escalate_after=3
    )
    assert parse('ask @payments-eng "confirm the patch" due:4h every:2h30m') == AskTeam(
        team="@payments-eng", ask="confirm the patch", due="4h", every=Every(timedelta(hours=2, minutes=30))
    )
    assert parse("RCA us due:5bd owner:@lee") == OwnRootCause(owner_side="us", due="5bd", owner="@lee")
    assert parse('rca pushed "asked the customer for logs" onto:"the customer"') == RootCausePushed(
        what="asked the customer for logs", onto="customer"
    )
    assert parse("action done a2 signed") == FinishAction(number=2, note="signed")
    assert parse("action snooze A1") == SnoozeAction(number=1)
    assert parse("action done with the runbook") == AddAction(text="done with the runbook")
    assert parse("resolve fixed watch:1d4h") == ResolveIncident(note="fixed", watch=timedelta(days=1, hours=4))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('vendor x "y" due:1h every:0m', "'0m' is no time at all"),
        ('vendor x "y" due:1h every:5m', "chase every 15m at the most often"),
        ('vendor x "y" due:1h every:0bd', "must be 1 to 20 business days"),
        ('vendor x "y" due:1h escalate-after:0', "escalate-after: must be a number of unanswered chases"),
        ('vendor x "y" due:1h escalate-after:²', "escalate-after: must be a number"),
        ('ask "payments eng" "y" due:1h', "is not a team or a @person"),
        ("ask @payments-eng", "`ask` needs a team or @person and what"),
        ('ask @payments-eng "y"', "an ask needs a due time"),
        ("rca @lee due:1d", "a vendor's name or `us`"),
        ("rca heard onto:us", "`rca heard` takes no onto: option"),
        ("rca pushed", "`rca` needs what they asked of us or the customer"),
        ("resolve watch:-1d", "watch: '-1d' is negative"),
        ("resolve watch:soon", "watch: I can't read 'soon'"),
        ("action done A1 due:1d", "`action done` takes no options"),
    ],
)
def test_bad_input_to_the_new_forms_is_one_line_with_an_example(text: str, reason: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse(text)
    message = str(caught.value)
    assert reason in message and "\n" not in message and "e.g. `" in message
