"""List objects, cursors, ``expand[]`` and metadata through the query string and forms."""

from __future__ import annotations

from datetime import timedelta

from escrowd.clock import FrozenClock
from tests.sandbox.conftest import Api, SpecGuard, captured_charge, error_of


async def test_lists_page_with_cursors_newest_first(api: Api) -> None:
    cus = await api.customer()
    made = [
        (
            await api.ok(
                "POST",
                "/v1/payment_intents",
                {"amount": str(100 * i + 1000), "currency": "usd", "customer": cus["id"]},
            )
        )["id"]
        for i in range(5)
    ]
    newest = list(reversed(made))
    page1 = await api.ok("GET", "/v1/payment_intents", {"customer": cus["id"], "limit": "2"})
    assert page1["object"] == "list"
    assert page1["url"] == "/v1/payment_intents"
    assert ([p["id"] for p in page1["data"]], page1["has_more"]) == (newest[:2], True)
    page2 = await api.ok(
        "GET",
        "/v1/payment_intents",
        {"customer": cus["id"], "limit": "2", "starting_after": newest[1]},
    )
    assert [p["id"] for p in page2["data"]] == newest[2:4]
    last = await api.ok(
        "GET",
        "/v1/payment_intents",
        {"customer": cus["id"], "limit": "2", "starting_after": newest[3]},
    )
    assert ([p["id"] for p in last["data"]], last["has_more"]) == (newest[4:], False)
    back = await api.ok(
        "GET",
        "/v1/payment_intents",
        {"customer": cus["id"], "limit": "2", "ending_before": newest[2]},
    )
    assert ([p["id"] for p in back["data"]], back["has_more"]) == (newest[:2], False)
    bad = await api.get("/v1/payment_intents", {"limit": "101"})
    assert error_of(bad)["param"] == "limit"


async def test_expand_follows_ids_including_inside_lists(api: Api, spec: SpecGuard) -> None:
    pi = await captured_charge(api, 2500)
    got = await api.ok(
        "GET",
        f"/v1/payment_intents/{pi['id']}",
        {
            "expand[]": ["latest_charge", "latest_charge.balance_transaction", "payment_method"],
        },
    )
    assert got["latest_charge"]["balance_transaction"]["object"] == "balance_transaction"
    assert got["payment_method"]["object"] == "payment_method"
    listed = await api.ok(
        "GET", "/v1/charges", {"payment_intent": pi["id"], "expand[]": "data.balance_transaction"}
    )
    assert listed["data"][0]["balance_transaction"]["fee"] == 103
    bad = await api.get(f"/v1/payment_intents/{pi['id']}", {"expand[]": "amount"})
    assert error_of(bad)["message"] == "This property cannot be expanded (amount)."
    spec.expect("'amount' is not expandable")


async def test_metadata_merges_and_an_empty_value_deletes_a_key(api: Api) -> None:
    cus = await api.customer(**{"metadata[a]": "1", "metadata[b]": "2"})
    assert cus["metadata"] == {"a": "1", "b": "2"}
    cus = await api.ok(
        "POST", f"/v1/customers/{cus['id']}", {"metadata[b]": "", "metadata[c]": "3"}
    )
    assert cus["metadata"] == {"a": "1", "c": "3"}
    cus = await api.ok("POST", f"/v1/customers/{cus['id']}", {"metadata": ""})
    assert cus["metadata"] == {}


async def test_lists_filter_by_a_created_range(
    api: Api, clock: FrozenClock, spec: SpecGuard
) -> None:
    cus = await api.customer()
    early = await api.ok(
        "POST", "/v1/payment_intents", {"amount": "1000", "currency": "usd", "customer": cus["id"]}
    )
    clock.advance(timedelta(seconds=100))
    late = await api.ok(
        "POST", "/v1/payment_intents", {"amount": "2000", "currency": "usd", "customer": cus["id"]}
    )
    assert late["created"] - early["created"] == 100

    async def ids(**created: str) -> list[str]:
        query = {"customer": cus["id"], **{f"created[{k}]": v for k, v in created.items()}}
        return [p["id"] for p in (await api.ok("GET", "/v1/payment_intents", query))["data"]]

    assert await ids(gte=str(late["created"])) == [late["id"]]
    assert await ids(lt=str(late["created"])) == [early["id"]]
    assert await ids(gt=str(early["created"]), lte=str(late["created"])) == [late["id"]]
    assert await ids(gte=str(early["created"]), lt=str(late["created"] + 1)) == [
        late["id"],
        early["id"],
    ]
    exact = await api.ok(
        "GET", "/v1/payment_intents", {"customer": cus["id"], "created": str(early["created"])}
    )
    assert [p["id"] for p in exact["data"]] == [early["id"]]
    bad = await api.get("/v1/payment_intents", {"created[after]": "1"})
    assert error_of(bad)["param"] == "created[after]"
    spec.expect("unknown parameter 'created[after]'")


async def test_lists_keep_only_objects_whose_fields_equal_the_filters(api: Api) -> None:
    a = await api.customer(email="a@example.com")
    b = await api.customer(email="b@example.com")

    async def ids(path: str, **query: str) -> set[str]:
        return {o["id"] for o in (await api.ok("GET", path, {"limit": "100", **query}))["data"]}

    assert await ids("/v1/customers", email="a@example.com") == {a["id"]}
    assert {a["id"], b["id"]} <= await ids("/v1/customers")

    kept = await api.ok("POST", "/v1/products", {"name": "Kept"})
    gone = await api.ok("POST", "/v1/products", {"name": "Gone"})
    await api.ok("POST", f"/v1/products/{gone['id']}", {"active": "false"})
    assert kept["id"] in await ids("/v1/products", active="true")
    assert gone["id"] not in await ids("/v1/products", active="true")
    assert await ids("/v1/products", active="false") >= {gone["id"]}
    assert kept["id"] not in await ids("/v1/products", active="false")

    price = {"product": kept["id"], "unit_amount": "500", "currency": "usd"}
    once = await api.ok("POST", "/v1/prices", price)
    monthly = await api.ok(
        "POST", "/v1/prices", {**price, "recurring[interval]": "month", "lookup_key": "m"}
    )
    of_kept = {"product": kept["id"]}
    assert await ids("/v1/prices", **of_kept) == {once["id"], monthly["id"]}
    assert await ids("/v1/prices", **of_kept, type="recurring") == {monthly["id"]}
    assert await ids("/v1/prices", **of_kept, type="one_time") == {once["id"]}
    assert await ids("/v1/prices", **of_kept, **{"lookup_keys[]": "m"}) == {monthly["id"]}
    assert await ids("/v1/prices", **of_kept, type="one_time", **{"lookup_keys[]": "m"}) == set()
