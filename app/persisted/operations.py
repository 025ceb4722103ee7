"""Which document a GraphQL request runs, when it names one by hash.

The protocols, as the client libraries expect them:

- Apollo's automatic persisted queries (Apollo Client's `PersistedQueryLink`, urql's
  `persistedExchange`): `extensions.persistedQuery = {version: 1, sha256Hash}`. A hash alone
  runs the stored document or fails with the message `PersistedQueryNotFound` (the clients
  match that exact text, or the code), upon which they resend the hash with the document; the
  service checks the hash against the document and stores it once it has validated.
- Trusted documents: a manifest (manifest.py) whose ids a client may send as the hash above or
  as `documentId` (the GraphQL-over-HTTP persisted-documents proposal). With `trusted_only`,
  nothing outside the manifest runs and nothing is registered.

The error codes beyond Apollo's two are those of Apollo's router, so tooling recognises them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.persisted.manifest import Manifest, load
from app.persisted.store import DatabaseStore, DocumentStore, RedisStore
from app.settings import Settings

log = logging.getLogger("app.persisted")

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MAX_STORED_BYTES = 256 * 1024
"""A larger document runs but is not stored (its client keeps sending it in full), so the
store holds at most GRAPHQL_APQ_MAX_ENTRIES times 256 KiB."""
MAX_ID_CHARS = 200
LOCAL_CACHE_ENTRIES = 512
"""Documents kept in each process in front of the shared store: a hash names one text forever,
so a process-local copy is never stale."""


class PersistedQueryError(Exception):
    """A request error of the persisted-operation protocols. `retryable` errors are the two a
    client reacts to by resending (Apollo Server answers them with HTTP 200); `status` is the
    HTTP status of the others, as Apollo's router answers them."""

    def __init__(
        self, message: str, code: str, *, retryable: bool = False, status: int = 400
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.status = status


def not_found() -> PersistedQueryError:
    return PersistedQueryError(
        "PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND", retryable=True
    )


def not_supported() -> PersistedQueryError:
    return PersistedQueryError(
        "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED", retryable=True
    )


def _not_in_list(document_id: str) -> PersistedQueryError:
    shown = document_id[:80]
    return PersistedQueryError(
        f"No trusted document has the id {shown!r} (GRAPHQL_TRUSTED_DOCUMENTS).",
        "PERSISTED_QUERY_NOT_IN_LIST",
        status=404,
    )


def _not_trusted() -> PersistedQueryError:
    return PersistedQueryError(
        "Only trusted documents run here (GRAPHQL_TRUSTED_DOCUMENTS_ONLY): this document is not "
        "in the manifest; send the `documentId` or `extensions.persistedQuery.sha256Hash` of "
        "one that is.",
        "QUERY_NOT_IN_SAFELIST",
        status=403,
    )


def _bad_request(message: str) -> PersistedQueryError:
    return PersistedQueryError(message, "BAD_REQUEST")


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Resolution:
    query: str
    """The document to run."""
    register: str | None = None
    """The hash to store the document under once it has validated (a new APQ document)."""


@dataclass
class PersistedOperations:
    store: DocumentStore | None
    """Automatic persisted queries' store; None when they are off (GRAPHQL_APQ=false)."""
    manifest: Manifest = field(default_factory=Manifest)
    trusted_only: bool = False
    _local: OrderedDict[str, str] = field(default_factory=OrderedDict, repr=False)

    async def resolve(
        self, *, query: str | None, extensions: Mapping[str, Any] | None, document_id: object
    ) -> Resolution | None:
        """The document to run, or None when the request names none (the caller says so)."""
        if document_id is not None:
            return self._by_document_id(query, document_id)
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is not None:
            return await self._by_hash(query, _hash_of(persisted))
        if query is None:
            return None
        if self.trusted_only and not self.manifest.allows(query):
            raise _not_trusted()
        return Resolution(query)

    def _by_document_id(self, query: str | None, document_id: object) -> Resolution:
        if not isinstance(document_id, str) or not 0 < len(document_id) <= MAX_ID_CHARS:
            raise _bad_request("`documentId` must be a trusted document's id (a string).")
        if query is not None:
            raise _bad_request("Send `documentId` or `query`, not both.")
        text = self.manifest.document(document_id)
        if text is None:
            raise _not_in_list(document_id)
        return Resolution(text)

    async def _by_hash(self, query: str | None, sha: str) -> Resolution:
        if self.store is None and not len(self.manifest):
            raise not_supported()
        trusted = self.manifest.document(sha)
        if query is None:
            if trusted is not None:
                return Resolution(trusted)
            if self.trusted_only:
                raise _not_in_list(sha)
            if self.store is None:
                raise not_supported()
            found = await self._lookup(sha)
            if found is None:
                raise not_found()
            return Resolution(found)
        if trusted == query or (self.trusted_only and self.manifest.allows(query)):
            return Resolution(query)
        if self.trusted_only:
            raise _not_trusted()
        if self.store is None:
            raise not_supported()
        if not SHA256_HEX.fullmatch(sha) or sha256_hex(query) != sha:
            raise _bad_request(
                "provided sha does not match query: `extensions.persistedQuery.sha256Hash` "
                "must be the lowercase hex SHA-256 of the UTF-8 `query`."
            )
        small = len(query.encode("utf-8")) <= MAX_STORED_BYTES
        return Resolution(query, register=sha if small and sha not in self._local else None)

    async def _lookup(self, sha: str) -> str | None:
        found = self._local.get(sha)
        if found is not None:
            self._local.move_to_end(sha)
            return found
        if not SHA256_HEX.fullmatch(sha):
            return None
        assert self.store is not None
        try:
            found = await self.store.get(sha)
        except Exception:  # any failure of the store's database or Redis
            # A store that is down is a miss: clients resend the document, which still runs.
            log.warning("the persisted-query store failed a lookup", exc_info=True)
            return None
        if found is not None:
            self._keep(sha, found)
        return found

    async def register(self, sha: str, document: str) -> None:
        """Store a document that validated (the caller checked its hash in `resolve`)."""
        assert self.store is not None
        await self.store.put(sha, document)
        self._keep(sha, document)

    def _keep(self, sha: str, document: str) -> None:
        self._local[sha] = document
        self._local.move_to_end(sha)
        while len(self._local) > LOCAL_CACHE_ENTRIES:
            self._local.popitem(last=False)

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()


def _hash_of(persisted: object) -> str:
    if (
        not isinstance(persisted, dict)
        or persisted.get("version") != 1
        or not isinstance(persisted.get("sha256Hash"), str)
        or not 0 < len(persisted["sha256Hash"]) <= MAX_ID_CHARS
    ):
        raise _bad_request(
            '`extensions.persistedQuery` must be {"version": 1, "sha256Hash": "<hash>"}.'
        )
    sha: str = persisted["sha256Hash"]
    return sha


def build(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> PersistedOperations:
    """The process's persisted operations from the settings (raises ManifestError)."""
    store: DocumentStore | None = None
    if settings.graphql_apq:
        limit = settings.graphql_apq_max_entries
        url = settings.graphql_apq_redis_url
        store = RedisStore(url, limit) if url else DatabaseStore(sessions, limit)
    path = settings.graphql_trusted_documents
    return PersistedOperations(
        store=store,
        manifest=load(path) if path else Manifest(),
        trusted_only=settings.graphql_trusted_documents_only,
    )
