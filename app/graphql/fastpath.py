"""GraphQL's fast path for the hot reads (issue 8): `dataExport(id)` and `dataExports(...)` with
their plain fields and `user`, completed without graphql-core's per-field machinery.

graphql-core resolves a page of 100 exports as ~3,000 fields, each through a resolver call, an
awaitable check, a path and a completion step. Here a document is served by the fast path only
once the standard executor has answered it without any error (so it parsed, validated and
passed every limit), and then as graphql-core would: fields are collected by graphql-core's own
`collect_fields` / `collect_subfields` (merging, aliases, fragments, `@skip` / `@include` with
the request's variables, coerced by graphql-core), arguments coerced by `get_argument_values`,
leaves serialized by the schema's own scalar and enum types, and each field's value read as
Strawberry reads it: the attribute of a plain field, the call of a synchronous resolver with no
arguments, and `DataExport.user` from the row the core loaded with the export in one statement
(the `user` expansion). The root fields call the same use cases as their resolvers.

Anything else (another root field, a field with arguments or an asynchronous resolver, an
abstract type, `@defer`, a mutation) and anything unusual at run time (a variable its type
refuses, a bad argument, missing credentials, a non-null field without a value) is not answered
here: the operation goes to the standard executor, which answers it, errors included, exactly
as it would have. Reads have no side effects, so trying the fast path first costs nothing but
time, and a document found unsupported is not tried again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from keyword import iskeyword
from operator import attrgetter
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    is_leaf_type,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Undefined
from starlette.requests import Request
from strawberry.types import ExecutionResult

from app.errors import NotFound
from app.exports import usecases
from app.exports.usecases import ListQuery
from app.graphql.context import Context
from app.graphql.ids import check_id
from app.graphql.metrics import record_operation
from app.graphql.types import DataExport, DataExportPage, User

DEFINITION = "strawberry-definition"
"""Where Strawberry keeps a GraphQL field's own definition (GraphQLCoreConverter's backref)."""
MAX_DOCUMENTS = 512

Grouped = dict[str, list[FieldDetails]]
Getter = Callable[[Any, "Run"], Any]


class Unsupported(Exception):
    """The fast path does not answer this document (or this request): the standard one does."""


@dataclass
class FastInfo:
    """What the synchronous resolvers served here read of Strawberry's `Info`: the context.
    Anything else they read is an AttributeError, and the standard path answers."""

    context: Context


Complete = Callable[[Any, "Run"], Any]
"""A value to its answer, compiled once for a type and its field nodes."""


@dataclass
class Shapes:
    """Collected fields and compiled completers by type and field nodes. Per operation when
    `@skip` / `@include` make them depend on the variables; else kept with the document."""

    collected: dict[tuple[str, tuple[int, ...]], Grouped] = field(default_factory=dict)
    completers: dict[tuple[str, tuple[int, ...]], Complete] = field(default_factory=dict)
    root: Grouped | None = None
    wants_user: dict[str, bool] = field(default_factory=dict)
    """Whether each root field (by response key) selects the exports' `user`."""


@dataclass
class Run:
    """One operation on the fast path."""

    path: FastPath
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDetails]
    variables: VariableValues
    context: Context
    info: FastInfo
    shapes: Shapes
    users: Mapping[str, Any] = field(default_factory=dict)

    def subfields(self, parent: GraphQLObjectType, details: list[FieldDetails]) -> Grouped:
        """graphql-core's collection, once per type and field nodes (a page's items share)."""
        key = (parent.name, tuple(id(d.node) for d in details))
        found = self.shapes.collected.get(key)
        if found is None:
            collected = collect_subfields(
                self.path.schema, self.fragments, self.variables, self.operation, parent, details
            )
            if collected.new_defer_usages or collected.forbidden_directive_instances:
                raise Unsupported("@defer")
            found = self.shapes.collected[key] = collected.grouped_field_set
        return found

    def completer(self, kind: GraphQLOutputType, details: list[FieldDetails]) -> Complete:
        """graphql-core's completion for this type, compiled: non-null, list, leaf (the
        schema's own serialize), object (its collected fields, each read and completed)."""
        if isinstance(kind, GraphQLNonNull):
            if is_leaf_type(kind.of_type):
                return _leaf(kind.of_type, required=True)
            inner = self.completer(kind.of_type, details)

            def non_null(value: Any, run: Run) -> Any:
                completed = inner(value, run)
                if completed is None:
                    raise Unsupported("null in a non-null field: an error for the standard path")
                return completed

            return non_null
        if isinstance(kind, GraphQLList):
            item = self.completer(kind.of_type, details)
            same = _identity_type(kind.of_type)
            if same is not None:  # a list of strings: each its own answer, without a call

                def identities(value: Any, run: Run) -> Any:
                    if value is None:
                        return None
                    return [v if type(v) is same else item(v, run) for v in value]

                return identities
            return lambda value, run: None if value is None else [item(v, run) for v in value]
        if is_leaf_type(kind):
            return _leaf(kind)
        if isinstance(kind, GraphQLObjectType):
            return self.object_completer(kind, details)
        raise Unsupported(f"abstract type {kind}")

    def object_completer(self, kind: GraphQLObjectType, details: list[FieldDetails]) -> Complete:
        """The object's completer, compiled (`_compile_object`) once per type and field nodes.
        While it compiles, a type that contains itself finds a stand-in that looks the
        compiled one up when called."""
        key = (kind.name, tuple(id(d.node) for d in details))
        completers = self.shapes.completers
        found = completers.get(key)
        if found is not None:
            return found

        def stand_in(value: Any, run: Run) -> Any:
            return completers[key](value, run)

        completers[key] = stand_in
        try:
            steps = self.object_plan(kind, details)
            compiled = _compile_object(kind.name, self.path.classes.get(kind.name), steps)
        except BaseException:
            del completers[key]
            raise
        completers[key] = compiled
        return compiled

    def object_plan(self, kind: GraphQLObjectType, details: list[FieldDetails]) -> list[Step]:
        plan: list[Step] = []
        for key, field_details in self.subfields(kind, details).items():
            name = field_details[0].node.name.value
            if name == "__typename":
                plan.append(Step(key, None, None, None))
                continue
            definition = kind.fields[name]
            reader = self.path.getter(kind, name, definition)
            kind_of_field = definition.type
            required = isinstance(kind_of_field, GraphQLNonNull)
            inner = kind_of_field.of_type if required else kind_of_field
            if is_leaf_type(inner):
                finish = _leaf(inner, required=required)
                plan.append(Step(key, reader, finish, _inline_leaf(inner, required)))
            else:
                finish = self.completer(inner, field_details)
                plan.append(Step(key, reader, finish, None, required=required))
        return plan


@dataclass(frozen=True)
class Reader:
    """How a field's value is read: an attribute of the value (`attribute`), else `read`
    called with the value, and `second` too: "run" or "run.info" (Strawberry's Info: what
    the resolvers served here read of it is in FastInfo)."""

    read: Callable[..., Any]
    second: str | None
    attribute: str | None = None


@dataclass(frozen=True)
class Step:
    """A field of an object's plan: its response key, its reader (None: `__typename`), how its
    value completes, and, for a leaf, the Python test (over `v`) of the values that are their
    own answer without a call (`finish` answers the rest, null included)."""

    key: str
    reader: Reader | None
    finish: Complete | None
    inline: str | None
    required: bool = False


def _inline_leaf(kind: Any, required: bool) -> str | None:
    """The test, over `v`, of the leaf values that serialize to themselves (as `_leaf`'s own
    short cuts): a str for String and ID, a bool for Boolean, an int in range for Int; a
    nullable leaf's null too."""
    if kind is GraphQLString or kind is GraphQLID:
        test = "type(v) is str"
    elif kind is GraphQLBoolean:
        test = "type(v) is bool"
    elif kind is GraphQLInt:
        test = f"(type(v) is int and {INT_RANGE.start} <= v < {INT_RANGE.stop})"
    else:
        return None
    return test if required else f"{test} or v is None"


def _compile_object(typename: str, expected: type | None, steps: list[Step]) -> Complete:
    """graphql-core's completion of an object for these fields, as one Python function: each
    field read as an attribute (or by its resolver), leaves that are their own answer tested
    inline, the answer one dict display in the fields' order. A page of 100 exports completes
    ~1,000 objects; looping over a plan per object was a third of a GraphQL page (issue 8).

    The source is made here from names only: response keys enter as string literals (repr),
    attributes only when they are identifiers, every other value as a name bound in the
    function's namespace; nothing from a request is ever evaluated."""
    if expected is None:
        return _refusing(f"no class for {typename}")
    namespace: dict[str, Any] = {
        "Unsupported": Unsupported,
        "expected": expected,
        "typename": typename,
    }
    lines = [
        "def complete(value, run):",
        "    if value is None:",
        "        return None",
        "    if type(value) is not expected and not isinstance(value, expected):",
        f"        raise Unsupported({typename!r})",
    ]
    members: list[str] = []
    for i, step in enumerate(steps):
        if step.reader is None or step.finish is None:
            members.append(f"{step.key!r}: typename")
            continue
        reader = step.reader
        attribute = reader.attribute
        if attribute is not None and attribute.isidentifier() and not iskeyword(attribute):
            read = f"value.{attribute}"
        else:
            namespace[f"read{i}"] = reader.read
            second = f", {reader.second}" if reader.second else ""
            read = f"read{i}(value{second})"
        namespace[f"finish{i}"] = step.finish
        lines.append(f"    v = {read}")
        if step.inline is not None:
            lines.append(f"    a{i} = v if {step.inline} else finish{i}(v, run)")
        else:
            lines.append(f"    a{i} = finish{i}(v, run)")
            if step.required:
                lines.append(f"    if a{i} is None:")
                lines.append("        raise Unsupported('null in a non-null field')")
        members.append(f"{step.key!r}: a{i}")
    lines.append("    return {" + ", ".join(members) + "}")
    exec(compile("\n".join(lines), f"<fast path: {typename}>", "exec"), namespace)  # noqa: S102
    complete: Complete = namespace["complete"]
    return complete


def _identity_type(kind: GraphQLOutputType) -> type | None:
    """str for String and ID, bool for Boolean (nullable or not): values of exactly that type
    serialize to themselves (as _leaf's `same`)."""
    leaf = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
    if leaf is GraphQLString or leaf is GraphQLID:
        return str
    if leaf is GraphQLBoolean:
        return bool
    return None


WRAPPED = "wrapped_cls"
"""Where Strawberry's enum types keep their Python enum class."""
INT_RANGE = range(-(2**31), 2**31)
"""GraphQL's Int (graphql-core's serialize_int refuses the rest)."""


def _leaf(kind: Any, *, required: bool = False) -> Complete:
    """The schema's serialize for a leaf type, with graphql-core's built-in scalars' identity
    cases short-circuited (a str for String and ID, a bool for Boolean, an int in range for Int
    serialize to themselves); anything else goes through serialize itself. `required`: the
    leaf of a non-null type, null is an error (the standard path's to answer)."""
    serialize = kind.serialize
    same: type | None = None
    if kind is GraphQLString or kind is GraphQLID:
        same = str
    elif kind is GraphQLBoolean:
        same = bool
    members: type | None = None
    if isinstance(kind, GraphQLEnumType) and isinstance(getattr(kind, WRAPPED, None), type):
        members = getattr(kind, WRAPPED)
    names: dict[Any, Any] = {}
    """A Strawberry enum's serialize by member (it scans the enum's values for each one)."""

    def leaf(value: Any, _run: Run) -> Any:
        if value is None:
            if required:
                raise Unsupported("null in a non-null field: an error for the standard path")
            return None
        if type(value) is same:
            return value
        if type(value) is members:
            name = names.get(value)
            if name is None:
                name = serialize(value)
                if name is None or name is Undefined:
                    raise Unsupported("a leaf without a value")
                names[value] = name
            return name
        if kind is GraphQLInt and type(value) is int and value in INT_RANGE:
            return value
        serialized = serialize(value)
        if serialized is None or serialized is Undefined:
            raise Unsupported("a leaf without a value")
        return serialized

    return leaf


@dataclass
class FastPath:
    """The plan cache: which documents the standard path answered cleanly (and may be served
    here), which were found unsupported; and how each field of each type is read."""

    schema: GraphQLSchema
    classes: dict[str, type[Any]]
    """Strawberry class by GraphQL type name (a value of another class is not served here)."""
    answered: dict[tuple[str, str | None], bool] = field(default_factory=dict)
    """(document, operation name) → True once answered cleanly, False once unsupported."""
    getters: dict[tuple[str, str], Reader] = field(default_factory=dict)
    shapes: dict[tuple[str, str | None], tuple[Any, Shapes]] = field(default_factory=dict)
    """Shapes of documents without `@skip` / `@include`, with the document they belong to
    (field nodes are known by identity)."""
    hits: int = 0
    """Operations answered here (tests check that the fast path was taken)."""

    def learn(self, query: str, operation_name: str | None, result: ExecutionResult) -> None:
        """The standard path answered: without errors, the document may take the fast path."""
        key = (query, operation_name)
        if key in self.answered or result.errors or result.data is None:
            return
        if len(self.answered) >= MAX_DOCUMENTS:
            self.answered.clear()
        self.answered[key] = True

    async def execute(
        self,
        document: Any,
        query: str,
        operation_name: str | None,
        variable_values: dict[str, Any] | None,
        context: Context,
    ) -> ExecutionResult | None:
        """The answer, or None for the standard path."""
        key = (query, operation_name)
        if not self.answered.get(key) or not isinstance(context.request, Request):
            return None
        started = time.perf_counter()
        try:
            run = self._run(document, operation_name, variable_values or {}, context)
            run.shapes = self._shapes(key, query, document)
            data = await self._root(run)
        except Unsupported:
            self.answered[key] = False
            return None
        except Exception:  # an error to answer: the standard path words it
            return None
        self.hits += 1
        name = run.operation.name.value if run.operation.name else None
        record_operation(name, "query", time.perf_counter() - started, failed=False)
        return ExecutionResult(data=data, errors=None)

    def _run(
        self,
        document: Any,
        operation_name: str | None,
        variable_values: dict[str, Any],
        context: Context,
    ) -> Run:
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [
            o
            for o in operations
            if operation_name is None or (o.name is not None and o.name.value == operation_name)
        ]
        if len(chosen) != 1 or chosen[0].operation is not OperationType.QUERY:
            raise Unsupported("not one query")
        operation = chosen[0]
        fragments: dict[str, FragmentDetails] = {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                if definition.variable_definitions:
                    raise Unsupported("fragment variables")
                fragments[definition.name.value] = FragmentDetails(definition)
        variables = get_variable_values(
            self.schema, operation.variable_definitions or (), variable_values
        )
        if isinstance(variables, list):
            raise ValueError("variables its types refuse")  # the standard path answers them
        return Run(self, operation, fragments, variables, context, FastInfo(context), Shapes())

    def _shapes(self, key: tuple[str, str | None], query: str, document: Any) -> Shapes:
        if "@skip" in query or "@include" in query:  # the shapes depend on the variables
            return Shapes()
        kept = self.shapes.get(key)
        if kept is None or kept[0] is not document:
            if len(self.shapes) >= MAX_DOCUMENTS:
                self.shapes.clear()
            kept = self.shapes[key] = (document, Shapes())
        return kept[1]

    async def _root(self, run: Run) -> dict[str, Any]:
        query = self.schema.query_type
        assert query is not None
        root = run.shapes.root
        if root is None:
            collected = collect_fields(
                self.schema, run.fragments, run.variables, query, run.operation
            )
            if collected.new_defer_usages or collected.forbidden_directive_instances:
                raise Unsupported("@defer")
            root = run.shapes.root = collected.grouped_field_set
        data: dict[str, Any] = {}
        for key, details in root.items():
            node: FieldNode = details[0].node
            name = node.name.value
            if name == "__typename":
                data[key] = query.name
                continue
            if name not in ROOTS:
                raise Unsupported(f"root field {name}")
            definition = query.fields[name]
            arguments = get_argument_values(definition, node, run.variables)
            kind = definition.type
            object_type = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
            assert isinstance(object_type, GraphQLObjectType)
            with_user = run.shapes.wants_user.get(key)
            if with_user is None:
                with_user = self._wants_user(run, object_type, details)
                run.shapes.wants_user[key] = with_user
            value = await ROOTS[name](run, arguments, with_user)
            data[key] = run.completer(kind, details)(value, run)
        return data

    def _wants_user(
        self, run: Run, root_type: GraphQLObjectType, details: list[FieldDetails]
    ) -> bool:
        """Whether `user` is selected on the exports (so the core loads it with them)."""
        fields = run.subfields(root_type, details)
        if root_type.name == "DataExportPage":
            items = [d for group in fields.values() for d in group if d.node.name.value == "items"]
            if not items:
                return False
            fields = run.subfields(self.item_type(root_type), items)
        return any(group[0].node.name.value == "user" for group in fields.values())

    def item_type(self, page: GraphQLObjectType) -> GraphQLObjectType:
        kind: Any = page.fields["items"].type
        while isinstance(kind, GraphQLNonNull | GraphQLList):
            kind = kind.of_type
        assert isinstance(kind, GraphQLObjectType)
        return kind

    def getter(self, kind: GraphQLObjectType, name: str, definition: GraphQLField) -> Reader:
        """How to read the field."""
        key = (kind.name, name)
        found = self.getters.get(key)
        if found is None:
            found = self.getters[key] = _getter(kind.name, name, definition)
        return found


def _user_of(export: DataExport, run: Run) -> User | None:
    row = run.users.get(export.row.user_id)
    return User.of(row) if row is not None else None


SPECIAL: dict[tuple[str, str], Getter] = {("DataExport", "user"): _user_of}
"""Fields with asynchronous resolvers served from what the root loaded."""


def _getter(type_name: str, name: str, definition: GraphQLField) -> Reader:
    """How Strawberry reads this field's value, or a reader that sends the request to the
    standard path (fields with arguments, asynchronous resolvers, extensions, permissions)."""
    if (type_name, name) in SPECIAL:
        return Reader(SPECIAL[(type_name, name)], "run")
    own = (definition.extensions or {}).get(DEFINITION)
    unsupported = Reader(_refusing(f"{type_name}.{name}"), "run")
    if own is None or own.extensions or own.permission_classes or definition.args:
        return unsupported
    resolver = own.base_resolver
    if resolver is None:
        return Reader(attrgetter(own.python_name), None, attribute=own.python_name)
    if resolver.is_async or resolver.arguments or resolver.root_parameter is not None:
        return unsupported
    function = resolver.wrapped_func
    if resolver.self_parameter is None:
        return unsupported
    return Reader(function, "run.info" if resolver.info_parameter is not None else None)


def _refusing(what: str) -> Getter:
    def refuse(_value: Any, _run: Run) -> Any:
        raise Unsupported(what)

    return refuse


async def _data_export(run: Run, arguments: dict[str, Any], with_user: bool) -> DataExport | None:
    context = run.context
    principal = await context.require("read")
    export_id = check_id(str(arguments["id"]))
    expand = {"user"} if with_user else set()
    try:
        shown = await usecases.show_export(
            context.core, principal=principal, export_id=export_id, expand=expand
        )
    except NotFound:
        return None
    run.users = shown.loaded.get("user", {})
    return DataExport.of(shown.export)


async def _data_exports(run: Run, arguments: dict[str, Any], with_user: bool) -> DataExportPage:
    context = run.context
    principal = await context.require("read")
    query = ListQuery(
        filter=arguments.get("filter"),
        sort=arguments.get("sort"),
        q=arguments.get("q"),
        limit=arguments.get("limit"),
        offset=arguments.get("offset"),
    )
    expand = {"user"} if with_user else set()
    page = await usecases.list_exports(
        context.core, principal=principal, query=query, expand=expand
    )
    run.users = page.loaded.get("user", {})
    return DataExportPage(
        items=[DataExport.of(r) for r in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


ROOTS = {"dataExport": _data_export, "dataExports": _data_exports}


def fast_path_for(schema: Any) -> FastPath:
    """The fast path over a Strawberry schema: a graphql-core schema of the same type objects
    (for fragment conditions and variable coercion) and each type's Strawberry class."""
    type_map = schema.schema_converter.type_map
    implementations = {name: concrete.implementation for name, concrete in type_map.items()}
    core = GraphQLSchema(
        query=implementations["Query"],
        mutation=implementations.get("Mutation"),
        subscription=implementations.get("Subscription"),
        types=list(implementations.values()),
    )
    classes = {
        name: concrete.definition.origin
        for name, concrete in type_map.items()
        if isinstance(concrete.implementation, GraphQLObjectType)
    }
    return FastPath(schema=core, classes=classes)
