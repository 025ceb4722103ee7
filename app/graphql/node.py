"""Relay's Node interface. A node's `id` is the id the object already has (the one REST uses
and every argument takes): changing what `id` holds would silently break existing clients,
their caches and their REST links. Ids are unique across types in an organization: the service
gives each type's ids their own prefix (`exp_`, `usr_`, `file_`, `whk_`); see
app/graphql/nodes.py for the one case a client can make ambiguous."""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="An object refetchable by its id alone with `node(id:)` / `nodes(ids:)` "
    "(Relay's Object Identification). The id is the object's own id, as REST uses it."
)
class Node:
    id: strawberry.ID = strawberry.field(description="Unique across types in the organization.")
