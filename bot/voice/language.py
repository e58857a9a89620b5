"""The languages drafts are written in: Babel formatting in the customer's locale and zone, and the shipped phrases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, format_timedelta, get_timezone_location
from babel.numbers import format_currency

SHIPPED = ("en", "fr")


@dataclass(frozen=True)
class Phrases:
    """What a shipped language says where the team gave no customer words of its own."""

    at: str  # "{date} at {time} ({zone})"
    zone: str  # "{city} time"
    headline: str  # the neutral headline: "{customer}", "{started}"
    headline_no_customer: str
    supplier: str  # a vendor with no `customer_name`
    vendor_item: str  # "{supplier}"
    team_item: str
    rca_vendor_item: str  # "{supplier}"
    rca_us_item: str
    promise_at_risk: str  # "{promise}", "{due}"
    promise_missed: str
    item_late: str  # "{Item}" (capitalised) or "{item}"
    item_escalated: str
    item_plan_b: str
    item_moved: str  # "{item}", "{due}"
    puts_at_risk: str  # "{promises}"
    still_stands: str
    severity_raised: str
    severity_raised_over: str  # told once service is back
    reopened: str
    reopened_over: str
    something_changed: str
    promise_join: str  # "{promise} by {due}"
    and_: str


EN = Phrases(
    at="{date} at {time} ({zone})",
    zone="{city} time",
    headline="the disruption at {customer} since {started}",
    headline_no_customer="the disruption you have seen since {started}",
    supplier="a supplier",
    vendor_item="what we need from {supplier}",
    team_item="a fix from our engineering team",
    rca_vendor_item="the analysis of the root cause from {supplier}",
    rca_us_item="our analysis of the root cause",
    promise_at_risk="Our promise is at risk: {promise}, by {due}.",
    promise_missed="We did not keep our promise: {promise}, by {due}. We are sorry.",
    item_late="{Item} is late.",
    item_escalated="{Item} is taking too long, so we have escalated it.",
    item_plan_b="{Item} has not come, so we are getting it another way.",
    item_moved="{Item} will now come on {due}, later than planned.",
    puts_at_risk="This puts our promise at risk: {promises}.",
    still_stands="Our promise still stands: {promises}.",
    severity_raised="The problem has become more serious for you, and we have raised its priority across our teams.",
    severity_raised_over="The problem became more serious for you before we fixed it.",
    reopened="The fix did not hold: the problem is back, and we are working on it again.",
    reopened_over="Our first fix did not hold and the problem came back for a while before this fix.",
    something_changed="Something in our plan has changed, and we want you to hear it from us first.",
    promise_join="{promise}, by {due}",
    and_=" and ",
)

FR = Phrases(
    at="{date} à {time} ({zone})",
    zone="heure de {city}",
    headline="la perturbation chez {customer} depuis le {started}",
    headline_no_customer="la perturbation que vous subissez depuis le {started}",
    supplier="notre fournisseur",
    vendor_item="ce que nous attendons de {supplier}",
    team_item="un correctif de notre équipe d’ingénierie",
    rca_vendor_item="l’analyse de la cause première menée par {supplier}",
    rca_us_item="notre analyse de la cause première",
    promise_at_risk="Notre engagement risque de ne pas être tenu : {promise}, d’ici le {due}.",
    promise_missed="Nous n’avons pas tenu notre engagement : {promise}, d’ici le {due}. Nous vous prions de nous en "
    "excuser.",
    item_late="{Item} a pris du retard.",
    item_escalated="{Item} tarde trop : nous avons fait remonter le sujet.",
    item_plan_b="{Item} n’est toujours pas là : nous passons par une autre voie pour l’obtenir.",
    item_moved="{Item} arrivera désormais le {due}, plus tard que prévu.",
    puts_at_risk="Cela met en risque notre engagement : {promises}.",
    still_stands="Notre engagement tient toujours : {promises}.",
    severity_raised="Le problème s’est aggravé pour vous, et nous en avons relevé la priorité dans toutes nos équipes.",
    severity_raised_over="Le problème s’est aggravé pour vous avant que nous le corrigions.",
    reopened="Le correctif n’a pas tenu : le problème est revenu, et nous y travaillons de nouveau.",
    reopened_over="Notre premier correctif n’a pas tenu et le problème est revenu un temps avant ce correctif.",
    something_changed="Un élément de notre plan a changé, et nous tenons à ce que vous l’appreniez par nous.",
    promise_join="{promise}, d’ici le {due}",
    and_=" et ",
)

_PHRASES = {"en": EN, "fr": FR}


def parse_language(tag: str) -> Locale:
    """A BCP 47 tag (`fr`, `fr-CA`, `en-GB`) as a Babel locale; ValueError when Babel does not know it."""
    try:
        return Locale.parse(tag.strip().replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError) as err:
        raise ValueError(f"'{tag}' is not a language tag Babel knows (like en, fr, fr-CA)") from err


def shipped_set(locale: Locale) -> str | None:
    """The shipped template set a locale uses (`fr-CA` → `fr`); None when none is shipped."""
    return locale.language if locale.language in SHIPPED else None


class Speaker:
    """Dates, times, amounts and durations as the customer reads them: their language, their zone."""

    def __init__(self, language: str, timezone: str) -> None:
        self.locale = parse_language(language)
        self.zone = ZoneInfo(timezone)
        self.phrases = _PHRASES.get(shipped_set(self.locale) or "en", EN)
        city = get_timezone_location(self.zone, locale=self.locale, return_city=True)
        self._zone_label = "UTC" if timezone in ("UTC", "Etc/UTC") else self.phrases.zone.format(city=city)

    def date(self, at: datetime | None) -> str:
        return format_date(at.astimezone(self.zone), "full", locale=self.locale) if at else ""

    def time(self, at: datetime | None) -> str:
        # CLDR puts a narrow no-break space before "AM"; chat and mail clients show a plain space more reliably
        return format_time(at, "short", tzinfo=self.zone, locale=self.locale).replace("\u202f", " ") if at else ""

    def datetime(self, at: datetime | None) -> str:
        if at is None:
            return ""
        return self.phrases.at.format(date=self.date(at), time=self.time(at), zone=self._zone_label)

    def money(self, amount: Decimal | float | int | None, currency: str = "USD") -> str:
        return format_currency(amount, currency, locale=self.locale) if amount is not None else ""

    def duration(self, span: timedelta | None) -> str:
        return format_timedelta(span, locale=self.locale) if span is not None else ""

    def join(self, items: list[str]) -> str:
        """`a`, `a and b`, `a, b and c` in the customer's language."""
        if len(items) <= 1:
            return "".join(items)
        return ", ".join(items[:-1]) + self.phrases.and_ + items[-1]


@dataclass(frozen=True)
class PageWords:
    """The fixed words of the customer's page in a shipped language (its headings, labels and states)."""

    title: str  # "{headline}"
    standing: str
    promises: str
    no_promises: str
    next_update: str
    next_update_late: str  # the time has passed and we owe an update
    updates: str
    no_updates: str
    sent_by_email: str  # an update whose text cannot be shown here
    states: dict[str, str]  # a promise's state in customer words: open, at_risk, kept, missed
    by: str  # "by {due}"
    ask: str
    ask_hint: str
    your_message: str
    send: str
    thanks: str
    too_long: str  # "{limit}"
    empty: str
    too_many: str
    live: str
    feed: str
    generated: str  # "{at}": when the page was made
    mail: str  # the email `share to:` sends: "{headline}", "{url}"


PAGE_EN = PageWords(
    title="About {headline}",
    standing="Where things stand",
    promises="What we promised you",
    no_promises="We have made no promise with a date yet.",
    next_update="Our next update to you",
    next_update_late="We owe you an update: it is on its way.",
    updates="The updates we sent you",
    no_updates="We have not sent you an update yet.",
    sent_by_email="This update was sent to you by email.",
    states={"open": "on track", "at_risk": "at risk", "kept": "kept", "missed": "missed"},
    by="by {due}",
    ask="A question or a correction for the team",
    ask_hint="The team reads it in their war room and answers with their next update. 2,000 characters at most.",
    your_message="Your message",
    send="Send to the team",
    thanks="Thank you: the team has your message.",
    too_long="Your message is longer than {limit} characters; please shorten it.",
    empty="Your message is empty.",
    too_many="You have sent several messages in the last hour; please wait a little before sending another.",
    live="This page updates itself as things change.",
    feed="Follow the updates (Atom feed)",
    generated="As of {at}",
    mail="Here is your own page about {headline}:\n\n{url}\n\nIt shows where things stand, what we promised you, "
    "every update we sent you and when you will hear from us next, and it updates itself. You can also send the team "
    "a question from it. Please keep the link to yourself: anyone who has it can read the page.",
)

PAGE_FR = PageWords(
    title="À propos de {headline}",
    standing="Où en sommes-nous",
    promises="Nos engagements envers vous",
    no_promises="Nous n’avons pas encore pris d’engagement daté.",
    next_update="Notre prochain point avec vous",
    next_update_late="Nous vous devons un point : il arrive.",
    updates="Les points que nous vous avons envoyés",
    no_updates="Nous ne vous avons pas encore envoyé de point.",
    sent_by_email="Ce point vous a été envoyé par e-mail.",
    states={"open": "en bonne voie", "at_risk": "menacé", "kept": "tenu", "missed": "non tenu"},
    by="d’ici le {due}",
    ask="Une question ou une correction pour l’équipe",
    ask_hint="L’équipe la lit dans sa cellule de crise et vous répond dans son prochain point. "
    "2 000 caractères au plus.",
    your_message="Votre message",
    send="Envoyer à l’équipe",
    thanks="Merci : l’équipe a reçu votre message.",
    too_long="Votre message dépasse {limit} caractères ; merci de le raccourcir.",
    empty="Votre message est vide.",
    too_many="Vous avez envoyé plusieurs messages dans l’heure ; merci de patienter avant d’en envoyer un autre.",
    live="Cette page se met à jour d’elle-même.",
    feed="Suivre les points (flux Atom)",
    generated="Au {at}",
    mail="Voici votre page consacrée à {headline} :\n\n{url}\n\nElle montre où nous en sommes, nos engagements "
    "envers vous, chacun des points que nous vous avons envoyés et la date du prochain, et elle se met à jour "
    "d’elle-même. Vous pouvez aussi y poser une question à l’équipe. Merci de garder ce lien pour vous : toute "
    "personne qui l’a peut lire la page.",
)

_PAGE_WORDS = {"en": PAGE_EN, "fr": PAGE_FR}


def page_words(speaker: Speaker) -> PageWords:
    return _PAGE_WORDS.get(shipped_set(speaker.locale) or "en", PAGE_EN)
