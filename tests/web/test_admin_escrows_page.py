"""The admins' escrow search without a browser: filters by status, id and party (by id or by
email), paging past the newest 50 rows, and the page refused to everyone but admins."""

from __future__ import annotations

import re

from tests.escrows.conftest import Ctx, keyed
from tests.escrows.conftest import _stripe_spec as _stripe_spec
from tests.escrows.conftest import browser as browser
from tests.escrows.conftest import client as client
from tests.escrows.conftest import ctx as ctx
from tests.escrows.conftest import sandbox as sandbox
from tests.integration.conftest import make_user
from tests.web.test_auction_pages import as_


def ids_on(html: str) -> list[str]:
    return re.findall(r'<td data-label="Escrow"><a href="/app/escrows/(esc_[0-9A-Z]+)"', html)


async def test_admins_search_escrows_by_status_id_and_party_and_page_past_50(ctx: Ctx) -> None:
    payer = await make_user(ctx.container, role="client")
    payee = await make_user(ctx.container, role="worker")
    made: list[str] = []
    for n in range(53):
        allocation = {"payee": payee.id if n % 2 else None, "amount": 1000 + n}
        r = await ctx.client.post(
            "/v1/escrows",
            json={"currency": "usd", "amount": 1000 + n, "allocations": [allocation]},
            headers=keyed(payer.headers),
        )
        assert r.status_code == 200, r.text
        made.append(r.json()["id"])
    newest_first = made[::-1]
    cancelled = made[7]
    r = await ctx.client.post(
        f"/v1/escrows/{cancelled}/cancel", json={}, headers=keyed(payer.headers)
    )
    assert r.status_code == 200, r.text

    # Payers and payees are refused the page.
    web = await as_(ctx, payer)
    refused = await web.get("/app/admin/escrows")
    assert refused.status_code == 403
    assert "This page is for admins" in refused.text

    admin = await make_user(ctx.container, role="admin")
    web = await as_(ctx, admin)
    first = await web.get("/app/admin/escrows", params={"party": payer.email})
    assert first.status_code == 200, first.text
    assert 'href="/app/admin/escrows" aria-current="page"' in first.text
    assert ids_on(first.text) == newest_first[:50]
    older = re.search(r'href="(/app/admin/escrows\?[^"]+)" rel="next"', first.text)
    assert older, first.text
    second = await web.get(older[1].replace("&amp;", "&"))
    assert ids_on(second.text) == newest_first[50:]
    assert 'rel="next"' not in second.text
    assert "← Newest" in second.text

    by_id = await web.get("/app/admin/escrows", params={"party": payer.id, "status": "cancelled"})
    assert ids_on(by_id.text) == [cancelled]
    one = await web.get("/app/admin/escrows", params={"id": made[3]})
    assert ids_on(one.text) == [made[3]]
    as_payee = await web.get("/app/admin/escrows", params={"party": payee.id})
    assert ids_on(as_payee.text) == [e for i, e in enumerate(made) if i % 2][::-1]
    nobody = await web.get("/app/admin/escrows", params={"party": "nobody@example.com"})
    assert nobody.status_code == 400
    assert "No user has the email" in nobody.text
    bad = await web.get("/app/admin/escrows", params={"status": "lost"})
    assert bad.status_code == 400
    assert "Unknown status" in bad.text
