"""Issue 11, points 3 and 4 in the grammar itself: enumerated values are checked (exact, negated,
range ends; case-insensitively), both path spellings name a field, and an unknown field's error
lists the fields. The SQL these produce is exercised on real databases by test_query.py and
the REST tests; here only what is accepted and what each refusal says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.exports.currencies import CURRENCY_CODES
from app.exports.fields import Allowed, choices_text, closest
from app.exports.query import QueryError, QueryField, parse_filter, parse_sort
from app.exports.resources import RESOURCES, export_query_fields, query_fields
from app.exports.source import build_source_query
from app.exports.status import Status


def refusal(text: str, fields: dict[str, QueryField]) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse_filter(text, fields)
    return caught.value


def enumerated() -> list[tuple[str, str, QueryField]]:
    """(vocabulary, name, field) of every enumerated field: the export collection's and every
    resource's (for `arguments.filter`)."""
    found = [("exports", n, f) for n, f in export_query_fields().items() if f.allowed]
    for resource in RESOURCES.values():
        vocabulary = query_fields(resource)
        found += [(resource.name, n, f) for n, f in vocabulary.items() if f.allowed]
    return found


def vocabulary(name: str) -> dict[str, QueryField]:
    return export_query_fields() if name == "exports" else query_fields(RESOURCES[name])


ENUMERATED = enumerated()


def test_the_enumerated_fields_are_the_expected_ones() -> None:
    assert {(v, n) for v, n, _ in ENUMERATED} == {
        ("exports", "status"),
        ("exports", "resource"),
        ("exports", "format"),
        ("transactions", "type"),
        ("transactions", "status"),
        ("transactions", "result"),
        ("transactions", "currency"),
        ("customers", "lifetimeRevenue.currency"),
        ("subscriptions", "status"),
        ("invoices", "status"),
        ("invoices", "currency"),
        ("invoiceItems", "type"),
        ("invoiceItems", "currency"),
    }


def test_the_export_collection_takes_its_values_from_the_core_lists() -> None:
    fields = export_query_fields()
    assert fields["status"].allowed == Allowed(tuple(s.value for s in Status))
    assert fields["resource"].allowed == Allowed(tuple(RESOURCES))
    allowed = fields["format"].allowed
    assert allowed is not None
    assert allowed.values == ("csv", "json", "json-api", "xml", "pdf")


def test_the_issue_example_message() -> None:
    error = refusal("status:complete", export_query_fields())
    assert error.field == "filter"
    assert error.message == (
        "Unknown value 'complete' for status: one of pending, queued, processing, completed, "
        "failed (did you mean 'completed'?)"
    )


def typo(value: str) -> str:
    """A one-letter slip: the last letter doubled ("sale" → "salee")."""
    return value + value[-1]


@pytest.mark.parametrize(("where", "name", "field"), ENUMERATED, ids=lambda x: str(x))
def test_a_typo_in_every_enumerated_field_is_refused_with_the_values(
    where: str, name: str, field: QueryField
) -> None:
    assert field.allowed is not None
    value = field.allowed.values[-1] if where != "exports" or name != "status" else "failed"
    wrong = typo(value)
    error = refusal(f"{name}:{wrong}", vocabulary(where))
    assert error.field == "filter"
    assert error.message.startswith(f"Unknown value {wrong!r} for {name}: ")
    assert error.message.endswith(f"(did you mean {value!r}?)")
    if len(field.allowed.values) <= 20:
        assert f"one of {', '.join(field.allowed.values)} " in error.message
    else:  # the long ISO list: the closest few, and how many there are
        assert f"such as {value}, " in error.message
        assert f"({len(field.allowed.values)} in all)" in error.message


@pytest.mark.parametrize(("where", "name", "field"), ENUMERATED, ids=lambda x: str(x))
def test_every_allowed_value_is_accepted_in_any_case(
    where: str, name: str, field: QueryField
) -> None:
    assert field.allowed is not None
    fields = vocabulary(where)
    for value in field.allowed.values:
        for spelling in (value, value.upper(), value.title()):
            assert parse_filter(f"{name}:{spelling}", fields) is not None


@pytest.mark.parametrize(
    ("text", "bad", "suggestion"),
    [
        ("status:!complete", "complete", "completed"),
        ("status:!completed,!faild", "faild", "failed"),
        ("status:!failed,queud", "queud", "queued"),  # the older "!a,b" form
        ("status:pending,procesing", "procesing", "processing"),
        ("status:pendng..queued", "pendng", "pending"),
        ("status:pending..queue", "queue", "queued"),
        ("status:..faile", "faile", "failed"),
        ("status:complet..", "complet", "completed"),
        ("format:jsonapi", "jsonapi", "json-api"),
        ("resource:invoice_items", "invoice_items", "invoiceItems"),
        ("name:x;status:panding", "panding", "pending"),
    ],
)
def test_negations_lists_and_range_ends_are_checked(text: str, bad: str, suggestion: str) -> None:
    error = refusal(text, export_query_fields())
    assert error.field == "filter"
    assert error.message.startswith(f"Unknown value {bad!r} for ")
    assert error.message.endswith(f"(did you mean {suggestion!r}?)")


@pytest.mark.parametrize(
    "text",
    [
        "status:COMPLETED",
        "status:!Failed",
        "status:!FAILED,!pending",
        "status:!failed,Pending",
        "status:pending..QUEUED",
        "status:..Failed",
        "format:JSON-API,Csv",
        "resource:INVOICEITEMS",
    ],
)
def test_allowed_values_in_any_case_negated_and_in_ranges_are_accepted(text: str) -> None:
    assert parse_filter(text, export_query_fields()) is not None


def test_a_far_off_value_lists_the_values_without_a_guess() -> None:
    error = refusal("status:zzz", export_query_fields())
    assert error.message == (
        "Unknown value 'zzz' for status: one of pending, queued, processing, completed, failed"
    )


def test_currency_is_checked_against_iso_4217_not_the_shape() -> None:
    fields = query_fields(RESOURCES["transactions"])
    assert parse_filter("currency:usd,EUR,gbp,JPY,XTS", fields) is not None
    assert parse_filter("currency:HRK", fields) is not None  # withdrawn, still in history
    error = refusal("currency:USX", fields)  # three letters, but not a code
    assert error.message == (
        "Unknown value 'USX' for currency: an ISO 4217 currency code such as USD, USN, UGX, "
        f"UZS, … ({len(CURRENCY_CODES)} in all) (did you mean 'USD'?)"
    )
    assert "did you mean 'EUR'" in refusal("currency:EUO", fields).message
    assert "currency: an ISO 4217" in refusal("currency:dollars", fields).message


def test_open_text_fields_take_any_value() -> None:
    fields = query_fields(RESOURCES["transactions"])
    assert parse_filter("paymentInstrument.method:some-new-method", fields) is not None
    assert parse_filter("gatewayName:Anything;billingAddress.country:ZZ", fields) is not None
    assert parse_filter("name:complete", export_query_fields()) is not None


# --- one path syntax ----------------------------------------------------------------------


def test_filter_and_sort_take_both_path_spellings() -> None:
    fields = query_fields(RESOURCES["transactions"])
    dotted = parse_filter("billingAddress.country:US", fields)
    slashed = parse_filter("billingAddress/country:US", fields)
    assert dotted is not None
    assert slashed is not None
    assert str(dotted) == str(slashed)
    assert [str(c) for c in parse_sort("-billingAddress/lastName,amount", fields)] == [
        str(c) for c in parse_sort("-billingAddress.lastName,amount", fields)
    ]


def test_one_field_spelled_twice_in_sort_is_a_duplicate() -> None:
    fields = query_fields(RESOURCES["transactions"])
    with pytest.raises(QueryError) as caught:
        parse_sort("billingAddress/country,-billingAddress.country", fields)
    assert caught.value.field == "sort"
    assert "more than once" in caught.value.message


def test_an_unknown_filter_field_lists_every_field_and_the_closest() -> None:
    fields = query_fields(RESOURCES["transactions"])
    error = refusal("billingAddress/countr:US", fields)
    assert error.field == "filter"
    for name in fields:
        assert name in error.message
    assert error.message.endswith('(did you mean "billingAddress.country"?).')
    assert 'did you mean "status"' in refusal("Status:x", export_query_fields()).message


def test_an_unknown_sort_field_lists_every_field_and_the_closest() -> None:
    fields = query_fields(RESOURCES["customers"])
    with pytest.raises(QueryError) as caught:
        parse_sort("-lifetimeRevenue/amout", fields)
    assert caught.value.field == "sort"
    assert "use one of: createdTime, email, firstName, id, isEddRequired" in caught.value.message
    assert caught.value.message.endswith('(did you mean "lifetimeRevenue.amount"?).')


def test_long_lists_are_shortened_to_the_closest() -> None:
    many = [f"field{n:02d}" for n in range(40)]
    assert (
        choices_text("field1", many) == "field10, field11, field12, field13, field14, … (40 in all)"
    )
    assert (
        choices_text("zzzz", many) == "field00, field01, field02, field03, field04, … (40 in all)"
    )
    assert choices_text("x", many[:3]) == "field00, field01, field02"
    assert closest("COMPLETE", ["pending", "completed"]) == ["completed"]


def test_stored_arguments_still_run_when_a_value_is_outside_the_set() -> None:
    """An export stored before values were checked must not fail every attempt: the worker
    builds its query without the check (the value then matches nothing, as it always did)."""
    resource = RESOURCES["transactions"]
    stmt = build_source_query(
        resource=resource,
        organization_id="acme",
        fields=list(resource.fields),
        arguments={"filter": "type:sael;status:!complete"},
        date_range=None,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert "WHERE" in str(stmt)
    with pytest.raises(QueryError):  # what the API's own validation still refuses
        parse_filter("type:sael", query_fields(resource))
