"""`is_subscription`, which routes WebSocket operations to the timeout and HTTP subscriptions to
a 400, parses no more than Strawberry would and never raises."""

from __future__ import annotations

import pytest

from app.graphql.websocket import is_subscription

SUBSCRIPTION = 'subscription { dataExportUpdates(id: "exp_x") { id } }'


def test_a_subscription_is_recognised_by_operation_name() -> None:
    assert is_subscription(SUBSCRIPTION, None, 2000)
    document = f"query Q {{ __typename }} {SUBSCRIPTION.replace('subscription', 'subscription S')}"
    assert is_subscription(document, "S", 2000)
    assert not is_subscription(document, "Q", 2000)
    assert not is_subscription("{ __typename }", None, 2000)


def test_the_parse_stops_at_the_token_limit() -> None:
    """A huge document is not parsed in full (an event loop stall before any limit applied)."""
    padded = SUBSCRIPTION.replace("{ id }", "{ " + "id " * 5000 + "}")
    assert is_subscription(padded, None, 10_000)
    assert not is_subscription(padded, None, 2000)


@pytest.mark.parametrize(
    ("query", "name"), [(5, None), (None, None), (["q"], None), (SUBSCRIPTION, 7)]
)
def test_what_is_not_text_is_left_to_strawberry(query: object, name: object) -> None:
    assert not is_subscription(query, name, 2000)
