"""QuickBooks Online's report service for receivables: GET /v3/company/{realm}/reports/{name}, computed
from the sandbox's own invoices, credit memos and payments.

Shapes as Intuit documents them (ARAgingSummary and SalesByCustomer report entities; docs/qbo-api.md
§14): `Header` (ReportName, StartPeriod, EndPeriod, Currency, Time, Option [{Name, Value}] with
NoReportData, and each filter sent), `Columns.Column[{ColTitle, ColType, MetaData?}]`, `Rows.Row[...]`:
one row per customer (`ColData[{value, id}]`, `type` "Data"; an empty cell is "") and a `GrandTotal`
Section whose `Summary.ColData` starts with "TOTAL". Amounts are strings with two decimals.

- AgedReceivables: what customers owe as of `report_date` (default today in the company's zone), aged
  by days past due as of that date (`aging_method=Report_Date`, the default) or as of today
  (`aging_method=Current`), in Current, 1 - 30, 31 - 60, 61 - 90 and 91 and over. Invoices count their
  balance on report_date (TotalAmt less what payments dated on or before it apply) from their DueDate;
  credit memos (their credit not yet applied) and payments (their unapplied amount) count negative from
  their TxnDate, having no due date.
- CustomerSales: sales per customer between start_date and end_date (default: this fiscal year to date,
  the company's year starting in January), accrual basis: invoice line amounts (before tax; the
  company charges none) by TxnDate, less credit memo line amounts. `summarize_column_by` Total (default),
  Month or Days adds a column per period (MetaData StartDate, EndDate, ColKey), clipped to the range.
Choices where Intuit is silent (400 with a 2050 fault): an unknown report name, a date not YYYY-MM-DD,
start_date after end_date, accounting_method=Cash and other summarize_column_by values (not computed by
the sandbox). `aging_period` and `num_periods` (Intuit documents them for the detail report; QuickBooks'
screen offers them on the summary) set the buckets; other parameters are ignored.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from qb_pipeline.sandbox.company import PREFERENCES_ID
from qb_pipeline.sandbox.payments import ZERO, applications
from qb_pipeline.sandbox.store import COMPANY_TZ, Store, qbo_time
from qb_pipeline.sandbox.validation import Fault

CENT = Decimal("0.01")
SALES_PERIODS = ("Total", "Month", "Days")


def company_today() -> date:
    return datetime.now(timezone.utc).astimezone(COMPANY_TZ).date()


def report(store: Store, realm: str, name: str, params: dict, today: date | None = None) -> dict:
    """The report `name` (case as Intuit writes it, or any case) as QuickBooks answers it."""
    builders: dict[str, Callable[..., dict]] = {
        "agedreceivables": aged_receivables,
        "customersales": customer_sales,
    }
    builder = builders.get(name.lower())
    if builder is None:
        raise _refused(f"The sandbox serves the reports AgedReceivables and CustomerSales, not {name!r}")
    return builder(store, realm, params, today or company_today())


# -- AgedReceivables -----------------------------------------------------------------------------
def aged_receivables(store: Store, realm: str, params: dict, today: date) -> dict:
    report_date = _date_param(params, "report_date", today)
    method = params.get("aging_method", "Report_Date")
    if method.lower() not in ("report_date", "current"):
        raise _refused(f"aging_method must be Report_Date or Current, not {method!r}")
    aged_on = today if method.lower() == "current" else report_date
    period, periods = _positive_int(params, "aging_period", 30), _positive_int(params, "num_periods", 4)
    titles = ["Current"] + [f"{i * period + 1} - {(i + 1) * period}" for i in range(periods - 1)]
    titles.append(f"{(periods - 1) * period + 1} and over")
    customers = _customer_filter(params)
    cells: dict[str, list[Decimal | None]] = defaultdict(lambda: [None] * len(titles))
    for customer_id, due, amount in _open_items(store, realm, report_date):
        if customers is None or customer_id in customers:
            days = (aged_on - due).days
            bucket = 0 if days <= 0 else min((days - 1) // period + 1, periods)
            cells[customer_id][bucket] = (cells[customer_id][bucket] or ZERO) + amount
    header = _header(store, realm, "AgedReceivables", report_date, report_date, params, bool(cells))
    header["Option"].insert(0, {"Name": "report_date", "Value": report_date.isoformat()})
    columns = [{"ColTitle": "", "ColType": "Customer"}] + [
        {"ColTitle": title, "ColType": "Money"} for title in [*titles, "Total"]
    ]
    return {"Header": header, "Columns": {"Column": columns}, "Rows": _rows(store, realm, cells, params)}


def _open_items(store: Store, realm: str, report_date: date) -> list[tuple[str, date, Decimal]]:
    """(customer id, date aged from, amount) of everything open on `report_date`: invoices (+), credit
    memos' credit and payments' unapplied amounts (−)."""
    applied: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    items = []
    for payment in store.all(realm, "Payment"):
        if _day(payment.get("TxnDate")) <= report_date:
            for key, amount in applications(payment).items():
                applied[key] += amount
            if Decimal(str(payment.get("UnappliedAmt", 0))):
                items.append(_item(payment, payment.get("TxnDate"), -Decimal(str(payment["UnappliedAmt"]))))
    for kind, sign, due_field in (("Invoice", 1, "DueDate"), ("CreditMemo", -1, "TxnDate")):
        for record in store.all(realm, kind):
            if _day(record.get("TxnDate")) > report_date:
                continue
            still_open = Decimal(str(record.get("TotalAmt", 0))) - applied[(kind, str(record["Id"]))]
            if still_open:
                items.append(_item(record, record.get(due_field) or record.get("TxnDate"), sign * still_open))
    return items


def _item(record: dict, when: object, amount: Decimal) -> tuple[str, date, Decimal]:
    return str(record["CustomerRef"]["value"]), _day(when), amount


# -- CustomerSales -------------------------------------------------------------------------------
def customer_sales(store: Store, realm: str, params: dict, today: date) -> dict:
    start = _date_param(params, "start_date", date(today.year, 1, 1))
    end = _date_param(params, "end_date", today)
    if start > end:
        raise _refused(f"start_date {start} is after end_date {end}")
    basis = params.get("accounting_method", _preferences(store, realm, "ReportPrefs").get("ReportBasis", "Accrual"))
    if basis.lower() != "accrual":
        raise _refused(f"the sandbox computes CustomerSales on the Accrual basis only, not {basis!r}")
    summarize = params.get("summarize_column_by", "Total")
    if summarize not in SALES_PERIODS:
        raise _refused(f"summarize_column_by must be one of {', '.join(SALES_PERIODS)} here, not {summarize!r}")
    periods = _periods(start, end, summarize)
    customers, items = _customer_filter(params), _id_filter(params, "item")
    cells: dict[str, list[Decimal | None]] = defaultdict(lambda: [None] * max(len(periods), 1))
    for kind, sign in (("Invoice", 1), ("CreditMemo", -1)):
        for record in store.all(realm, kind):
            when, customer_id = _day(record.get("TxnDate")), str(record["CustomerRef"]["value"])
            if not start <= when <= end or (customers is not None and customer_id not in customers):
                continue
            column = next((i for i, (_, s, e) in enumerate(periods) if s <= when <= e), 0)
            cells[customer_id][column] = (cells[customer_id][column] or ZERO) + sign * _sales(record, items)
    header = _header(store, realm, "CustomerSales", start, end, params, bool(cells))
    header.update(ReportBasis="Accrual", SummarizeColumnsBy=summarize)
    columns = [{"ColTitle": "", "ColType": "Customer"}]
    columns += [
        {"ColTitle": title, "ColType": "Money", "MetaData": _column_meta(title, s, e)} for title, s, e in periods
    ]
    total_meta = {"MetaData": [{"Name": "ColKey", "Value": "total"}]} if periods else {}
    columns.append({"ColTitle": "Total", "ColType": "Money", **total_meta})
    rows = _rows(store, realm, cells, params, with_total=bool(periods))
    return {"Header": header, "Columns": {"Column": columns}, "Rows": rows}


def _sales(record: dict, items: set[str] | None) -> Decimal:
    """A transaction's sales: its item lines (not the subtotal), only `items` when filtered."""
    return sum(
        (
            Decimal(str(line.get("Amount", 0)))
            for line in record.get("Line") or []
            if line.get("DetailType") == "SalesItemLineDetail"
            and (items is None or str(line["SalesItemLineDetail"]["ItemRef"]["value"]) in items)
        ),
        ZERO,
    )


def _periods(start: date, end: date, summarize: str) -> list[tuple[str, date, date]]:
    """(column title, first day, last day) of each period from `start` to `end`, clipped to them."""
    if summarize == "Total":
        return []
    periods, day = [], start
    while day <= end:
        if summarize == "Days":
            last, title = day, f"{day:%b} {day.day}, {day.year}"
        else:
            last = min(date(day.year, day.month, calendar.monthrange(day.year, day.month)[1]), end)
            title = f"{day:%b %Y}"
        periods.append((title, day, last))
        day = last + timedelta(days=1)
    return periods


def _column_meta(title: str, start: date, end: date) -> list[dict]:
    return [
        {"Name": "StartDate", "Value": start.isoformat()},
        {"Name": "EndDate", "Value": end.isoformat()},
        {"Name": "ColKey", "Value": title},
    ]


# -- shared --------------------------------------------------------------------------------------
def _rows(
    store: Store, realm: str, cells: dict[str, list[Decimal | None]], params: dict, with_total: bool = True
) -> dict:
    """A Data row per customer (by name; `sort_order=descend` reverses) and the GrandTotal section.
    `with_total`: a Total column after the cells (else the one cell is the total itself)."""
    if not cells:
        return {}
    names = {customer_id: _customer_name(store, realm, customer_id) for customer_id in cells}
    order = sorted(cells, key=lambda c: (names[c].lower(), int(c) if c.isdigit() else 0))
    if params.get("sort_order", "ascend").lower() == "descend":
        order.reverse()
    rows = []
    for customer_id in order:
        values = [_money(v) if v is not None else "" for v in cells[customer_id]]
        if with_total:
            values.append(_money(sum((v or ZERO for v in cells[customer_id]), ZERO)))
        name_cell = {"value": names[customer_id], "id": customer_id}
        rows.append({"ColData": [name_cell] + [{"value": v} for v in values], "type": "Data"})
    width = len(next(iter(cells.values())))
    totals = [sum((cells[c][i] or ZERO for c in cells), ZERO) for i in range(width)]
    if with_total:
        totals.append(sum(totals, ZERO))
    summary = [{"value": "TOTAL"}] + [{"value": _money(t)} for t in totals]
    rows.append({"Summary": {"ColData": summary}, "type": "Section", "group": "GrandTotal"})
    return {"Row": rows}


def _header(store, realm: str, name: str, start: date, end: date, params: dict, has_data: bool) -> dict:
    header = {
        "Time": qbo_time(),
        "ReportName": name,
        "StartPeriod": start.isoformat(),
        "EndPeriod": end.isoformat(),
        "Currency": (_preferences(store, realm, "CurrencyPrefs").get("HomeCurrency") or {}).get("value", "USD"),
        "Option": [{"Name": "NoReportData", "Value": "false" if has_data else "true"}],
    }
    for parameter, field in (("customer", "Customer"), ("item", "Item")):
        if params.get(parameter):
            header[field] = params[parameter]  # "Only those filter query parameters specified … are returned"
    return header


def _preferences(store: Store, realm: str, block: str) -> dict:
    return (store.get(realm, "Preferences", PREFERENCES_ID) or {}).get(block) or {}


def _customer_name(store: Store, realm: str, customer_id: str) -> str:
    customer = store.get(realm, "Customer", int(customer_id)) if customer_id.isdigit() else None
    return customer["DisplayName"] if customer else customer_id


def _customer_filter(params: dict) -> set[str] | None:
    return _id_filter(params, "customer")


def _id_filter(params: dict, name: str) -> set[str] | None:
    value = params.get(name)
    return {part.strip() for part in value.split(",") if part.strip()} if value else None


def _date_param(params: dict, name: str, default: date) -> date:
    value = params.get(name)
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _refused(f"{name} {value!r} is not a date in the format YYYY-MM-DD") from None


def _positive_int(params: dict, name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not str(value).isdigit() or int(value) < 1:
        raise _refused(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def _day(value: object) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return date.min  # a record without a usable date counts as long past


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):.2f}"


def _refused(detail: str) -> Fault:
    return Fault("2050", "Invalid report request", detail)
