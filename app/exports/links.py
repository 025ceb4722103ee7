"""Canonical absolute links for exports, users and files, shared by REST and GraphQL."""

from __future__ import annotations

from dataclasses import dataclass

from app.exports.signing import signed_path, stable_window
from app.models import DataExport, ExportFile, User

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
"""Where links point when nothing better is known (emails sent by a standalone worker)."""


def base_url(configured: str | None, scheme: str | None = None, netloc: str | None = None) -> str:
    """PUBLIC_BASE_URL when set; else the origin the request came to (a WebSocket's scheme
    mapped to HTTP's); else the default. The one place links get their origin."""
    if configured:
        return configured
    if scheme and netloc:
        return f"{ {'ws': 'http', 'wss': 'https'}.get(scheme, scheme) }://{netloc}"
    return DEFAULT_BASE_URL


@dataclass(frozen=True)
class Linker:
    """Builds absolute hrefs from one base URL (PUBLIC_BASE_URL or the request's origin)."""

    base_url: str
    signing_secret: str
    signed_link_ttl_seconds: int

    def export(self, export_id: str) -> str:
        return f"{self.base_url}/data-exports/{export_id}"

    def user(self, user_id: str) -> str:
        return f"{self.base_url}/users/{user_id}"

    def download(self, file_id: str) -> str:
        return f"{self.base_url}/files/{file_id}/download"

    def signed(self, file_id: str, ttl_seconds: int | None = None, *, stable: bool = True) -> str:
        """Stable (the default, for API answers that clients cache): the expiry snaps to a
        window of a quarter of the TTL, see `signing.stable_window`; otherwise exactly TTL."""
        ttl = self.signed_link_ttl_seconds if ttl_seconds is None else ttl_seconds
        window = stable_window(ttl) if stable else 1
        return self.base_url + signed_path(self.signing_secret, file_id, ttl, window=window)

    def export_links(self, export: DataExport) -> list[tuple[str, str]]:
        links = [("self", self.export(export.id)), ("user", self.user(export.user_id))]
        if export.file_id:
            links.append(("download", self.download(export.file_id)))
            links.append(("signedLink", self.signed(export.file_id)))
        return links

    def user_links(self, user: User) -> list[tuple[str, str]]:
        return [("self", self.user(user.id))]

    def file_links(self, file: ExportFile) -> list[tuple[str, str]]:
        return [("download", self.download(file.id)), ("signedLink", self.signed(file.id))]
