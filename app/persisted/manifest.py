"""Trusted documents: the manifest of operations a team allows, loaded once from a file.

Two formats, the ones the client tooling writes:

- GraphQL Codegen's client preset (`persistedDocuments`): `persisted-documents.json`, a JSON
  object mapping each document's hash to its text;
- Apollo's `@apollo/generate-persisted-query-manifest`:
  `{"format": "apollo-persisted-query-manifest", "version": 1,
    "operations": [{"id", "name", "type", "body"}]}`.

The manifest's ids are taken as written (Codegen may hash with SHA-1 or SHA-256); a document
sent in full is matched by its exact text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APOLLO_FORMAT = "apollo-persisted-query-manifest"


class ManifestError(ValueError):
    """The manifest file cannot be read or is in neither format; the message names the file."""


@dataclass(frozen=True)
class Manifest:
    by_id: Mapping[str, str] = field(default_factory=dict)
    """Document id (hash) → document text."""
    ids_by_text: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, documents: Mapping[str, str]) -> Manifest:
        return cls(dict(documents), {text: key for key, text in documents.items()})

    def __len__(self) -> int:
        return len(self.by_id)

    def document(self, document_id: str) -> str | None:
        """The text for an id, with or without the `sha256:` prefix that Codegen writes and
        the GraphQL-over-HTTP persisted-documents proposal uses (`documentId: "sha256:…"`),
        whichever way the manifest spells it."""
        found = self.by_id.get(document_id)
        if found is None:
            algorithm, colon, bare = document_id.partition(":")
            found = self.by_id.get(bare if colon else f"sha256:{algorithm}")
        return found

    def allows(self, text: str) -> bool:
        return text in self.ids_by_text


def parse(data: Any, source: str) -> Manifest:
    """A manifest from decoded JSON in either format."""
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: a manifest is a JSON object")
    if "format" in data:
        if data.get("format") != APOLLO_FORMAT or data.get("version") != 1:
            raise ManifestError(f"{source}: only {APOLLO_FORMAT} version 1 is understood")
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ManifestError(f"{source}: `operations` must be a list")
        documents: dict[str, str] = {}
        for index, operation in enumerate(operations):
            if not (
                isinstance(operation, dict)
                and isinstance(operation.get("id"), str)
                and isinstance(operation.get("body"), str)
            ):
                raise ManifestError(f"{source}: operations[{index}] needs a string id and body")
            documents[operation["id"]] = operation["body"]
        return Manifest.of(documents)
    for key, text in data.items():
        if not isinstance(text, str) or not key:
            raise ManifestError(f"{source}: {key!r} must map to a document's text")
    return Manifest.of(data)


def load(path: Path) -> Manifest:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc.strerror})") from None
    except (ValueError, RecursionError):
        raise ManifestError(f"{path}: the manifest is not JSON") from None
    return parse(data, str(path))
