"""The exportable resources: their fields, default fields, date fields and text-search fields.

This is API metadata (GraphQL exposes it too) and the single map from API names to columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from app import models
from app.exports.currencies import CURRENCY_CODES
from app.exports.fields import Allowed, Field, Kind, api_path
from app.exports.formats.base import FORMATS
from app.exports.query import QueryField
from app.exports.status import Status

S, N, M, B, D = Kind.STRING, Kind.INTEGER, Kind.MONEY, Kind.BOOLEAN, Kind.DATETIME


@dataclass(frozen=True)
class Resource:
    name: str
    singular: str
    model: type[models.Base]
    fields: tuple[Field, ...]
    default_fields: tuple[str, ...]
    default_date_field: str
    text_fields: tuple[str, ...]

    def field(self, path: str) -> Field | None:
        """The field named `path`, spelled `a/b` or `a.b`."""
        return self._by_path().get(api_path(path))

    def _by_path(self) -> dict[str, Field]:
        return {f.path: f for f in self.fields}

    @property
    def date_fields(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.fields if f.kind is Kind.DATETIME)


def _f(path: str, kind: Kind, column: str, description: str) -> Field:
    return Field(path=path, kind=kind, column=column, description=description)


def _enum(path: str, column: str, what: str, values: tuple[str, ...]) -> Field:
    """An enumerated text field; its description lists the values it may hold."""
    description = f"{what}: {', '.join(values)}."
    return Field(path, S, column, description, Allowed(values))


def _currency(path: str, column: str, what: str = "ISO 4217 currency code.") -> Field:
    return Field(path, S, column, what, Allowed(CURRENCY_CODES, "an ISO 4217 currency code"))


# Allowed values: the spec's lists, what the demo data holds, and the rest of Rebilly's own API
# enumerations for the same fields (so values a Rebilly caller already uses are never a 422).
# `paymentInstrument/method` stays open: Rebilly's method list is long and grows.
TRANSACTION_TYPES: tuple[str, ...] = (
    "sale",
    "authorize",
    "capture",
    "refund",
    "void",
    "credit",
    "setup",
    "3ds-authentication",
)
TRANSACTION_STATUSES: tuple[str, ...] = (
    "completed",
    "pending",
    "voided",
    "refunded",
    "partially-refunded",
    "abandoned",
    "canceled",
    "disputed",
    "conn-error",
    "never-sent",
    "offsite",
    "sending",
    "timeout",
    "waiting-approval",
    "waiting-capture",
    "waiting-gateway",
    "waiting-refund",
)
TRANSACTION_RESULTS: tuple[str, ...] = ("approved", "declined", "abandoned", "canceled", "unknown")
SUBSCRIPTION_STATUSES: tuple[str, ...] = (
    "pending",
    "active",
    "paused",
    "canceled",
    "churned",
    "abandoned",
    "voided",
    "completed",
    "trial-ended",
)
INVOICE_STATUSES: tuple[str, ...] = (
    "draft",
    "quotation",
    "unpaid",
    "paid",
    "partially-paid",
    "past-due",
    "voided",
    "abandoned",
    "partially-refunded",
    "refunded",
    "disputed",
)
INVOICE_ITEM_TYPES: tuple[str, ...] = ("debit", "credit")


TRANSACTIONS = Resource(
    name="transactions",
    singular="transaction",
    model=models.Transaction,
    fields=(
        _f("id", S, "id", "Transaction identifier."),
        _f("customerId", S, "customer_id", "Customer the transaction belongs to."),
        _f("invoiceId", S, "invoice_id", "Invoice paid by the transaction, if any."),
        _enum("type", "type", "Transaction type", TRANSACTION_TYPES),
        _enum("status", "status", "Transaction status", TRANSACTION_STATUSES),
        _enum("result", "result", "Gateway result", TRANSACTION_RESULTS),
        _f("amount", M, "amount", "Amount, two decimals."),
        _currency("currency", "currency"),
        _f("gatewayName", S, "gateway_name", "Payment gateway that processed it."),
        _f("paymentInstrument/method", S, "payment_method", "payment-card, ach, paypal, ..."),
        _f("billingAddress/firstName", S, "billing_first_name", "Billing first name."),
        _f("billingAddress/lastName", S, "billing_last_name", "Billing last name."),
        _f("billingAddress/country", S, "billing_country", "Billing country (ISO 3166-1)."),
        _f("description", S, "description", "Free-text description."),
        _f("processedTime", D, "processed_time", "When the gateway processed it."),
        _f("createdTime", D, "created_time", "When it was created."),
        _f("updatedTime", D, "updated_time", "When it last changed."),
    ),
    default_fields=(
        "id",
        "customerId",
        "type",
        "status",
        "result",
        "amount",
        "currency",
        "gatewayName",
        "processedTime",
        "createdTime",
    ),
    default_date_field="processedTime",
    text_fields=(
        "description",
        "gatewayName",
        "billingAddress/firstName",
        "billingAddress/lastName",
    ),
)

CUSTOMERS = Resource(
    name="customers",
    singular="customer",
    model=models.Customer,
    fields=(
        _f("id", S, "id", "Customer identifier."),
        _f("email", S, "email", "Email address."),
        _f("firstName", S, "first_name", "First name."),
        _f("lastName", S, "last_name", "Last name."),
        _f("primaryAddress/country", S, "primary_country", "Country of the primary address."),
        _f("primaryAddress/city", S, "primary_city", "City of the primary address."),
        _f("lifetimeRevenue/amount", M, "lifetime_revenue_amount", "Revenue to date."),
        _currency("lifetimeRevenue/currency", "lifetime_revenue_currency", "Revenue currency."),
        _f("isEddRequired", B, "is_edd_required", "Enhanced due diligence required."),
        _f("createdTime", D, "created_time", "When it was created."),
        _f("updatedTime", D, "updated_time", "When it last changed."),
    ),
    default_fields=("id", "email", "firstName", "lastName", "createdTime"),
    default_date_field="createdTime",
    text_fields=("email", "firstName", "lastName"),
)

SUBSCRIPTIONS = Resource(
    name="subscriptions",
    singular="subscription",
    model=models.Subscription,
    fields=(
        _f("id", S, "id", "Subscription identifier."),
        _f("customerId", S, "customer_id", "Subscribed customer."),
        _f("planId", S, "plan_id", "Plan subscribed to."),
        _enum("status", "status", "Subscription status", SUBSCRIPTION_STATUSES),
        _f("quantity", N, "quantity", "Number of plan units."),
        _f("billingAddress/country", S, "billing_country", "Billing country (ISO 3166-1)."),
        _f("renewalTime", D, "renewal_time", "Next renewal."),
        _f("canceledTime", D, "canceled_time", "When it was canceled."),
        _f("createdTime", D, "created_time", "When it was created."),
        _f("updatedTime", D, "updated_time", "When it last changed."),
    ),
    default_fields=("id", "customerId", "planId", "status", "quantity", "renewalTime"),
    default_date_field="createdTime",
    text_fields=("planId",),
)

INVOICES = Resource(
    name="invoices",
    singular="invoice",
    model=models.Invoice,
    fields=(
        _f("id", S, "id", "Invoice identifier."),
        _f("customerId", S, "customer_id", "Invoiced customer."),
        _f("subscriptionId", S, "subscription_id", "Subscription invoiced, if any."),
        _f("invoiceNumber", S, "invoice_number", "Human-facing invoice number."),
        _enum("status", "status", "Invoice status", INVOICE_STATUSES),
        _currency("currency", "currency"),
        _f("subtotalAmount", M, "subtotal_amount", "Amount before tax."),
        _f("taxAmount", M, "tax_amount", "Tax."),
        _f("amount", M, "amount", "Total amount."),
        _f("amountDue", M, "amount_due", "Amount still due."),
        _f("issuedTime", D, "issued_time", "When it was issued."),
        _f("dueTime", D, "due_time", "When payment is due."),
        _f("paidTime", D, "paid_time", "When it was paid."),
        _f("createdTime", D, "created_time", "When it was created."),
        _f("updatedTime", D, "updated_time", "When it last changed."),
    ),
    default_fields=(
        "id",
        "invoiceNumber",
        "customerId",
        "status",
        "currency",
        "amount",
        "amountDue",
        "issuedTime",
        "dueTime",
    ),
    default_date_field="issuedTime",
    text_fields=("invoiceNumber",),
)

INVOICE_ITEMS = Resource(
    name="invoiceItems",
    singular="invoiceItem",
    model=models.InvoiceItem,
    fields=(
        _f("id", S, "id", "Invoice item identifier."),
        _f("invoiceId", S, "invoice_id", "Invoice it belongs to."),
        _enum("type", "type", "Line type", INVOICE_ITEM_TYPES),
        _f("description", S, "description", "Line description."),
        _f("quantity", N, "quantity", "Units."),
        _f("unitPrice", M, "unit_price", "Price per unit."),
        _f("amount", M, "amount", "Line total."),
        _currency("currency", "currency"),
        _f("productId", S, "product_id", "Product sold, if any."),
        _f("issuedTime", D, "issued_time", "When its invoice was issued."),
        _f("createdTime", D, "created_time", "When it was created."),
    ),
    default_fields=("id", "invoiceId", "type", "description", "quantity", "amount", "currency"),
    default_date_field="issuedTime",
    text_fields=("description",),
)

RESOURCES: dict[str, Resource] = {
    r.name: r for r in (TRANSACTIONS, CUSTOMERS, SUBSCRIPTIONS, INVOICES, INVOICE_ITEMS)
}

# The data-export collection's own filterable and sortable fields (spec §4).
EXPORT_QUERY_FIELDS: tuple[Field, ...] = (
    _f("id", S, "id", ""),
    _f("name", S, "name", ""),
    Field("resource", S, "resource", "", Allowed(tuple(RESOURCES))),
    Field("format", S, "format", "", Allowed(FORMATS)),
    Field("status", S, "status", "", Allowed(tuple(s.value for s in Status))),
    _f("userId", S, "user_id", ""),
    _f("createdTime", D, "created_time", ""),
    _f("updatedTime", D, "updated_time", ""),
    _f("scheduledTime", D, "scheduled_time", ""),
)


def query_fields(resource: Resource) -> dict[str, QueryField]:
    """The filter/sort vocabulary of a resource, bound to its table's columns."""
    cached = _QUERY_FIELDS.get(resource.name)
    if cached is None:
        cached = _bind(resource.model, resource.fields)
        _QUERY_FIELDS[resource.name] = cached
    return cached


def export_query_fields() -> dict[str, QueryField]:
    """The data-export collection's own filter/sort vocabulary."""
    cached = _QUERY_FIELDS.get("")
    if cached is None:
        cached = _bind(models.DataExport, EXPORT_QUERY_FIELDS)
        _QUERY_FIELDS[""] = cached
    return cached


def _bind(model: type[models.Base], fields: tuple[Field, ...]) -> dict[str, QueryField]:
    return {
        f.dotted: QueryField(
            name=f.dotted, kind=f.kind, column=getattr(model, f.column), allowed=f.allowed
        )
        for f in fields
    }


_QUERY_FIELDS: dict[str, dict[str, QueryField]] = {}
