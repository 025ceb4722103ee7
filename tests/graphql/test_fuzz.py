"""A seeded GraphQL fuzz over HTTP (and a shorter leg over WebSocket). Operations are grown
from schema.graphql and then broken: wrong argument types, huge and negative numbers, NUL, lone
surrogates, RTL and emoji, deep nesting, many aliases, fragments, directives with bad arguments,
variables of the wrong type, missing or extra, operation names that do not match; and the
transport is broken too: malformed or non-object JSON, batches, query strings, odd content types.

Whatever comes in, the answer is below 500, a JSON GraphQL response, never a masked internal
error, nothing is logged as a server failure, and a request refused before execution writes
nothing; a batch of writes that must all fail leaves every stored row as it was. What the fuzz
found is pinned down by the focused tests at the end.

FUZZ_ITERATIONS and FUZZ_SEED size and steer it (see tests/rest/test_fuzz.py); `make fuzz` runs
it long with a fresh seed."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLUnionType,
    Undefined,
    build_schema,
    get_named_type,
    is_leaf_type,
)
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.db import to_the_end
from app.main import create_app
from app.models import Base, DataExport
from app.settings import Settings
from tests.conftest import Harness, Tenant
from tests.exports.conftest import completed_export
from tests.graphql.browser import serve_asgi
from tests.graphql.conftest import rest_body, seed_exports
from tests.rest.test_fuzz import FuzzRun

SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text())
ROOTS = {
    "query": SCHEMA.query_type,
    "mutation": SCHEMA.mutation_type,
    "subscription": SCHEMA.subscription_type,
}
ENUM_NAMES = sorted(
    name
    for t in SCHEMA.type_map.values()
    if isinstance(t, GraphQLEnumType) and not t.name.startswith("__")
    for name in t.values
)
INPUT_FIELD_NAMES = sorted(
    name
    for t in SCHEMA.type_map.values()
    if isinstance(t, GraphQLInputObjectType)
    for name in t.fields
)
BOOLEAN = GraphQLNonNull(GraphQLBoolean)
JSON_TYPES = ("application/json", "application/graphql-response+json")
WRITE_FIELDS = ("createDataExport", "updateDataExport", "deleteDataExport")

STRANGE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "a\udfffb",
    "\u202e\u0627\u0644\u0639\u0631\u0628\u064a\u0629",  # RTL override, Arabic
    "\u200f\u05e2\u05d1\u05e8\u05d9\u05ea",
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\ufeff",
    "\u0130\u03a3\u03c2\u00df",
    "\\",
    '"',
    '"""',
    "\n\t\r",
    "' OR 1=1 --",
    "%00",
    "$x",
    "{ __typename }",
    "a" * 2001,
    "9" * 400,
]
ALPHABET = "abcXYZ019 -_.~@!,;:%&=+/?#[]{}\"'\\<>|`^$*()\u00e9\u4e2d\U0001f600\u200b\x00\n"
INTS = [0, -1, 1, 7, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63, -(10**40)]
FLOATS = [0.5, -0.0, 1e308, 1e-320, 3.0, math.inf, math.nan]
PHRASES = [
    "now",
    "today",
    "yesterday",
    "first day of last month midnight",
    "3 days ago",
    "2026-01-01T00:00:00Z",
    "2030-01-01",
    "garbage",
]
DATE_TIMES = [
    "2026-01-31T08:15:00Z",
    "2026-01-31T08:15:00+02:00",
    "2019-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-31",
    "tomorrow",
]
SAMPLES: dict[str, list[Any]] = {
    "name": ["Monthly", "EU customers", "\u00dcn\u00efc\u00f8d\u00e9 \U0001f600", "x" * 50],
    "filter": [
        "status:pending",
        "status:pending,queued;createdTime:2026-01-01T00:00:00Z..",
        "name:!a,!b",
        "type:sale;result:approved",
        "primaryAddress.country:DE,FR",
        "amount:10..20",
        "createdTime:..",
        "nope:1",
        ";;",
    ],
    "sort": ["-createdTime,name", "name", "-amount", "id", "+id", "-", "nope", ",,"],
    "q": ["Monthly", "a", "%", "_", "\u00fc"],
    "start": PHRASES,
    "end": PHRASES,
    "field": ["createdTime", "processedTime", "issuedTime", "updatedTime", "nope"],
    "instruction": [
        "FREQ=DAILY",
        "FREQ=DAILY;BYHOUR=2;BYMINUTE=0;BYSECOND=0",
        "RRULE:FREQ=WEEKLY;BYDAY=MO",
        "FREQ=MONTHLY;COUNT=3",
        "FREQ=MINUTELY",
        "FREQ=YEARLY;BYWEEKNO=60",
        "FREQ=DAILY;UNTIL=20000101T000000Z",
    ],
    "emailNotification": [
        "finance@example.com",
        "a@b.co",
        "not-an-email",
        "\u00fc@ex\u00e4mple.com",
    ],
    "fields": ["id", "amount", "currency", "billingAddress/country", "email", "nope", "id"],
    "limit": [0, 1, 10, 100, 1000],
    "offset": [0, 1, 50],
    "first": [0, 1, 10, 1000],
    "count": [1, 3, 100],
    "ttlSeconds": [60, 600, 604800],
}
BAD_TYPES = ["Int", "String!", "Boolean", "[String!]!", "ID", "ExportFormat", "Nope", "[[Int]]"]
BAD_TYPES += ["CreateDataExportInput!", "UpdateDataExportInput", "DateTime"]
POISON_NAMES = ["", "   ", "x" * 51, "a\nb", "\x00", "\ud800", "tab\there"]
MISSING_IDS = [
    "missing-export",
    "gone~1",
    "..",
    "a" * 51,
    "",
    "\x00",
    "exp_00000000000000000000000000",
]
MAX_SELECTION_DEPTH = 4


@dataclass(frozen=True)
class Gql:
    """GraphQL text written as is: an enum name, a `$variable`, a block string, junk."""

    text: str


@dataclass
class Pools:
    """Ids the fuzz aims at: real exports (one completed, one recurring, one of another
    organization), client-chosen ids for creates, and users."""

    export_ids: list[str]
    new_ids: list[str]
    user_ids: list[str]


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None
    writes: bool = False  # may write: the document mentions a mutation

    def describe(self) -> str:
        """Enough to replay the request by hand (long bodies are cut)."""
        body = "-" if self.content is None else f"{clip(self.content)} ({len(self.content)} bytes)"
        return f"{self.method} {clip(self.url)} headers={self.headers} body={body}"


def clip(value: str | bytes, limit: int = 600) -> str:
    return repr(value[:limit]) + ("..." if len(value) > limit else "")


def text(rng: random.Random, max_len: int = 24) -> str:
    if rng.random() < 0.4:
        return rng.choice(STRANGE)
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, max_len)))


def fuzz_value(rng: random.Random, depth: int = 0) -> Any:
    """Any input value at all: the wrong type for almost every position."""
    kind = rng.randint(0, 9 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice(INTS)
    if kind == 3:
        return rng.choice(FLOATS)
    if kind in (4, 5):
        return text(rng)
    if kind == 6:
        return Gql(rng.choice([*ENUM_NAMES, "NOPE", "csv", "null", "true", "JSON-API", "$nope"]))
    if kind == 7:
        return [fuzz_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    names = [*INPUT_FIELD_NAMES, "bogus", "__typename"]
    return {rng.choice(names): fuzz_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def literal(value: Any, rng: random.Random) -> str:
    """A value as GraphQL source; strings as escapes, raw characters or block strings."""
    if isinstance(value, Gql):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "1e999"
    if isinstance(value, str):
        roll = rng.random()
        if roll < 0.1 and '"""' not in value and not value.endswith('"'):
            return f'"""{value}"""'
        return json.dumps(value, ensure_ascii=roll > 0.25)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v, rng) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{k}: {literal(v, rng)}" for k, v in value.items()) + "}"


def to_json(value: Any) -> Any:
    """A value as a variable's JSON: enum names and junk become strings."""
    if isinstance(value, Gql):
        return value.text
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def unwrap(type_: Any) -> tuple[Any, bool]:
    """The type inside one NonNull, and whether it was one."""
    if isinstance(type_, GraphQLNonNull):
        return type_.of_type, True
    return type_, False


class Builder:
    """Grows one operation from the schema, breaking a few of its parts on the way.

    `poison` makes every write one that must fail however the rest is broken: each input
    carries an invalid name, each delete a missing id, and neither is fuzzed away."""

    def __init__(self, rng: random.Random, pools: Pools, *, poison: bool) -> None:
        self.rng = rng
        self.pools = pools
        self.poison = poison
        self.chaos = 0.04
        self.var_defs: list[str] = []
        self.variables: dict[str, Any] = {}
        self.field_name = ""  # the field whose arguments are being grown

    # Input values

    def input_value(self, type_: GraphQLInputType, name: str, *, inline: bool) -> Any:
        if self.rng.random() < self.chaos:
            return fuzz_value(self.rng)
        if inline and self.rng.random() < 0.05:
            return self.variable(type_, self.valid_value(type_, name, inline=False))
        return self.valid_value(type_, name, inline=inline)

    def valid_value(self, type_: GraphQLInputType, name: str, *, inline: bool) -> Any:
        rng = self.rng
        inner, required = unwrap(type_)
        if not required and rng.random() < 0.08:
            return None
        if isinstance(inner, GraphQLList):
            return [
                self.input_value(inner.of_type, name, inline=inline)
                for _ in range(rng.choice([0, 1, 1, 2, 3]))
            ]
        if isinstance(inner, GraphQLEnumType):
            return Gql(rng.choice(list(inner.values)))
        if isinstance(inner, GraphQLInputObjectType):
            members: dict[str, Any] = {}
            for key, member in inner.fields.items():
                needed = (
                    isinstance(member.type, GraphQLNonNull) and member.default_value is Undefined
                )
                if needed or rng.random() < 0.4:
                    members[key] = self.input_value(member.type, key, inline=inline)
            return members
        return self.scalar(inner.name, name)

    def scalar(self, scalar: str, name: str) -> Any:
        """A value of the right type: a sample, or (what reaches the resolvers) an odd one."""
        rng = self.rng
        odd = self.chaos > 0 and rng.random() < 0.15
        if scalar == "Boolean":
            return rng.random() < 0.5
        if scalar == "DateTime":
            return text(rng) if odd else rng.choice(DATE_TIMES)
        if scalar == "Int":
            return rng.choice([-1, 0, 2**31 - 1, -(2**31)] if odd else SAMPLES.get(name, [0, 1, 5]))
        if odd:
            return text(rng)
        if name == "after":
            offset = rng.choice([0, 1, 5, 10**30])
            cursor = base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()
            return rng.choice([cursor, "garbage", "b2Zmc2V0Oi0x", ""])
        if name == "id":  # export ids, except user(id) and createDataExport's input.id
            pools = self.pools
            ids = {"user": pools.user_ids, "createDataExport": pools.new_ids}
            return rng.choice(ids.get(self.field_name, pools.export_ids))
        if name in SAMPLES:
            return rng.choice(SAMPLES[name])
        return text(rng)

    def variable(self, type_: GraphQLInputType, value: Any, *, keep: bool = False) -> Gql:
        """Declare `$vN` for `value`; unless `keep`, sometimes of the wrong type, with a wrong
        or missing value, or a default."""
        rng = self.rng
        name = f"v{len(self.var_defs)}"
        declared = str(type_)
        if not keep and rng.random() < 0.08:
            declared = rng.choice(BAD_TYPES)
        default = ""
        if not keep and rng.random() < 0.04:
            default = " = " + literal(fuzz_value(rng), rng)
        self.var_defs.append(f"${name}: {declared}{default}")
        roll = 1.0 if keep else rng.random()
        if roll < 0.08:
            self.variables[name] = to_json(fuzz_value(rng))
        elif roll >= 0.05 + 0.08:
            self.variables[name] = to_json(value)
        # else: declared but missing from `variables`
        return Gql(f"${name}")

    # Arguments, fields, selections

    def arguments(self, field_name: str, args: dict[str, GraphQLArgument]) -> str:
        rng = self.rng
        parts: list[str] = []
        self.field_name = field_name
        for name, arg in args.items():
            required = isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
            if required and rng.random() < 0.03 and not self.poison:
                continue  # a required argument left out
            if not required and rng.random() < 0.5:
                continue
            as_variable = rng.random() < 0.35
            if self.poison and field_name in WRITE_FIELDS:
                # Grown whole (no chaos at the top, no variable inside in its place), then
                # poisoned: this argument must stay one that fails however it travels.
                value = self.valid_value(arg.type, name, inline=not as_variable)
                value = self.poison_value(field_name, name, value)
                if as_variable:
                    value = self.variable(arg.type, value, keep=True)
            elif as_variable:
                value = self.valid_value(arg.type, name, inline=False)
                if rng.random() < self.chaos:
                    value = fuzz_value(rng)
                value = self.variable(arg.type, value)
            else:
                value = self.input_value(arg.type, name, inline=True)
            parts.append(f"{name}: {literal(value, rng)}")
        if rng.random() < 0.02:
            parts.append(f"bogus: {literal(fuzz_value(rng), rng)}")
        if parts and rng.random() < 0.015:
            parts.append(rng.choice(parts))  # the same argument twice
        return f"({', '.join(parts)})" if parts else ""

    def poison_value(self, field_name: str, arg: str, value: Any) -> Any:
        """An invalid name in every input, a missing id for every delete."""
        if arg == "id" and field_name == "deleteDataExport":
            return self.rng.choice(MISSING_IDS)
        if arg == "input" and isinstance(value, dict):
            return {**value, "name": self.rng.choice(POISON_NAMES)}
        return value

    def field(self, name: str, definition: GraphQLField, depth: int, alias: str = "") -> str:
        rng = self.rng
        if not alias and rng.random() < 0.12:
            alias = f"{name}{rng.randint(0, 9)}: "
        args = self.arguments(name, definition.args)
        directive = self.directive() if rng.random() < 0.05 else ""
        sub = ""
        if not is_leaf_type(get_named_type(definition.type)):
            sub = " " + self.selection_set(definition.type, depth + 1)
        return f"{alias}{name}{args}{directive}{sub}"

    def selection_set(self, type_: GraphQLOutputType, depth: int) -> str:
        rng = self.rng
        named = get_named_type(type_)
        parts: list[str] = []
        if isinstance(named, GraphQLUnionType | GraphQLInterfaceType):
            parts.append("__typename")
            possible = list(SCHEMA.get_possible_types(named))
            for obj in rng.sample(possible, rng.randint(1, min(3, len(possible)))):
                parts.append(f"... on {obj.name} {self.selection_set(obj, depth + 1)}")
            if isinstance(named, GraphQLUnionType) and rng.random() < 0.3:
                parts.append("... on Error { code message }")
        else:
            assert isinstance(named, GraphQLObjectType)
            fields = list(named.fields.items())
            if depth >= MAX_SELECTION_DEPTH:
                fields = [(n, f) for n, f in fields if is_leaf_type(get_named_type(f.type))]
            for name, definition in rng.sample(fields, rng.randint(0, min(4, len(fields)))):
                parts.append(self.field(name, definition, depth))
            if not parts or rng.random() < 0.1:
                parts.append("__typename")
        return "{ " + " ".join(parts) + " }"

    def directive(self) -> str:
        rng = self.rng
        roll = rng.randint(0, 9)
        if roll <= 5:
            return f" @{rng.choice(['skip', 'include'])}(if: {rng.choice(['true', 'false'])})"
        if roll == 6:
            return f" @skip(if: {literal(fuzz_value(rng), rng)})"
        if roll == 7:
            value = rng.choice([True, False, "yes", None, 1])
            return f" @include(if: {literal(self.variable(BOOLEAN, value), rng)})"
        return " " + rng.choice(
            [
                "@include",
                "@include(if: $undeclared)",
                "@skip(if: true) @skip(if: false)",
                "@deprecated",
                '@specifiedBy(url: "x")',
                "@nope",
                "@include(if: true, extra: 1)",
            ]
        )

    def operation(self) -> tuple[str, str | None, str]:
        """A document, its operation name and its kind."""
        rng = self.rng
        if self.poison:
            kind = "mutation"
        else:
            kind = rng.choices(["query", "mutation", "subscription"], [60, 36, 4])[0]
        root = ROOTS[kind]
        assert root is not None
        fields = list(root.fields.items())
        if kind == "mutation" and rng.random() < 0.7:
            fields = [(n, f) for n, f in fields if n != "deleteDataExport"] or fields
        if kind == "mutation" and not self.poison and rng.random() < 0.4:
            self.chaos = 0.0  # some writes get through: rows to update, delete and read back
        count = rng.choice([1, 1, 1, 2, 3])
        selections = []
        for i in range(count):
            name, definition = rng.choice(fields)
            selections.append(self.field(name, definition, 1, alias=f"r{i}: "))
        body = "{ " + " ".join(selections) + " }"
        fragments = ""
        if rng.random() < 0.12:
            body, fragments = "{ ...Root }", f" fragment Root on {root.name} {body}"
        name = rng.choice([None, None, "Op", "Fuzz_1", "q"])
        definitions = f"({', '.join(self.var_defs)})" if self.var_defs else ""
        head = f"{kind} {name or ''}{definitions}"
        if kind == "query" and not name and not definitions and rng.random() < 0.5:
            head = ""
        return f"{head} {body}{fragments}", name, kind


def nested(rng: random.Random, kind: str) -> str:
    """Selections to splice into a root selection set: aliases, depth, fragment games."""
    root = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}[kind]
    roll = rng.randint(0, 5)
    if roll == 0:
        return " ".join(f"x{i}: __typename" for i in range(rng.randint(5, 25)))
    if roll == 1:
        depth = rng.choice([5, 12, 40, 300])
        return "a { " * depth + "b" + " }" * depth
    if roll == 2:
        depth = rng.choice([3, 12, 100, 700])
        return f"... on {root} {{ " * depth + "__typename" + " }" * depth
    if roll == 3:  # as deep as the schema goes
        return (
            "dataExportsConnection(first: 2) { edges { node { files { links { rel href } "
            "downloadUrl(ttlSeconds: 60) } user { links { rel } } } } }"
        )
    if roll == 4:
        return "...Nowhere"
    return f"...on {rng.choice(['User', 'DataExport', 'Nope'])} {{ __typename }}"


TRAILERS = [
    " fragment A on Query { ...B } fragment B on Query { ...A }",
    " fragment Unused on User { id }",
    " query Other { __typename }",
    " { __typename }",
    " mutation Other { deleteDataExport(id: 1) { __typename } }",
    " fragment Root on Query { __typename }",
    " # a comment\n",
    " \ufeff",
]


def mangle(rng: random.Random, document: str, kind: str, *, text_level: bool) -> str:
    """Break a grown document: splice selections, append definitions, damage the text."""
    if rng.random() < 0.15 and "{" in document:
        cut = document.index("{") + 1
        document = f"{document[:cut]} {nested(rng, kind)} {document[cut:]}"
    if rng.random() < 0.08:
        document += rng.choice(TRAILERS)
    if text_level and rng.random() < 0.08:
        for _ in range(rng.randint(1, 3)):
            if not document:
                break
            at = rng.randrange(len(document))
            roll = rng.randint(0, 4)
            if roll == 0:
                document = document[:at] + document[at + rng.randint(1, 8) :]
            elif roll == 1:
                document = document[:at] + rng.choice('{}()[]:$@!."#\\ \x00\ud800') + document[at:]
            elif roll == 2:
                document = document[:at] + document[at : at + 20] + document[at:]
            elif roll == 3:
                document = document[:at]
            else:
                document = document.replace("{", "(", 1)
    return document


def garbage(rng: random.Random, payload: dict[str, Any]) -> tuple[bytes, str]:
    """A body Strawberry must refuse (or read past) cleanly, and its content type."""
    encoded = json.dumps(payload).encode()
    roll = rng.randint(0, 13)
    if roll == 0:
        return rng.randbytes(rng.randint(0, 200)), "application/json"
    if roll == 1:
        return encoded[: rng.randint(0, max(0, len(encoded) - 1))], "application/json"
    if roll == 2:
        return rng.choice(
            [b'"x"', b"5", b"null", b"true", b'"{}"', b"-0", b" "]
        ), "application/json"
    if roll == 3:
        batch = [payload] * rng.randint(0, 3) + rng.choice([[], [5], ["x"], [None]])
        return json.dumps(batch).encode(), "application/json"
    if roll == 4:
        depth = rng.choice([50, 900, 5000, 100_000])
        return b"[" * depth + b"]" * depth, "application/json"
    if roll == 5:
        depth = rng.choice([50, 900, 5000, 100_000])
        deep = b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * depth + b"]" * depth
        return deep + b"}}", "application/json"
    if roll == 6:
        junk = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999"])
        return (
            b'{"query": "query($a: Int) { dataExports(limit: $a) { total } }", "variables": {"a": '
            + junk
            + b"}}",
            "application/json",
        )
    if roll == 7:
        return b'{"query": "{ __typename }", "query": ' + rng.choice(
            [b"5", b"null", encoded]
        ) + b"}", "application/json"
    if roll == 8:
        return rng.choice(
            [b"\xff" + encoded, encoded + b"\xff", b"\xff\xfe{", "\ufeff".encode() + encoded]
        ), "application/json"
    if roll == 9:
        return json.dumps(payload).encode("utf-16"), "application/json"
    if roll == 10:
        return b" " * (1024 * 1024) + encoded, "application/json"  # over the 1 MiB limit
    if roll == 11:
        return b"", "application/json"
    if roll == 12:
        query = str(payload.get("query", "")).encode("utf-8", "surrogatepass")
        return query, rng.choice(
            ["application/graphql", "text/plain", "", "multipart/form-data; boundary=x"]
        )
    content_type = rng.choice(
        ["application/json; charset=latin-1", "APPLICATION/JSON", "application/jsonx", "text/json"]
    )
    return encoded, content_type


def credentials(rng: random.Random, tenant: Tenant) -> dict[str, str]:
    roll = rng.random()
    if roll < 0.86:
        return dict(tenant.headers)
    if roll < 0.93:
        return dict(tenant.read_headers)
    if roll < 0.96:
        return {}
    return rng.choice(
        [{"REB-APIKEY": "nope"}, {"Authorization": "Bearer x.y.z"}, {"REB-APIKEY": ""}]
    )


def build_request(rng: random.Random, pools: Pools, tenant: Tenant, *, poison: bool) -> Request:
    builder = Builder(rng, pools, poison=poison)
    document, name, kind = builder.operation()
    document = mangle(rng, document, kind, text_level=not poison)
    payload: dict[str, Any] = {"query": document}
    if builder.variables or rng.random() < 0.1:
        payload["variables"] = builder.variables
    if rng.random() < 0.1:
        payload.setdefault("variables", {})["extra"] = to_json(fuzz_value(rng))
    roll = rng.random()
    if roll < 0.5:
        if name:
            payload["operationName"] = name
    elif roll < 0.56:
        payload["operationName"] = rng.choice(["Other", "", "\u00fc", "Op Op"])
    elif roll < 0.59:
        payload["operationName"] = rng.choice([5, ["Op"], {"a": 1}, True])
    elif roll < 0.62:
        payload[rng.choice(["query", "variables", "extensions"])] = to_json(fuzz_value(rng))
    headers = credentials(rng, tenant)
    if rng.random() < 0.05:
        headers["accept"] = rng.choice(["application/graphql-response+json", "application/json"])
    transport = rng.random()
    writes = "mutation" in document
    if transport < 0.66:
        content = json.dumps(payload).encode()
        headers["content-type"] = "application/json"
        return Request("POST", "/graphql", headers, content, writes)
    if transport < 0.84:
        params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}
        if rng.random() < 0.1:
            params["variables"] = rng.choice(["{bad", "[]", "5", "null", "[" * 5000])
        url = "/graphql?" + urlencode(params, errors="surrogatepass")
        return Request("GET", url, headers, None, writes)
    content, content_type = garbage(rng, payload)
    if content_type:
        headers["content-type"] = content_type
    return Request("POST", "/graphql", headers, content, writes)


async def send(client: httpx.AsyncClient, request: Request) -> httpx.Response:
    try:
        return await client.request(
            request.method, request.url, headers=request.headers, content=request.content
        )
    except Exception as exc:  # the app raised instead of answering: a 500 in production
        raise AssertionError(f"unhandled {exc!r} for {request.describe()}") from exc


def check(request: Request, response: httpx.Response, caplog: pytest.LogCaptureFixture) -> Any:
    """The invariants of every answer; returns the parsed body."""
    where = request.describe()
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, (where, [caplog.handler.format(r) for r in failures])
    assert response.status_code < 500, (where, response.text)
    assert response.headers["content-type"].startswith(JSON_TYPES), (where, response.headers)
    body = response.json()
    assert isinstance(body, dict), (where, body)
    assert set(body) <= {"data", "errors", "extensions"}, (where, body)
    assert "data" in body or "errors" in body, (where, body)
    errors = body.get("errors")
    if response.status_code != 200:
        assert errors, (where, response.status_code, body)
    if errors is not None:
        assert isinstance(errors, list), (where, body)
        assert errors, (where, body)
        for error in errors:
            assert isinstance(error["message"], str), (where, error)
            code = (error.get("extensions") or {}).get("code")
            assert code != "INTERNAL_SERVER_ERROR", (where, error)
    return body


def executed(response: httpx.Response, body: dict[str, Any]) -> bool:
    """Whether execution began: a request error (no `path`) means nothing ran."""
    if response.status_code != 200:
        return False
    errors = body.get("errors") or []
    return body.get("data") is not None or any("path" in e for e in errors)


def outcome(response: httpx.Response, body: dict[str, Any]) -> str:
    if response.status_code != 200:
        return str(response.status_code)
    if not executed(response, body):
        return "request-error"
    raw = json.dumps(body)
    if written(body):
        return "written"
    for typename in ("ValidationError", "NotFoundError", "ConflictError", "ForbiddenError"):
        if f'"{typename}"' in raw:
            return typename
    return "field-error" if body.get("errors") else "data"


def written(body: dict[str, Any]) -> bool:
    """Whether a mutation reported a write (when its selection asked for `__typename`)."""
    raw = json.dumps(body)
    return '"__typename": "DataExport"' in raw or '"__typename": "DeletedDataExport"' in raw


# The stored state: every table but the rate-limit counters (a refused write may count).
STATE_TABLES = [t for t in Base.metadata.sorted_tables if t.name != "rate_counters"]


async def stored(harness: Harness) -> dict[str, list[Any]]:
    """Every row of every table, and the names of the stored files."""
    async with harness.session() as session:
        state: dict[str, list[Any]] = {
            t.name: sorted((tuple(r) for r in await session.execute(select(t))), key=repr)
            for t in STATE_TABLES
        }
    files = harness.settings.storage_dir
    state["files"] = sorted(p.name for p in files.iterdir()) if files.exists() else []
    return state


async def export_rows(harness: Harness, organization_id: str | None = None) -> list[Any]:
    async with harness.session() as session:
        stmt = select(DataExport.__table__).order_by(DataExport.pk)
        if organization_id is not None:
            stmt = stmt.where(DataExport.organization_id == organization_id)
        return [tuple(r) for r in await session.execute(stmt)]


async def world(harness: Harness, tenant: Tenant) -> Pools:
    """Exports to aim at: pending ones, a completed one with a file, a recurring one, and one of
    another organization (which the fuzz must never see or change)."""
    other = await harness.tenant("globex", "bob@example.com")
    (foreign,) = await seed_exports(harness, "globex", [other.user], 1)
    pending = await seed_exports(harness, tenant.organization_id, [tenant.user], 2)
    done = await completed_export(harness, tenant)
    recurring = await harness.client.post(
        "/data-exports",
        json=rest_body(name="Nightly", recurring={"instruction": "FREQ=DAILY;BYHOUR=2"}),
        headers=tenant.headers,
    )
    assert recurring.status_code == 201, recurring.text
    return Pools(
        export_ids=[*pending, done["id"], recurring.json()["id"], foreign, "fz-1", "missing"],
        new_ids=["fz-1", "fz-2", "fz-3", "fz-4", "fz-5"],
        user_ids=[tenant.user.id, other.user.id, "missing"],
    )


async def test_graphql_fuzz_never_fails_with_a_server_error(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """Valid and broken requests mixed: every answer keeps `check`'s invariants, and a request
    refused before execution (or any GET) leaves the exports as they were. At the end, the
    other organization's export is untouched and whatever was stored reads back in full."""
    pools = await world(harness, tenant)
    foreign = await export_rows(harness, "globex")
    caplog.clear()
    run = FuzzRun.from_env()
    rng = run.rng()
    seen: Counter[str] = Counter()
    with run.noted(), caplog.at_level(logging.WARNING):
        for _ in range(run.iterations):
            request = build_request(rng, pools, tenant, poison=False)
            before = await export_rows(harness) if request.writes else None
            response = await send(harness.client, request)
            body = check(request, response, caplog)
            if before is not None and (request.method == "GET" or not executed(response, body)):
                assert await export_rows(harness) == before, request.describe()
            seen[outcome(response, body)] += 1
        # Another organization's export is untouched, and whatever the fuzz stored reads back.
        assert await export_rows(harness, "globex") == foreign
        everything = (
            "{ dataExports(limit: 1000) { total items { id name resource format "
            "arguments { filter sort q } dateRange { start end field } emailNotification "
            "fields recurring { instruction start } status scheduledTime links { href } "
            "user { email } file { size downloadUrl } nextOccurrences(count: 3) } } }"
        )
        response = await harness.client.post(
            "/graphql", json={"query": everything}, headers=tenant.headers
        )
        assert "errors" not in response.json(), response.text
        listed = await harness.client.get(
            "/data-exports?limit=1000&expand=user,file", headers=tenant.headers
        )
        assert listed.status_code == 200, listed.text
        total = response.json()["data"]["dataExports"]["total"]
        assert total == len(listed.json()) == len(await export_rows(harness, "acme"))
    # The generator reached every kind of answer (a sanity check that holds for the default
    # seed, and almost surely for any seed at that size or more): transport and request
    # errors, typed write errors, writes and reads.
    print(sorted(seen.items()))
    for kind in ("400", "405", "request-error", "ValidationError", "written", "data"):
        assert seen[kind] > 0, seen
    assert seen["request-error"] < run.iterations // 2, seen


async def test_graphql_writes_that_must_fail_change_nothing(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """Only writes that must fail (an invalid name in every input, a missing id in every
    delete, however the rest is broken): no write is reported, and every stored row and file
    is as it was, with refusals at each layer (transport, validation, resolvers)."""
    pools = await world(harness, tenant)
    before = await stored(harness)
    caplog.clear()
    run = FuzzRun.from_env()
    rng = run.rng()
    seen: Counter[str] = Counter()
    with run.noted(), caplog.at_level(logging.WARNING):
        for _ in range(max(1, run.iterations // 3)):
            request = build_request(rng, pools, tenant, poison=True)
            response = await send(harness.client, request)
            body = check(request, response, caplog)
            seen[outcome(response, body)] += 1
            assert not written(body), request.describe()
        assert await stored(harness) == before
    print(sorted(seen.items()))
    # The batch reached the resolvers (as for the sanity check above): otherwise "nothing
    # changed" would prove little.
    assert seen["ValidationError"] > 0, seen
    assert seen["NotFoundError"] + seen["ForbiddenError"] + seen["401"] > 0, seen
    assert seen["request-error"] > 0, seen


# What the fuzz found, pinned down.

DEEP = 100_000
NOT_OPERATIONS = [
    b'"x"',
    b"5",
    b"null",
    b"true",
    b"[" * DEEP + b"]" * DEEP,
    b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * DEEP + b"]" * DEEP + b"}}",
    b"\xff\xfe{",
    b'\xff{"query": "{ __typename }"}',
]


@pytest.mark.parametrize("content", NOT_OPERATIONS, ids=lambda c: clip(c, 24))
async def test_a_body_that_is_no_operation_is_a_400(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    """Strawberry read a JSON scalar as an operation, and let a RecursionError (deep nesting)
    or a UnicodeDecodeError (not UTF-8) escape: each was a 500."""
    headers = {**tenant.headers, "content-type": "application/json"}
    response = await harness.client.post("/graphql", content=content, headers=headers)
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_deeply_nested_variables_in_a_query_string_are_a_400(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    params = {"query": "{ __typename }", "variables": "[" * 5000}
    response = await harness.client.get("/graphql", params=params, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_failed_root_field_beside_a_loading_one_is_a_field_error(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """When a root field fails, graphql-core cancels its siblings without waiting; a dataloader
    cut off mid-statement invalidates the session as the response is sent. The session used to
    be closed in the middle of that: a 500 from the rollback on a closed connection."""
    await seed_exports(harness, tenant.organization_id, [tenant.user], 2)
    query = '{ dataExports { items { user { id } } } bad: dataExports(filter: "nope:1") { total } }'
    for _ in range(3):
        response = await harness.client.post(
            "/graphql", json={"query": query}, headers=tenant.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    ok = await harness.client.post(
        "/graphql", json={"query": "{ dataExports { total } }"}, headers=tenant.headers
    )
    assert ok.json() == {"data": {"dataExports": {"total": 2}}}


async def test_a_write_after_a_failed_one_in_the_same_operation_succeeds(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """A mutation field that fails before anything commits (here: no such export) rolls back
    the transaction the caller was authenticated in, which expired the user: the next field
    read the user's id by a lazy load, which async SQLAlchemy refuses (a masked internal
    error, and the write lost)."""
    create = 'createDataExport(input: {name: "Fine", resource: CUSTOMERS, format: CSV})'
    query = (
        'mutation { bad: updateDataExport(id: "missing", input: {}) { __typename } '
        f"ok: {create} {{ __typename }} }}"
    )
    response = await harness.client.post("/graphql", json={"query": query}, headers=tenant.headers)
    assert response.json() == {
        "data": {"bad": {"__typename": "NotFoundError"}, "ok": {"__typename": "DataExport"}}
    }
    assert await export_rows(harness, tenant.organization_id)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_failed_field_leaves_its_siblings_rows_readable(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """A field that fails inside a transaction rolls it back, which expired every row the
    session had loaded, rows sibling fields were still resolving (`nextOccurrences` reads its
    row after a thread hop): their next read needed a lazy load, which async SQLAlchemy
    refuses (a masked internal error)."""
    rule = {"instruction": "FREQ=DAILY;BYHOUR=2"}
    for name in ("Nightly", "Daily"):
        created = await harness.client.post(
            "/data-exports", json=rest_body(name=name, recurring=rule), headers=tenant.headers
        )
        assert created.status_code == 201, created.text
    query = (
        "{ a: dataExports { items { nextOccurrences(count: 3) name } } "
        'b: dataExport(id: "..") { id } c: dataExports { items { status } } }'
    )
    for _ in range(3):
        response = await harness.client.post(
            "/graphql", json={"query": query}, headers=tenant.headers
        )
        body = response.json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
        assert [item["name"] for item in body["data"]["a"]["items"]] == ["Daily", "Nightly"]
        assert all(len(item["nextOccurrences"]) == 3 for item in body["data"]["a"]["items"])
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_cleanup_cut_off_by_cancellation_runs_to_the_end() -> None:
    """`unit_of_work` rolls back or invalidates through `to_the_end`: cancelled (even twice)
    while it runs, the cleanup still finishes before the cancellation propagates."""
    finished = asyncio.Event()

    async def cleanup() -> None:
        await asyncio.sleep(0.05)
        finished.set()

    task = asyncio.create_task(to_the_end(cleanup()))
    for _ in range(2):
        await asyncio.sleep(0.01)
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()


async def test_a_cleanup_that_fails_after_a_cancellation_still_propagates_the_cancellation() -> (
    None
):
    """A rollback that fails while its task is being cancelled: the caller sees the
    cancellation (a timeout, a closing socket), not the rollback's error."""

    async def failing_cleanup() -> None:
        await asyncio.sleep(0.05)
        raise OSError("connection reset")

    task = asyncio.create_task(to_the_end(failing_cleanup()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as cancelled:
        await task
    assert isinstance(cancelled.value.__cause__, OSError)


@pytest.mark.parametrize("value", ['"\u0130"', '"\u0130\u0130x"', '["\u0130"]'])
async def test_an_enum_given_a_case_expanding_string_is_a_validation_error(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    """graphql-core sizes its "did you mean" table by the input's length, but "\u0130".lower()
    is two characters long: the suggestion raised IndexError (a masked internal error)."""
    query = f"{{ exportResource(name: {value}) {{ defaultFields }} }}"
    response = await harness.client.post("/graphql", json={"query": query}, headers=tenant.headers)
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert "ExportResource" in error["message"], error
    assert "extensions" not in error or error["extensions"].get("code") != "INTERNAL_SERVER_ERROR"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_spread_of_an_unknown_fragment_is_named(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """The depth limit raised KeyError on it, answered as the bare message "'Nowhere'"."""
    query = "{ __typename ...Nowhere }"
    response = await harness.client.post("/graphql", json={"query": query}, headers=tenant.headers)
    assert response.json() == {
        "data": None,
        "errors": [
            {"message": "Unknown fragment 'Nowhere'.", "locations": [{"line": 1, "column": 17}]}
        ],
    }
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# The same over WebSocket (graphql-transport-ws), on a real uvicorn server.

WS_PROTOCOL = "graphql-transport-ws"
WS_TIMEOUT = 10.0
TOO_MANY_TOKENS = "{ " + "__typename " * 3000 + "}"
SERVER_MESSAGES = {"connection_ack", "next", "error", "complete", "ping", "pong"}


@pytest.fixture
def ws_url(settings: Settings) -> Iterator[str]:
    with serve_asgi(create_app(settings)) as base_url:
        yield base_url.replace("http://", "ws://") + "/graphql"


def ws_message(rng: random.Random, pools: Pools, tenant: Tenant, op_id: str) -> tuple[str, bool]:
    """A client message, and whether it starts an operation that answers under `op_id`."""
    roll = rng.random()
    if roll < 0.6:
        builder = Builder(rng, pools, poison=False)
        document, name, kind = builder.operation()
        payload: dict[str, Any] = {"query": mangle(rng, document, kind, text_level=True)}
        if builder.variables:
            payload["variables"] = builder.variables
        if name and rng.random() < 0.5:
            payload["operationName"] = name
        if rng.random() < 0.1:
            payload[rng.choice(["query", "variables", "operationName"])] = to_json(fuzz_value(rng))
        return json.dumps({"id": op_id, "type": "subscribe", "payload": payload}), True
    if roll < 0.7:
        return rng.choice([json.dumps({"type": "ping"}), json.dumps({"type": "pong"})]), False
    if roll < 0.75:
        return json.dumps({"id": rng.choice([op_id, "nope"]), "type": "complete"}), False
    if roll < 0.8:
        init = {"type": "connection_init", "payload": dict(tenant.headers)}
        return json.dumps(init), False  # a second init: 4429
    if roll < 0.9:
        broken = rng.choice(
            [
                {"type": "subscribe", "payload": {"query": "{ __typename }"}},
                {"id": 5, "type": "subscribe", "payload": {"query": "{ __typename }"}},
                {"id": op_id, "type": "subscribe", "payload": "x"},
                {"id": op_id, "type": "subscribe"},
                {"id": op_id, "type": "nope"},
                {"type": None},
                [],
            ]
        )
        return json.dumps(broken), False
    depth = rng.choice([50, 5000, DEEP])
    junk = text(rng).encode(errors="replace").decode()  # a text frame is UTF-8: no surrogates
    return rng.choice([junk, "[" * depth + "]" * depth, '"x"', "5", "{"]), False


def check_ws(message: Any, where: str) -> None:
    assert isinstance(message, dict), (where, message)
    assert message.get("type") in SERVER_MESSAGES, (where, message)
    payload = message.get("payload")
    errors = payload if message["type"] == "error" else (payload or {}).get("errors")
    for error in errors or []:
        code = (error.get("extensions") or {}).get("code")
        assert code != "INTERNAL_SERVER_ERROR", (where, error)


@dataclass
class Socket:
    """One connection's share of the WebSocket fuzz."""

    url: str
    tenant: Tenant
    pools: Pools
    caplog: pytest.LogCaptureFixture
    where: str = ""

    async def run(self, rng: random.Random, ids: Iterator[int]) -> int | None:
        """Send messages until the budget (`ids`) runs out, or the server closes the
        connection: returns its close code (None: still open, -1: closed without one)."""
        async with connect(self.url, subprotocols=[WS_PROTOCOL], open_timeout=WS_TIMEOUT) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": self.tenant.headers}))
            assert json.loads(await asyncio.wait_for(ws.recv(), WS_TIMEOUT)) == {
                "type": "connection_ack"
            }
            try:
                for n in ids:
                    await self.exchange(ws, rng, f"op{n}")
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else -1
        return None

    async def exchange(self, ws: ClientConnection, rng: random.Random, op_id: str) -> None:
        message, answers = ws_message(rng, self.pools, self.tenant, op_id)
        self.where = f"WebSocket message {clip(message)}"
        await ws.send(message)
        if not answers:  # the pong tells when the server is done with the message
            await ws.send(json.dumps({"type": "ping"}))
        while True:
            reply = json.loads(await asyncio.wait_for(ws.recv(), WS_TIMEOUT))
            check_ws(reply, self.where)
            if answers and reply.get("id") == op_id:
                if reply["type"] == "next":  # maybe a live subscription: enough of it
                    await ws.send(json.dumps({"id": op_id, "type": "complete"}))
                break
            if not answers and reply["type"] == "pong":
                break
        failures = [r for r in self.caplog.records if r.levelno >= logging.ERROR]
        assert not failures, (self.where, [self.caplog.handler.format(r) for r in failures])


async def test_graphql_fuzz_over_websocket(
    ws_url: str, harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection that breaks the protocol is closed with a 44xx code, never a 1011 (an
    internal error) or without one; operations answer like HTTP's, never with a masked
    internal error, and nothing is logged as a server failure."""
    seeded = await seed_exports(harness, tenant.organization_id, [tenant.user], 2)
    pools = Pools([*seeded, "missing"], ["ws-1", "ws-2"], [tenant.user.id, "missing"])
    socket = Socket(ws_url, tenant, pools, caplog)
    caplog.clear()
    run = FuzzRun.from_env()
    rng = run.rng()
    ids = iter(range(max(1, run.iterations // 4)))
    closes: Counter[int] = Counter()
    with run.noted(), caplog.at_level(logging.WARNING):
        while (code := await socket.run(rng, ids)) is not None:
            assert 4400 <= code < 4500, (socket.where, code)
            closes[code] += 1
    print(sorted(closes.items()))


CLOSED_WITH_4400 = [  # (message, the close reason's start)
    (json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ nope("}}), "Syntax"),
    (
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": TOO_MANY_TOKENS}}),
        "Syntax Error: Document contains more than 2000 tokens",
    ),
    (
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "a" * 2001}}),
        "Syntax Error: Unexpected Name 'aaa",
    ),
    (json.dumps({"type": "\u00e9" * 200}), "Unknown message type: \u00e9\u00e9"),
    ("[" * DEEP + "]" * DEEP, "WebSocket message must be valid JSON"),
    ('"x"', "WebSocket message must be a JSON object"),
    ("5", "WebSocket message must be a JSON object"),
    ("[]", "WebSocket message must be a JSON object"),
    ("null", "WebSocket message must be a JSON object"),
]
ANSWERED_WITH_AN_ERROR = [  # (subscribe payload, error message, error code)
    ({"query": "{ ...Nowhere }"}, "Unknown fragment 'Nowhere'.", None),
    (
        {"query": "{ __typename }", "operationName": "Nope"},
        'Unknown operation named "Nope".',
        "BAD_REQUEST",
    ),
    ({"query": ""}, 'Request data is missing a "query" value', "BAD_REQUEST"),
]


@asynccontextmanager
async def acknowledged(url: str, tenant: Tenant) -> AsyncIterator[ClientConnection]:
    async with connect(url, subprotocols=[WS_PROTOCOL], open_timeout=WS_TIMEOUT) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": tenant.headers}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WS_TIMEOUT)) == {
            "type": "connection_ack"
        }
        yield ws


async def test_websocket_refuses_what_it_cannot_run(
    ws_url: str, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """Each with the protocol's answer, nothing logged. Before: with the parser cache, a
    syntax error or the token limit was logged as an internal error and the operation
    completed unanswered; JSON nested too deep, or JSON but no object, escaped as an unhandled
    RecursionError or TypeError, and a close reason over 123 bytes failed the close (each a
    connection dropped without a code); an unknown fragment's KeyError (in the depth limit)
    escaped the operation; Strawberry's refusals of an operation name or an empty query were
    masked as internal errors."""
    for message, reason in CLOSED_WITH_4400:
        async with acknowledged(ws_url, tenant) as ws:
            await ws.send(message)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), WS_TIMEOUT)
        assert closed.value.rcvd is not None, clip(message)
        assert closed.value.rcvd.code == 4400, clip(message)
        assert closed.value.rcvd.reason.startswith(reason), (clip(message), closed.value.rcvd)
        assert len(closed.value.rcvd.reason.encode()) <= 123  # RFC 6455's limit
    for payload, error_message, code in ANSWERED_WITH_AN_ERROR:
        async with acknowledged(ws_url, tenant) as ws:
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), WS_TIMEOUT))
        assert reply["type"] == "error", (payload, reply)
        (error,) = reply["payload"]
        assert error["message"] == error_message, payload
        assert error.get("extensions", {}).get("code") == code, payload
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def drain(ws: ClientConnection) -> None:
    """Read until the server closes the socket (ConnectionClosed)."""
    while True:
        await asyncio.wait_for(ws.recv(), WS_TIMEOUT)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_socket_closed_with_operations_in_flight_closes_cleanly(
    ws_url: str, harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """A closing socket cancels its operations, and graphql-core cancels a failed field's
    siblings, without waiting for them: the connection's session used to be closed while they
    were still rolling back or invalidating it ("Cannot operate on a closed database",
    IllegalStateChangeError, "Exception during reset"), each an ASGI application error.

    Left out, as library issues of cancellation: errors of the `asyncio` logger (SQLAlchemy's
    aiosqlite driver can leave a pending close task behind when a cancellation reaches its
    terminate) and "coroutine was never awaited" warnings (graphql-core cancels resolvers it
    has not started)."""
    (export_id,) = await seed_exports(harness, tenant.organization_id, [tenant.user], 1)
    watch = f'subscription {{ dataExportUpdates(id: "{export_id}") {{ id user {{ id }} }} }}'
    query = (
        "{ a: dataExports { items { user { id } file { id } } } "
        'b: dataExports(filter: "nope:1") { total } c: dataExportsConnection { totalCount } }'
    )
    for n in range(20):
        async with acknowledged(ws_url, tenant) as ws:
            for op_id, document in (("s", watch), ("q", query)):
                subscribe = {"id": op_id, "type": "subscribe", "payload": {"query": document}}
                await ws.send(json.dumps(subscribe))
            await asyncio.sleep(0.001 * (n % 5))
            await ws.send("5")  # an invalid message: the server closes the socket
            with pytest.raises(ConnectionClosed):
                await drain(ws)
    await asyncio.sleep(0.2)  # the server finishes closing the last one
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name != "asyncio"]
    assert not failures, [caplog.handler.format(r) for r in failures]
