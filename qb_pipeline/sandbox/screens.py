"""A stand-in for QuickBooks' own screens: one web page to list and add customers and items and to see
invoices, so "add it in QuickBooks" can be done against the sandbox. Not part of QuickBooks' API.

What is added here goes through the same rules and store as an API write (entities.py `Rules.save`):
QuickBooks' validation, a new Id and SyncToken, a webhook and a CDC entry, as when a person adds a
customer in QuickBooks.

Like the control API it needs the control token (connection.json's `control_token`): given once in the
sign-in form (or as `?token=` in a link, which is then dropped from the address), it becomes a cookie
holding a value derived from the token, sent to this origin only (SameSite=Strict). A form posted from
another origin (another port of this host included, which SameSite does not tell apart) is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal, InvalidOperation
from html import escape
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from qb_pipeline.sandbox.validation import Fault

PATH = "/screens"
COOKIE = "qb_sandbox_screens"
SHOWN_ROWS = 500  # per list; the search box finds the rest
SHOWN_INVOICES = 200  # the newest
ITEM_TYPES = ("Service", "NonInventory")
HEADERS = {
    # No script, no frames, forms to this origin only; nothing leaves in a Referer. Not "no-referrer": under
    # it a browser sends `Origin: null` with a form, and the origin check below could not tell it apart.
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
STYLE = """body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border-bottom:1px solid #ddd;padding:.25em .7em;text-align:left}th{background:#f3f3f3}.num{text-align:right}
form.add{background:#f7f9fc;padding:.6em;display:inline-block}input,select{margin:0 .5em .3em 0}
.error{color:#a00;font-weight:bold}.notice{color:#060;font-weight:bold}nav a{margin-right:1em}"""


def screens_routes(sandbox) -> list[Route]:
    """`sandbox` is the running `Sandbox` (server.py): store, realm, api.rules, control_token, data_dir."""
    session_value = hmac.new(sandbox.control_token.encode(), b"screens", hashlib.sha256).hexdigest()

    def signed_in(request: Request) -> bool:
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), session_value.encode())

    def sign_in(token: str) -> Response:
        if not hmac.compare_digest(token.encode(), sandbox.control_token.encode()):
            return _page("Sign in", _sign_in_form(sandbox, "That is not this sandbox's control token."), 401)
        response = RedirectResponse(PATH, status_code=303)
        response.set_cookie(COOKIE, session_value, path="/", httponly=True, samesite="strict")
        return response

    async def home(request: Request) -> Response:
        if "token" in request.query_params:
            return sign_in(request.query_params["token"])
        if not signed_in(request):
            return _page("Sign in", _sign_in_form(sandbox))
        return _page("QuickBooks sandbox", _lists(sandbox, request.query_params))

    async def login(request: Request) -> Response:
        return sign_in((await _form(request)).get("token", ""))

    def adder(entity: str, body_of):
        async def add(request: Request) -> Response:
            origin = request.headers.get("origin")
            if origin is not None and origin.rstrip("/") not in (sandbox.base_url, _own_origin(request)):
                return _page("Refused", "<p class=error>A form from another origin is refused.</p>", 403)
            if not signed_in(request):
                return _page("Sign in", _sign_in_form(sandbox, "Sign in first."), 401)
            form = await _form(request)
            try:
                record = sandbox.api.rules.save(sandbox.realm, entity, body_of(form))
            except Fault as fault:
                return _page("QuickBooks sandbox", _lists(sandbox, {}, (entity, fault.detail, form)), 400)
            return RedirectResponse(f"{PATH}?{urlencode({'added': entity, 'id': record['Id']})}", status_code=303)

        return add

    return [
        Route("/", lambda _request: RedirectResponse(PATH, status_code=303), methods=["GET"]),
        Route(PATH, home, methods=["GET"]),
        Route(f"{PATH}/login", login, methods=["POST"]),
        Route(f"{PATH}/customers", adder("Customer", _customer_body), methods=["POST"]),
        Route(f"{PATH}/items", adder("Item", _item_body), methods=["POST"]),
    ]


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (python-multipart is not needed for that)."""
    fields = parse_qs((await request.body()).decode(errors="replace"), keep_blank_values=True)
    return {name: values[-1].strip() for name, values in fields.items()}


def _customer_body(form: dict[str, str]) -> dict:
    body: dict = {"DisplayName": form.get("DisplayName", "")}
    if form.get("CompanyName"):
        body["CompanyName"] = form["CompanyName"]
    if form.get("Email"):
        body["PrimaryEmailAddr"] = {"Address": form["Email"]}
    return body


def _item_body(form: dict[str, str]) -> dict:
    body: dict = {"Name": form.get("Name", ""), "Type": form.get("Type") or "Service"}
    price = form.get("UnitPrice", "")
    if price:
        try:
            body["UnitPrice"] = Decimal(price)
        except InvalidOperation:
            body["UnitPrice"] = None
        if body["UnitPrice"] is None or not body["UnitPrice"].is_finite():
            raise Fault("2050", "Invalid Number", f"UnitPrice is not a number: {price}", element="UnitPrice")
    if form.get("IncomeAccount"):
        body["IncomeAccountRef"] = {"value": form["IncomeAccount"]}
    return body


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{content}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _sign_in_form(sandbox, error: str = "") -> str:
    where = sandbox.data_dir / "connection.json" if sandbox.data_dir else "connection.json"
    return (
        "<h1>QuickBooks sandbox</h1>"
        + (f"<p class=error>{escape(error)}</p>" if error else "")
        + f"<p>Sign in with the sandbox's control token: <code>control_token</code> in <code>{escape(str(where))}</code>."
        f"<form id=sign-in method=post action={PATH}/login><input type=password name=token id=token "
        "autocomplete=off size=48 aria-label='control token'><button type=submit>Sign in</button></form>"
    )


def _lists(sandbox, query, failed: tuple[str, str, dict] | None = None) -> str:
    """Customers, items (each with its add form) and invoices; `failed`: (entity, why, the form as sent)."""
    store, realm = sandbox.store, sandbox.realm
    search = str(query.get("q", "")).strip().lower()
    company = (store.all(realm, "CompanyInfo") or [{}])[0].get("CompanyName", "")
    notice = ""
    if query.get("added") in ("Customer", "Item") and str(query.get("id", "")).isdigit():
        added = store.get(realm, query["added"], int(query["id"]))
        if added is not None:
            name = added.get("DisplayName") or added.get("Name")
            notice = f"<p class=notice>{query['added']} {escape(str(name))} added (Id {added['Id']}).</p>"

    def error_for(entity: str) -> str:
        return f"<p class=error>{escape(failed[1])}</p>" if failed and failed[0] == entity else ""

    def sent(entity: str, field: str) -> str:
        return escape(failed[2].get(field, ""), quote=True) if failed and failed[0] == entity else ""

    def named(records, field):
        rows = sorted(records, key=lambda r: str(r.get(field, "")).lower())
        return [r for r in rows if search in str(r.get(field, "")).lower()]

    customers = named(store.all(realm, "Customer"), "DisplayName")
    items = named(store.all(realm, "Item"), "Name")
    accounts = [a for a in store.all(realm, "Account") if a.get("AccountType") == "Income"]
    invoices = sorted(store.all(realm, "Invoice"), key=lambda r: int(r["Id"]), reverse=True)
    return (
        f"<h1>QuickBooks sandbox: {escape(company)}</h1>{notice}"
        "<nav><a href=#customers>Customers</a><a href=#items>Items</a><a href=#invoices>Invoices</a></nav>"
        f"<form method=get action={PATH}><input name=q value='{escape(search, quote=True)}' "
        "aria-label='find by name'><button type=submit>Find</button></form>"
        f"<h2 id=customers>Customers ({len(customers)})</h2>{error_for('Customer')}"
        f"<form class=add id=add-customer method=post action={PATH}/customers>"
        f"<input name=DisplayName placeholder='Display name' required value='{sent('Customer', 'DisplayName')}'>"
        f"<input name=CompanyName placeholder='Company' value='{sent('Customer', 'CompanyName')}'>"
        f"<input name=Email type=email placeholder='Email' value='{sent('Customer', 'Email')}'>"
        "<button type=submit>Add customer</button></form>"
        + _table(
            "customers",
            ["Id", "Display name", "Company", "Email", "Active", "Balance"],
            [
                [
                    c["Id"],
                    c.get("DisplayName"),
                    c.get("CompanyName"),
                    (c.get("PrimaryEmailAddr") or {}).get("Address"),
                    _yes(c),
                    _money(c.get("Balance")),
                ]
                for c in customers[:SHOWN_ROWS]
            ],
        )
        + f"<h2 id=items>Items ({len(items)})</h2>{error_for('Item')}"
        f"<form class=add id=add-item method=post action={PATH}/items>"
        f"<input name=Name placeholder='Name' required value='{sent('Item', 'Name')}'>"
        "<select name=Type aria-label=type>" + "".join(f"<option>{t}</option>" for t in ITEM_TYPES) + "</select>"
        f"<input name=UnitPrice placeholder='Price' inputmode=decimal value='{sent('Item', 'UnitPrice')}'>"
        "<select name=IncomeAccount aria-label='income account'>"
        + "".join(f"<option value={escape(a['Id'], quote=True)}>{escape(a['Name'])}</option>" for a in accounts)
        + "</select><button type=submit>Add item</button></form>"
        + _table(
            "items",
            ["Id", "Name", "Type", "Price", "Income account", "Active"],
            [
                [
                    i["Id"],
                    i.get("Name"),
                    i.get("Type"),
                    _money(i.get("UnitPrice")),
                    (i.get("IncomeAccountRef") or {}).get("name"),
                    _yes(i),
                ]
                for i in items[:SHOWN_ROWS]
            ],
        )
        + f"<h2 id=invoices>Invoices ({len(invoices)}; newest first)</h2>"
        + _table(
            "invoices",
            ["Id", "No.", "Customer", "Date", "Total", "Balance", "Memo"],
            [
                [
                    i["Id"],
                    i.get("DocNumber"),
                    (i.get("CustomerRef") or {}).get("name"),
                    i.get("TxnDate"),
                    _money(i.get("TotalAmt")),
                    _money(i.get("Balance")),
                    str(i.get("PrivateNote") or "").split("\n", 1)[0],
                ]
                for i in invoices[:SHOWN_INVOICES]
            ],
        )
    )


def _table(name: str, headings: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = "".join(
        "<tr>" + "".join(f"<td>{'' if value is None else escape(str(value))}</td>" for value in row) + "</tr>"
        for row in rows
    )
    return f"<table id={name}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _money(value) -> str | None:
    return None if value is None else f"{Decimal(str(value)):,.2f}"


def _yes(record: dict) -> str:
    return "yes" if record.get("Active", True) else "no"
