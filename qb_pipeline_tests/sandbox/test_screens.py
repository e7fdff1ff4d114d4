"""The sandbox's stand-in for QuickBooks' own screens, over real HTTP: signed in with the control token
only; what is added there is what the API, CDC and webhooks see, as when a person adds it in QuickBooks."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal

import requests
from quickbooks.cdc import change_data_capture
from quickbooks.objects.customer import Customer
from quickbooks.objects.item import Item

from qb_pipeline_tests.helpers import free_port, wait_for


def signed_in(sandbox) -> requests.Session:
    browser = requests.Session()
    answer = browser.get(f"{sandbox.url}/screens", params={"token": sandbox.connection["control_token"]})
    assert answer.status_code == 200 and answer.url == f"{sandbox.url}/screens"  # the token left the address
    return browser


def add(browser: requests.Session, sandbox, what: str, **form) -> requests.Response:
    return browser.post(f"{sandbox.url}/screens/{what}", data=form, headers={"Origin": sandbox.url})


def names(sandbox, entity: str, field: str) -> list[str]:
    return [r[field] for r in sandbox.dump(entity)["records"]]


def test_the_screens_show_nothing_and_add_nothing_without_the_control_token(sandbox):
    sandbox.seed(preset="demo")
    stranger = requests.Session()
    page = stranger.get(f"{sandbox.url}/")
    assert page.status_code == 200 and "Sign in with the sandbox's control token" in page.text
    assert "Cool Cars" not in page.text and "id=sign-in" in page.text
    wrong = stranger.get(f"{sandbox.url}/screens", params={"token": "guess"})
    assert wrong.status_code == 401 and "Cool Cars" not in wrong.text and COOKIE not in stranger.cookies
    refused = stranger.post(f"{sandbox.url}/screens/customers", data={"DisplayName": "Sneaky"})
    assert refused.status_code == 401 and "Sneaky" not in names(sandbox, "Customer", "DisplayName")

    browser = requests.Session()
    signed = browser.post(f"{sandbox.url}/screens/login", data={"token": sandbox.connection["control_token"]})
    assert signed.status_code == 200 and "Cool Cars" in signed.text and "Rocks" in signed.text
    assert sandbox.connection["control_token"] not in signed.text + str(browser.cookies.get(COOKIE))


def test_a_customer_and_an_item_added_there_are_what_the_api_cdc_and_webhooks_see(sandbox, webhook_endpoint):
    sandbox.seed(preset="demo")
    time.sleep(1.1)  # QuickBooks' times are in whole seconds: the seed's are before `since`
    since = datetime.now(timezone.utc).replace(microsecond=0)
    browser = signed_in(sandbox)
    added = add(browser, sandbox, "customers", DisplayName="Nova Bakery", CompanyName="Nova", Email="a@nova.test")
    assert added.status_code == 200 and "Customer Nova Bakery added" in added.text
    added = add(browser, sandbox, "items", Name="Sourdough", Type="NonInventory", UnitPrice="6.50", IncomeAccount="1")
    assert added.status_code == 200 and "Item Sourdough added" in added.text

    qb = sandbox.qb_client()
    (customer,) = Customer.filter(DisplayName="Nova Bakery", qb=qb)
    assert customer.CompanyName == "Nova" and customer.PrimaryEmailAddr.Address == "a@nova.test"
    (item,) = Item.filter(Name="Sourdough", qb=qb)
    assert item.UnitPrice == Decimal("6.50") and item.Type == "NonInventory"
    changed = change_data_capture([Customer, Item], since.strftime("%Y-%m-%dT%H:%M:%S+00:00"), qb=qb)
    assert [c.DisplayName for c in changed.Customer] == ["Nova Bakery"] and [i.Name for i in changed.Item] == [
        "Sourdough"
    ]
    notified = {("qbo.customer.created.v1", customer.Id), ("qbo.item.created.v1", item.Id)}
    wait_for(
        lambda: notified <= {(e["type"], e["intuitentityid"]) for e in webhook_endpoint.events()},
        timeout=10,
        what="the notifications",
    )
    page = browser.get(f"{sandbox.url}/screens", params={"q": "nova"}).text
    assert "Nova Bakery" in page and "Cool Cars" not in page  # found by name


def test_quickbooks_refusals_are_shown_with_what_was_typed_and_add_nothing(sandbox):
    sandbox.seed(preset="demo")
    browser = signed_in(sandbox)
    before = names(sandbox, "Customer", "DisplayName")
    twice = add(browser, sandbox, "customers", DisplayName="cool cars")  # QuickBooks' names ignore case
    assert twice.status_code == 400 and "The name supplied already exists" in twice.text
    assert "value='cool cars'" in twice.text  # the form keeps what was typed
    bad_price = add(browser, sandbox, "items", Name="Crumbs", UnitPrice="cheap", IncomeAccount="1")
    assert bad_price.status_code == 400 and "UnitPrice is not a number: cheap" in bad_price.text
    assert names(sandbox, "Customer", "DisplayName") == before
    assert "Crumbs" not in names(sandbox, "Item", "Name")


def test_a_form_from_another_origin_is_refused_and_adds_nothing(sandbox):
    sandbox.seed(preset="demo")
    browser = signed_in(sandbox)
    before = names(sandbox, "Customer", "DisplayName")
    other_port = browser.post(
        f"{sandbox.url}/screens/customers",
        data={"DisplayName": "From Elsewhere"},
        headers={"Origin": f"http://127.0.0.1:{free_port()}"},
    )
    assert other_port.status_code == 403
    assert names(sandbox, "Customer", "DisplayName") == before


COOKIE = "qb_sandbox_screens"
