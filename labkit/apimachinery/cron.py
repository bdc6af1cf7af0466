"""Cron schedules as CronJobs read them: parse a standard 5-field spec and find the next time it fires.

Mirrors ``github.com/robfig/cron/v3`` as kube uses it (``cron.ParseStandard`` in CronJob validation
and in the CronJob controller): five fields, minute hour day-of-month month day-of-week; each field a
comma list of ``*`` or ``?``, a value, a range ``a-b``, each optionally with a step ``/n`` (``a/n``
runs from ``a`` to the field's maximum); month and weekday names (``JAN``, ``mon``); day-of-week 0-6
with 0 Sunday; the descriptors ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
(``@midnight``), ``@hourly`` and ``@every <duration>``. As in cron (and robfig), when both day fields
are restricted a day matching either fires; when one is ``*`` both must match. Times are wall-clock
times in the schedule's zone (``zoneinfo``). Error messages are robfig's, since kube-apiserver puts
them in its validation errors.

A ``TZ=``/``CRON_TZ=`` prefix is accepted but not kept: kube's validation refuses it in favour of
``spec.timeZone``. Left out: robfig's exact handling of wall times skipped or repeated by a DST
change (here the first such instant is used), ``@every`` durations with units other than h, m and s.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo

_MONTHS = {name: i + 1 for i, name in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                                   "oct", "nov", "dec"))}
_DAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
#: (minimum, maximum, names) of minute, hour, day of month, month, day of week
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 6, _DAYS))
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
#: how far ahead :meth:`Schedule.next` looks before it gives up (robfig: five years)
_HORIZON_YEARS = 5


class CronError(ValueError):
    """A spec robfig's parser refuses; the message is robfig's."""


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    """The values each field allows; ``dom_star``/``dow_star`` say a day field was ``*`` or ``?``.
    ``every`` is set instead for ``@every`` (a fixed interval)."""

    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    dom_star: bool = False
    dow_star: bool = False
    every: dt.timedelta | None = None

    def _day_matches(self, t: dt.datetime) -> bool:
        dom, dow = t.day in self.days, (t.isoweekday() % 7) in self.weekdays
        return dom and dow if self.dom_star or self.dow_star else dom or dow

    def next(self, after: dt.datetime, zone: dt.tzinfo = dt.UTC) -> dt.datetime | None:
        """The first time strictly after ``after`` (aware) when the schedule fires, in UTC; None if it
        never does within five years (``30 2 31 2 *``)."""
        if self.every is not None:
            start = after.replace(microsecond=0) + self.every
            return start.astimezone(dt.UTC)
        t = after.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None) + dt.timedelta(minutes=1)
        limit = t.year + _HORIZON_YEARS
        while t.year <= limit:
            if t.month not in self.months:
                t = dt.datetime(t.year + t.month // 12, t.month % 12 + 1, 1)
            elif not self._day_matches(t):
                t = dt.datetime(t.year, t.month, t.day) + dt.timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
            else:
                return t.replace(tzinfo=zone).astimezone(dt.UTC)
        return None


def _value(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"failed to parse int from {text}: strconv.Atoi: parsing {text!r}: invalid syntax"
                        .replace("'", '"'))
    return int(text)


def _parse_field(text: str, index: int) -> tuple[frozenset[int], bool]:
    low, high, names = _FIELDS[index]
    values: set[int] = set()
    star = False
    for part in text.split(","):
        range_text, _, step_text = part.partition("/")
        step = _value(step_text, {}) if step_text else 1
        if range_text in ("*", "?"):
            start, end = low, high
            star = star or step == 1
        else:
            first, dash, last = range_text.partition("-")
            start = _value(first, names)
            end = _value(last, names) if dash else (high if step_text else start)
        if start < low:
            raise CronError(f"beginning of range ({start}) below minimum ({low}): {part}")
        if end > high:
            raise CronError(f"end of range ({end}) above maximum ({high}): {part}")
        if start > end:
            raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {part}")
        if step == 0:
            raise CronError(f"step of range should be a positive number: {part}")
        values.update(range(start, end + 1, step))
    return frozenset(values), star


def parse_standard(spec: str) -> Schedule:
    """``cron.ParseStandard``: a 5-field spec or a descriptor; :class:`CronError` if it does not parse."""
    spec = spec.strip()
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):  # robfig reads the zone; kube's validation refuses it
        zone, _, spec = spec.partition(" ")
        name = zone.partition("=")[2]
        try:
            load_zone(name)
        except CronError as e:
            raise CronError(f"provided bad location {name}: {e}") from None
        spec = spec.strip()
    if spec.startswith("@every "):
        match = _DURATION.match(spec.removeprefix("@every ").strip())
        if not match or not any(match.groups()):
            raise CronError(f"failed to parse duration {spec}: time: invalid duration "
                            f"\"{spec.removeprefix('@every ').strip()}\"")
        h, m, s = (int(g or 0) for g in match.groups())
        return Schedule(every=max(dt.timedelta(hours=h, minutes=m, seconds=s), dt.timedelta(seconds=1)))
    if spec.startswith("@"):
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    (minutes, _), (hours, _), (days, dom_star), (months, _), (weekdays, dow_star) = (
        _parse_field(f, i) for i, f in enumerate(fields))
    return Schedule(minutes, hours, days, months, weekdays, dom_star, dow_star)


def load_zone(name: str | None) -> dt.tzinfo:
    """``time.LoadLocation``: UTC for no name; :class:`CronError` ("unknown time zone X") otherwise."""
    if not name:
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name}") from None
