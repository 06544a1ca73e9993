"""Tests for the practice file: the bundled example, the contract file and every validation rule."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from bot.practice import DateRange, Period, Practice
from bot.practice_file import PracticeError, Problem, bundled_example, load_practice, parse_practice

# the contract's practice file, in shared/ beside the project's root
CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "contract" / "practice.toml"
EXAMPLE: dict[str, Any] = tomllib.loads(bundled_example().read_text(encoding="utf-8"))

Mutation = Callable[[dict[str, Any]], None]


def example_data() -> dict[str, Any]:
    """A fresh, mutable copy of the parsed example file."""
    return copy.deepcopy(EXAMPLE)


def problems_after(mutate: Mutation) -> list[Problem]:
    """Apply mutate to the example data and return the problems parse_practice reports."""
    data = example_data()
    mutate(data)
    with pytest.raises(PracticeError) as caught:
        parse_practice(data)
    return caught.value.problems


def problem_at(mutate: Mutation, field: str) -> Problem:
    """The single problem reported for field after mutate."""
    found = [p for p in problems_after(mutate) if p.field == field]
    assert found, f"no problem for {field}: {problems_after(mutate)}"
    return found[0]


def _set(path: str, value: Any) -> Mutation:
    """A mutation setting a dotted path; list indexes written as numbers."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(path: str) -> Mutation:
    """A mutation removing a dotted path."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return mutate


# ---- the example and the contract file -------------------------------------------------


def test_bundled_example_path() -> None:
    assert bundled_example().name == "practice.example.toml"
    assert bundled_example().is_file()


def test_example_loads_with_expected_values() -> None:
    practice = load_practice(bundled_example())
    assert isinstance(practice, Practice)
    assert practice.name == "Cabinet des Lilas"
    assert practice.timezone == "Europe/Paris"
    assert practice.tz.key == "Europe/Paris"
    assert practice.locale == "fr"
    assert practice.id == "default"
    assert practice.dpo == "dpo@example.org"
    assert practice.address == "3 rue des Lilas, 69003 Lyon"
    assert practice.notice_version == "2026-11"
    assert practice.retention_days == 30
    assert practice.min_notice_hours == 2
    assert practice.horizon_days == 60
    assert practice.cancel_cutoff_hours == 2
    assert practice.reminder_hours_before == 24
    assert practice.quiet_hours == Period(time(20, 0), time(8, 0))
    assert practice.closed == (
        DateRange(date(2026, 12, 25), date(2026, 12, 25)),
        DateRange(date(2027, 1, 1), date(2027, 1, 1)),
    )
    assert practice.is_closed(date(2026, 12, 25))
    assert practice.phone_region == "FR"
    assert practice.audit_retention_days == 365


def test_example_practitioner() -> None:
    roux = load_practice(bundled_example()).practitioner("roux")
    assert roux.name == "Dr Anne Roux"
    assert sorted(roux.hours) == [0, 1, 2, 3, 4]
    assert roux.hours[0] == (Period(time(8, 30), time(12, 0)), Period(time(14, 0), time(18, 30)))
    assert roux.hours[2] == (Period(time(8, 30), time(12, 0)),)
    assert roux.absences == (DateRange(date(2026, 12, 24), date(2026, 12, 31)),)
    assert roux.summary_time == time(7, 30)
    assert (roux.summary_day, roux.summary_detail) == ("today", "initials")
    assert (roux.summary_telegram_chat_id, roux.summary_phone) == (0, "")


def test_example_consultation_types() -> None:
    practice = load_practice(bundled_example())
    assert [t.id for t in practice.consultation_types] == ["consultation", "ecg"]
    consultation, ecg = practice.ctype("consultation"), practice.ctype("ecg")
    assert consultation.duration_minutes == 20
    assert consultation.practitioners == ("roux",)
    assert not consultation.requires_preparation
    assert consultation.preparation is None and consultation.preparation_question is None
    assert ecg.label_for("en") == "ECG"
    assert ecg.requires_preparation
    assert ecg.preparation is not None and "torse" in ecg.preparation["fr"]
    assert ecg.preparation_question is not None


@pytest.mark.skipif(not CONTRACT.exists(), reason="shared/ is not beside this checkout")
def test_contract_file_loads() -> None:
    practice = load_practice(CONTRACT)
    assert practice.name == "Cabinet du Parc"
    assert len(practice.practitioners[0].hours) == 7
    assert practice.closed == ()
    assert practice.ctype("bilan").requires_preparation


def test_optional_keys_accepted() -> None:
    data = example_data()
    data["practice"] |= {
        "id": "lilas",
        "notice_version": 3,
        "phone_region": "BE",
        "audit_retention_days": 90,
    }
    practice = parse_practice(data)
    assert practice.id == "lilas"
    assert practice.notice_version == "3"
    assert practice.phone_region == "BE"
    assert practice.audit_retention_days == 90


def test_optional_keys_default() -> None:
    data = example_data()
    for key in ("dpo", "address", "notice_version", "quiet_hours", "closed", "retention_days"):
        del data["practice"][key]
    practice = parse_practice(data)
    assert (practice.dpo, practice.address, practice.notice_version) == ("", "", "1")
    assert practice.quiet_hours is None and practice.closed == ()
    assert practice.retention_days == 30


def test_hours_sorted_by_weekday_and_empty_day_allowed() -> None:
    data = example_data()
    hours = data["practitioners"][0]["hours"]
    data["practitioners"][0]["hours"] = {"sat": ["09:00-12:00"], "sun": [], **hours}
    roux = parse_practice(data).practitioners[0]
    assert list(roux.hours) == [0, 1, 2, 3, 4, 5]


def test_local_http_notice_allowed() -> None:
    for url in ("http://localhost:8000/notice", "http://127.0.0.1/n", "http://parc.example/n"):
        data = example_data()
        data["practice"]["privacy_notice_url"] = url
        assert parse_practice(data).privacy_notice_url == url


def test_quiet_hours_may_be_within_one_day() -> None:
    data = example_data()
    data["practice"]["quiet_hours"] = "12:00-14:00"
    assert parse_practice(data).quiet_hours == Period(time(12, 0), time(14, 0))


def test_summary_phone_e164_accepted() -> None:
    data = example_data()
    data["practitioners"][0]["summary_phone"] = "+33 6 12 34 56 78"
    roux = parse_practice(data).practitioners[0]
    assert roux.summary_phone == "+33612345678"
    assert roux.summary_telegram_chat_id == 0


def test_new_practice_fields() -> None:
    data = example_data()
    data["practice"]["phone"] = "+33 4 78 00 00 00"
    data["practice"]["legal_basis"] = "contract"
    data["operator"] = {"name": "Ops SAS", "contact": "ops@example.org"}
    practice = parse_practice(data)
    assert practice.phone == "+33478000000"
    assert (practice.legal_basis, practice.legal_article) == ("contract", "6(1)(b)")
    assert (practice.operator.name, practice.operator.contact) == ("Ops SAS", "ops@example.org")


def test_legal_basis_optional_until_production() -> None:
    data = example_data()
    data["practice"].pop("legal_basis", None)
    assert parse_practice(data).legal_article == ""


def test_preparation_question_optional() -> None:
    data = example_data()
    del data["consultation_types"][1]["preparation_question"]
    assert parse_practice(data).ctype("ecg").preparation_question is None


# ---- one test per rule -----------------------------------------------------------------

CASES: list[tuple[str, Mutation, str, str]] = [
    # (test id, mutation, field named, words expected in the fix)
    *[
        (f"missing-{key}", _delete(f"practice.{key}"), f"practice.{key}", f"add {key}")
        for key in (
            "name",
            "timezone",
            "locale",
            "controller",
            "contact",
            "privacy_notice_url",
        )
    ],
    ("empty-name", _set("practice.name", "  "), "practice.name", "fill it in"),
    ("missing-practice", _delete("practice"), "practice", "[practice]"),
    ("no-practitioners", _set("practitioners", []), "practitioners", "[[practitioners]]"),
    (
        "no-types",
        _delete("consultation_types"),
        "consultation_types",
        "[[consultation_types]]",
    ),
    ("unknown-top-key", _set("practitioner", []), "practitioner", "'practitioners'"),
    ("unknown-practice-key", _set("practice.timezon", "x"), "practice.timezon", "'timezone'"),
    (
        "unknown-practitioner-key",
        _set("practitioners.0.summary_tim", "07:00"),
        "practitioners[0].summary_tim",
        "'summary_time'",
    ),
    (
        "unknown-type-key",
        _set("consultation_types.0.duration", 20),
        "consultation_types[consultation].duration",
        "'duration_minutes'",
    ),
    ("name-not-string", _set("practice.name", 3), "practice.name", "quotes"),
    ("retention-zero", _set("practice.retention_days", 0), "practice.retention_days", "at least 1"),
    ("retention-string", _set("practice.retention_days", "30"), "practice.retention_days", "whole"),
    ("retention-bool", _set("practice.retention_days", True), "practice.retention_days", "whole"),
    ("horizon-zero", _set("practice.horizon_days", 0), "practice.horizon_days", "at least 1"),
    (
        "min-notice-negative",
        _set("practice.min_notice_hours", -1),
        "practice.min_notice_hours",
        "at least 0",
    ),
    (
        "cancel-cutoff-negative",
        _set("practice.cancel_cutoff_hours", -2),
        "practice.cancel_cutoff_hours",
        "at least 0",
    ),
    (
        "reminder-negative",
        _set("practice.reminder_hours_before", -24),
        "practice.reminder_hours_before",
        "at least 0",
    ),
    (
        "audit-retention-zero",
        _set("practice.audit_retention_days", 0),
        "practice.audit_retention_days",
        "at least 1",
    ),
    ("bad-timezone", _set("practice.timezone", "Europe/Lyon"), "practice.timezone", "IANA"),
    ("bad-locale", _set("practice.locale", "de"), "practice.locale", '"fr" or "en"'),
    (
        "http-notice",
        _set("practice.privacy_notice_url", "http://example.org/notice"),
        "practice.privacy_notice_url",
        "HTTPS",
    ),
    (
        "not-a-url-notice",
        _set("practice.privacy_notice_url", "example.org/notice"),
        "practice.privacy_notice_url",
        "HTTPS",
    ),
    ("bad-practice-id", _set("practice.id", "Lilas!"), "practice.id", "lowercase"),
    ("bad-notice-version", _set("practice.notice_version", ""), "practice.notice_version", "2026"),
    ("bad-phone-region", _set("practice.phone_region", "fr"), "practice.phone_region", '"FR"'),
    ("uk-phone-region", _set("practice.phone_region", "UK"), "practice.phone_region", '"GB"'),
    ("unknown-phone-region", _set("practice.phone_region", "ZZ"), "practice.phone_region", "ISO"),
    ("too-long-retention", _set("practice.retention_days", 400), "practice.retention_days", "365"),
    ("bad-legal-basis", _set("practice.legal_basis", "soins"), "practice.legal_basis", "6(1)(e)"),
    ("bad-practice-phone", _set("practice.phone", "+3361"), "practice.phone", "E.164"),
    ("operator-without-name", _set("operator", {"contact": "a@b.c"}), "operator.name", "name"),
    ("bad-quiet-hours", _set("practice.quiet_hours", "20h-8h"), "practice.quiet_hours", "HH:MM"),
    (
        "quiet-hours-empty-window",
        _set("practice.quiet_hours", "20:00-20:00"),
        "practice.quiet_hours",
        "real window",
    ),
    (
        "bad-closed-date",
        _set("practice.closed", ["25/12/2026"]),
        "practice.closed[0]",
        "YYYY-MM-DD",
    ),
    (
        "impossible-closed-date",
        _set("practice.closed", ["2026-02-30"]),
        "practice.closed[0]",
        "YYYY-MM-DD",
    ),
    (
        "reversed-closed-range",
        _set("practice.closed", ["2027-01-02..2026-12-24"]),
        "practice.closed[0]",
        "earlier date first",
    ),
    ("closed-not-array", _set("practice.closed", "2026-12-25"), "practice.closed", "["),
    (
        "bad-absence",
        _set("practitioners.0.absences", ["2026-12-24...2026-12-31"]),
        "practitioners[0].absences[0]",
        "YYYY-MM-DD..YYYY-MM-DD",
    ),
    (
        "bad-period",
        _set("practitioners.0.hours.mon", ["08:30-12:00", "2pm-6pm"]),
        "practitioners[0].hours.mon[1]",
        "HH:MM-HH:MM",
    ),
    (
        "period-hour-out-of-range",
        _set("practitioners.0.hours.mon", ["08:30-25:00"]),
        "practitioners[0].hours.mon[0]",
        "HH:MM-HH:MM",
    ),
    (
        "period-reversed",
        _set("practitioners.0.hours.tue", ["12:00-08:30"]),
        "practitioners[0].hours.tue[0]",
        "start before the end",
    ),
    (
        "periods-overlap",
        _set("practitioners.0.hours.mon", ["08:30-12:00", "11:00-18:30"]),
        "practitioners[0].hours.mon[1]",
        "not overlap",
    ),
    (
        "periods-unsorted",
        _set("practitioners.0.hours.mon", ["14:00-18:30", "08:30-12:00"]),
        "practitioners[0].hours.mon",
        '["08:30-12:00", "14:00-18:30"]',
    ),
    (
        "bad-weekday",
        _set("practitioners.0.hours.monday", ["08:30-12:00"]),
        "practitioners[0].hours.monday",
        "'mon'",
    ),
    (
        "day-not-array",
        _set("practitioners.0.hours.mon", "08:30-12:00"),
        "practitioners[0].hours.mon",
        '["08:30-12:00"',
    ),
    (
        "no-opening-hours",
        _set("practitioners.0.hours", {"mon": [], "tue": []}),
        "practitioners[0].hours",
        "add opening hours",
    ),
    (
        "missing-opening-hours",
        _delete("practitioners.0.hours"),
        "practitioners[0].hours",
        "add opening hours",
    ),
    (
        "bad-practitioner-id",
        _set("practitioners.0.id", "Dr Roux"),
        "practitioners[0].id",
        "1 to 32",
    ),
    (
        "long-practitioner-id",
        _set("practitioners.0.id", "r" * 33),
        "practitioners[0].id",
        "1 to 32",
    ),
    ("missing-practitioner-name", _delete("practitioners.0.name"), "practitioners[0].name", "add"),
    (
        "bad-summary-time",
        _set("practitioners.0.summary_time", "7h30"),
        "practitioners[0].summary_time",
        '"07:30"',
    ),
    (
        "bad-summary-day",
        _set("practitioners.0.summary_day", "yesterday"),
        "practitioners[0].summary_day",
        '"today" or "tomorrow"',
    ),
    (
        "bad-summary-detail",
        _set("practitioners.0.summary_detail", "names"),
        "practitioners[0].summary_detail",
        '"full" or "initials" or "count"',
    ),
    (
        "bad-chat-id",
        _set("practitioners.0.summary_telegram_chat_id", "123"),
        "practitioners[0].summary_telegram_chat_id",
        "practitioner link",
    ),
    (
        "hand-typed-chat-id",
        _set("practitioners.0.summary_telegram_chat_id", -100123),
        "practitioners[0].summary_telegram_chat_id",
        "practitioner link roux",
    ),
    (
        "invalid-summary-phone",
        _set("practitioners.0.summary_phone", "+33012345678"),
        "practitioners[0].summary_phone",
        "E.164",
    ),
    (
        "bad-summary-phone",
        _set("practitioners.0.summary_phone", "0612345678"),
        "practitioners[0].summary_phone",
        "E.164",
    ),
    (
        "short-summary-phone",
        _set("practitioners.0.summary_phone", "+3361"),
        "practitioners[0].summary_phone",
        "E.164",
    ),
    (
        "bad-type-id",
        _set("consultation_types.0.id", "Consult"),
        "consultation_types[0].id",
        "lowercase",
    ),
    (
        "unknown-practitioner-in-type",
        _set("consultation_types.1.practitioners", ["rouxx"]),
        "consultation_types[ecg].practitioners[0]",
        "did you mean 'roux'?",
    ),
    (
        "empty-practitioners-in-type",
        _set("consultation_types.1.practitioners", []),
        "consultation_types[ecg].practitioners",
        "known ids: roux",
    ),
    (
        "label-missing-locale",
        _set("consultation_types.0.label", {"en": "Consultation"}),
        "consultation_types[consultation].label",
        'add fr = "..."',
    ),
    (
        "label-other-language",
        _set("consultation_types.0.label", {"fr": "Consultation", "de": "Sprechstunde"}),
        "consultation_types[consultation].label.de",
        '"fr" and "en"',
    ),
    (
        "label-not-table",
        _set("consultation_types.0.label", "Consultation"),
        "consultation_types[consultation].label",
        "fr = ",
    ),
    (
        "missing-label",
        _delete("consultation_types.0.label"),
        "consultation_types[consultation].label",
        "add label",
    ),
    (
        "duration-too-short",
        _set("consultation_types.0.duration_minutes", 4),
        "consultation_types[consultation].duration_minutes",
        "between 5 and 480",
    ),
    (
        "duration-too-long",
        _set("consultation_types.0.duration_minutes", 481),
        "consultation_types[consultation].duration_minutes",
        "between 5 and 480",
    ),
    (
        "duration-missing",
        _delete("consultation_types.0.duration_minutes"),
        "consultation_types[consultation].duration_minutes",
        "between 5 and 480",
    ),
    (
        "duration-fits-no-period",
        _set("consultation_types.1.duration_minutes", 300),
        "consultation_types[ecg].duration_minutes",
        "shorten",
    ),
    (
        "requires-preparation-not-bool",
        _set("consultation_types.1.requires_preparation", "yes"),
        "consultation_types[ecg].requires_preparation",
        "true or false",
    ),
    (
        "preparation-missing",
        _delete("consultation_types.1.preparation"),
        "consultation_types[ecg].preparation",
        "add preparation",
    ),
    (
        "preparation-missing-locale",
        _set("consultation_types.1.preparation", {"en": "Arrive early."}),
        "consultation_types[ecg].preparation",
        'add fr = "..."',
    ),
    (
        "question-without-preparation",
        _set("consultation_types.0.preparation_question", {"fr": "Motif ?"}),
        "consultation_types[consultation].preparation_question",
        "reason for the visit is never asked",
    ),
    (
        "preparation-without-requirement",
        _set("consultation_types.1.requires_preparation", False),
        "consultation_types[ecg].preparation",
        "reason for the visit is never asked",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "field", "fix"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rule(mutate: Mutation, field: str, fix: str) -> None:
    problem = problem_at(mutate, field)
    assert fix in problem.fix, problem
    assert problem.message


def test_duplicate_practitioner_id() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["practitioners"].append(copy.deepcopy(data["practitioners"][0]))

    problem = problem_at(mutate, "practitioners[1].id")
    assert "duplicate" in problem.message and "practitioners[0]" in problem.message
    assert "own id" in problem.fix


def test_duplicate_type_id() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["consultation_types"].append(copy.deepcopy(data["consultation_types"][0]))

    problem = problem_at(mutate, "consultation_types[2].id")
    assert "duplicate" in problem.message
    assert "own id" in problem.fix


def test_overlap_names_both_periods() -> None:
    mutate = _set("practitioners.0.hours.mon", ["08:30-12:00", "14:00-18:30", "11:00-13:00"])
    problem = problem_at(mutate, "practitioners[0].hours.mon[2]")
    assert "'08:30-12:00'" in problem.message and "'11:00-13:00'" in problem.message
    assert "hours.mon[0]" in problem.message


def test_duration_fits_a_period_of_some_practitioner() -> None:
    data = example_data()
    data["consultation_types"][1]["duration_minutes"] = 270  # 14:00-18:30 lasts 270 minutes
    assert parse_practice(data).ctype("ecg").duration_minutes == 270


# ---- reporting -------------------------------------------------------------------------


def test_several_problems_reported_at_once() -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["practice"]["timezone"] = "Mars/Olympus"
        data["practice"]["locale"] = "de"
        data["practitioners"][0]["hours"]["mon"] = ["14:00-12:00"]
        data["consultation_types"][1]["practitioners"] = ["nobody"]

    fields = {p.field for p in problems_after(mutate)}
    assert {
        "practice.timezone",
        "practice.locale",
        "practitioners[0].hours.mon[0]",
        "consultation_types[ecg].practitioners[0]",
    } <= fields


def test_error_string_lists_every_problem() -> None:
    data = example_data()
    data["practice"]["locale"] = "de"
    data["practice"]["retention_days"] = 0
    with pytest.raises(PracticeError) as caught:
        parse_practice(data)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) == 2
    assert lines[0] == 'practice.locale: unsupported locale \'de\' -> use "fr" or "en"'
    assert lines[1].startswith("practice.retention_days: ") and " -> " in lines[1]


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "practice.toml"
    path.write_text('[practice]\nname = "Cabinet"\ntimezone = Europe/Paris\n', encoding="utf-8")
    with pytest.raises(PracticeError) as caught:
        load_practice(path)
    (problem,) = caught.value.problems
    assert problem.field == "line 3"
    assert "line 3" in problem.fix and str(path) in problem.fix


def test_missing_file_is_a_practice_error(tmp_path: Path) -> None:
    with pytest.raises(PracticeError) as caught:
        load_practice(tmp_path / "nope.toml")
    assert caught.value.problems[0].field == "file"


def test_load_accepts_str_path() -> None:
    assert load_practice(str(bundled_example())).name == "Cabinet des Lilas"
