"""Which JSON media type a GraphQL-over-HTTP response is written in, from the request's Accept.

`application/graphql-response+json` (the spec's own) when the client ranks it at least as
high as `application/json`, naming it; `application/json` (legacy: every answer a 200 but for
transport failures) without an Accept header, for `*/*` or `application/*` alone, or when the
client ranks it higher. None when the client accepts neither: the endpoint answers 406."""

from __future__ import annotations

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
OFFERED = (GRAPHQL_RESPONSE_JSON, JSON)


def accept_ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their q-values (a bad q-value is 0)."""
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(raw.strip())
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:  # also NaN
                    quality = 0.0
        ranges.append((media.lower(), quality))
    return ranges


def _preference(media_type: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """RFC 9110 §12.5.1: the q-value of the most specific range that matches, and how
    specific it is (2 exact, 1 `type/*`, 0 `*/*`); (0, -1) when none matches."""
    kind = media_type.split("/", 1)[0]
    best = (0.0, -1)
    for media, quality in ranges:
        if media == media_type:
            specificity = 2
        elif media == f"{kind}/*":
            specificity = 1
        elif media == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best[1]:
            best = (quality, specificity)
    return best


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, or None when the client accepts neither."""
    if accept is None or not accept.strip():
        return JSON  # the spec: application/json when there is no Accept header
    ranges = accept_ranges(accept)
    modern = _preference(GRAPHQL_RESPONSE_JSON, ranges)
    legacy = _preference(JSON, ranges)
    if modern[0] <= 0.0 and legacy[0] <= 0.0:
        return None
    if modern[0] != legacy[0]:
        return GRAPHQL_RESPONSE_JSON if modern[0] > legacy[0] else JSON
    # Equal q-values: the new type when named as such; a wildcard alone keeps legacy clients'.
    return GRAPHQL_RESPONSE_JSON if modern[1] == 2 else JSON
