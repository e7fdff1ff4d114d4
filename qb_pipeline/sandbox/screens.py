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
    screens = _Screens(sandbox)
    return [
        Route("/", lambda _request: RedirectResponse(PATH, status_code=303), methods=["GET"]),
        Route(PATH, screens.home, methods=["GET"]),
        Route(f"{PATH}/login", screens.login, methods=["POST"]),
        Route(f"{PATH}/customers", screens.adder("Customer", _customer_body), methods=["POST"]),
        Route(f"{PATH}/items", screens.adder("Item", _item_body), methods=["POST"]),
    ]


class _Screens:
    """The pages' endpoints; signed in means holding the cookie derived from the control token."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.session_value = hmac.new(sandbox.control_token.encode(), b"screens", hashlib.sha256).hexdigest()

    def signed_in(self, request: Request) -> bool:
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), self.session_value.encode())

    def sign_in(self, token: str) -> Response:
        if not hmac.compare_digest(token.encode(), self.sandbox.control_token.encode()):
            return _page("Sign in", _sign_in_form(self.sandbox, "That is not this sandbox's control token."), 401)
        response = RedirectResponse(PATH, status_code=303)
        response.set_cookie(COOKIE, self.session_value, path="/", httponly=True, samesite="strict")
        return response

    async def home(self, request: Request) -> Response:
        if "token" in request.query_params:
            return self.sign_in(request.query_params["token"])
        if not self.signed_in(request):
            return _page("Sign in", _sign_in_form(self.sandbox))
        return _page("QuickBooks sandbox", _lists(self.sandbox, request.query_params))

    async def login(self, request: Request) -> Response:
        return self.sign_in((await _form(request)).get("token", ""))

    def adder(self, entity: str, body_of):
        """The endpoint of an add form: `body_of` turns the form into the record's body."""
        sandbox = self.sandbox

        async def add(request: Request) -> Response:
            origin = request.headers.get("origin")
            if origin is not None and origin.rstrip("/") not in (sandbox.base_url, _own_origin(request)):
                return _page("Refused", "<p class=error>A form from another origin is refused.</p>", 403)
            if not self.signed_in(request):
                return _page("Sign in", _sign_in_form(sandbox, "Sign in first."), 401)
            form = await _form(request)
            try:
                record = sandbox.api.rules.save(sandbox.realm, entity, body_of(form))
            except Fault as fault:
                return _page("QuickBooks sandbox", _lists(sandbox, {}, (entity, fault.detail, form)), 400)
            return RedirectResponse(f"{PATH}?{urlencode({'added': entity, 'id': record['Id']})}", status_code=303)

        return add


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
    form = _SentForm(failed)
    return (
        f"<h1>QuickBooks sandbox: {escape(company)}</h1>{_added_notice(store, realm, query)}"
        "<nav><a href=#customers>Customers</a><a href=#items>Items</a><a href=#invoices>Invoices</a></nav>"
        f"<form method=get action={PATH}><input name=q value='{escape(search, quote=True)}' "
        "aria-label='find by name'><button type=submit>Find</button></form>"
        + _customers(_named(store.all(realm, "Customer"), "DisplayName", search), form)
        + _items(
            _named(store.all(realm, "Item"), "Name", search),
            [a for a in store.all(realm, "Account") if a.get("AccountType") == "Income"],
            form,
        )
        + _invoices(sorted(store.all(realm, "Invoice"), key=lambda r: int(r["Id"]), reverse=True))
    )


class _SentForm:
    """An add form that QuickBooks' rules refused: its error and values, shown again on that form only."""

    def __init__(self, failed: tuple[str, str, dict] | None) -> None:
        self.failed = failed

    def error_for(self, entity: str) -> str:
        failed = self.failed
        return f"<p class=error>{escape(failed[1])}</p>" if failed and failed[0] == entity else ""

    def sent(self, entity: str, field: str) -> str:
        failed = self.failed
        return escape(failed[2].get(field, ""), quote=True) if failed and failed[0] == entity else ""


def _added_notice(store, realm: str, query) -> str:
    if query.get("added") in ("Customer", "Item") and str(query.get("id", "")).isdigit():
        added = store.get(realm, query["added"], int(query["id"]))
        if added is not None:
            name = added.get("DisplayName") or added.get("Name")
            return f"<p class=notice>{query['added']} {escape(str(name))} added (Id {added['Id']}).</p>"
    return ""


def _named(records, field: str, search: str) -> list[dict]:
    """The records whose `field` holds `search`, ordered by it."""
    rows = sorted(records, key=lambda r: str(r.get(field, "")).lower())
    return [r for r in rows if search in str(r.get(field, "")).lower()]


def _customers(customers: list[dict], form: _SentForm) -> str:
    return (
        f"<h2 id=customers>Customers ({len(customers)})</h2>{form.error_for('Customer')}"
        f"<form class=add id=add-customer method=post action={PATH}/customers>"
        f"<input name=DisplayName placeholder='Display name' required value='{form.sent('Customer', 'DisplayName')}'>"
        f"<input name=CompanyName placeholder='Company' value='{form.sent('Customer', 'CompanyName')}'>"
        f"<input name=Email type=email placeholder='Email' value='{form.sent('Customer', 'Email')}'>"
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
    )


def _items(items: list[dict], accounts: list[dict], form: _SentForm) -> str:
    return (
        f"<h2 id=items>Items ({len(items)})</h2>{form.error_for('Item')}"
        f"<form class=add id=add-item method=post action={PATH}/items>"
        f"<input name=Name placeholder='Name' required value='{form.sent('Item', 'Name')}'>"
        "<select name=Type aria-label=type>" + "".join(f"<option>{t}</option>" for t in ITEM_TYPES) + "</select>"
        f"<input name=UnitPrice placeholder='Price' inputmode=decimal value='{form.sent('Item', 'UnitPrice')}'>"
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
    )


def _invoices(invoices: list[dict]) -> str:
    """The newest SHOWN_INVOICES of `invoices` (newest first)."""
    return f"<h2 id=invoices>Invoices ({len(invoices)}; newest first)</h2>" + _table(
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
