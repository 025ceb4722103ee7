"""A typed exports-gateway client in Python with `gql`: create an export, follow it to
completion, download its file.

    EXPORTS_GATEWAY_API_KEY=... python examples/python/export_client.py \\
        --url http://127.0.0.1:8000 --out export.csv

`gql` checks every document against the service's committed schema (../../schema.graphql)
before sending it, so a typo in a field is caught here, not by the server. Prints one JSON line
describing what it did; exits 1 on failure, 2 on bad usage. Needs `pip install "gql[httpx]"`
(the project's test extras include it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.httpx import HTTPXAsyncTransport

SCHEMA = Path(__file__).resolve().parents[2] / "schema.graphql"
POLL_SECONDS = 0.2
TIMEOUT_SECONDS = 60.0

CREATE_EXPORT = """
mutation CreateExport($input: CreateDataExportInput!) {
  createDataExport(input: $input) {
    __typename
    ... on DataExport { id status }
    ... on Error { code message }
  }
}
"""

FOLLOW_EXPORT = """
query FollowExport($id: ID!) {
  dataExport(id: $id) {
    id
    status
    recordCount
    file { name size sha256 contentType downloadUrl(ttlSeconds: 600) }
  }
}
"""


async def create_and_download(
    url: str, api_key: str, schema: str, fmt: str
) -> tuple[dict[str, Any], bytes]:
    """The completed export's summary and its file's bytes."""
    transport = HTTPXAsyncTransport(url=f"{url}/graphql", headers={"REB-APIKEY": api_key})
    client = Client(transport=transport, schema=schema)
    async with client as session:
        variables = {"input": {"name": "Python example", "resource": "CUSTOMERS", "format": fmt}}
        created = (await session.execute(GraphQLRequest(CREATE_EXPORT, variable_values=variables)))[
            "createDataExport"
        ]
        if created["__typename"] != "DataExport":
            raise RuntimeError(f"createDataExport: {created}")
        statuses = [created["status"]]
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            request = GraphQLRequest(FOLLOW_EXPORT, variable_values={"id": created["id"]})
            export = (await session.execute(request))["dataExport"]
            if export is None:
                raise RuntimeError(f"export {created['id']} disappeared")
            if export["status"] != statuses[-1]:
                statuses.append(export["status"])
            if export["status"] == "COMPLETED" and export["file"]:
                break
            if export["status"] == "FAILED":
                raise RuntimeError(f"export {created['id']} failed")
            if time.monotonic() > deadline:
                raise RuntimeError(f"export {created['id']} still {export['status']}")
            await asyncio.sleep(POLL_SECONDS)
    file = export["file"]
    async with httpx.AsyncClient(timeout=30) as http:  # a signed link: no credentials
        response = await http.get(file["downloadUrl"])
        response.raise_for_status()
    summary = {
        "id": export["id"],
        "statuses": statuses,
        "recordCount": export["recordCount"],
        "file": file["name"],
        "contentType": file["contentType"],
        "bytes": len(response.content),
        "sha256Matches": hashlib.sha256(response.content).hexdigest() == file["sha256"]
        and len(response.content) == file["size"],
    }
    return summary, response.content


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8000")
    parser.add_argument("--out", required=True, type=Path, help="where to write the file")
    parser.add_argument("--format", default="CSV", help="CSV, JSON, JSON_API, XML or PDF")
    args = parser.parse_args()
    api_key = os.environ.get("EXPORTS_GATEWAY_API_KEY")
    if not api_key:
        parser.error("set EXPORTS_GATEWAY_API_KEY")
    try:
        schema = SCHEMA.read_text(encoding="utf-8")
        summary, content = asyncio.run(create_and_download(args.url, api_key, schema, args.format))
        args.out.write_bytes(content)
    except Exception as exc:  # a one-line failure for the caller, not a traceback
        print(f"example failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({**summary, "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
