"""Organizations: the creator is admin, admins manage members, outsiders see nothing."""

from __future__ import annotations

from typing import Any

import httpx

from escrowd.bootstrap import Container
from tests.integration.conftest import Account, assert_error, bearer, count_rows, signup


async def _org(client: httpx.AsyncClient, owner: Account, name: str = "Acme") -> dict[str, Any]:
    r = await client.post(
        "/v1/organizations",
        json={"name": name, "metadata": {"plan": "team"}},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _members(client: httpx.AsyncClient, org_id: str, who: Account) -> list[dict[str, Any]]:
    r = await client.get(
        f"/v1/organizations/{org_id}/members", params={"limit": 100}, headers=who.headers
    )
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


async def _add(
    client: httpx.AsyncClient, org_id: str, by: Account, user: Account, role: str = "member"
) -> httpx.Response:
    return await client.post(
        f"/v1/organizations/{org_id}/members",
        json={"user": user.id, "role": role},
        headers=by.headers,
    )


async def test_the_creator_becomes_the_organizations_admin(client: httpx.AsyncClient) -> None:
    owner = await signup(client, role="worker")
    org = await _org(client, owner)
    assert org["id"].startswith("org_")
    assert org["object"] == "organization"
    assert org["metadata"] == {"plan": "team"}
    members = await _members(client, org["id"], owner)
    assert len(members) == 1
    only = members[0]
    assert only["id"].startswith("mbr_")
    assert only["object"] == "organization_member"
    assert (only["user"], only["role"], only["organization"]) == (owner.id, "admin", org["id"])


async def test_an_org_admin_adds_a_member_who_then_sees_the_organization(
    client: httpx.AsyncClient,
) -> None:
    owner, newcomer = await signup(client), await signup(client, role="worker")
    org = await _org(client, owner)
    assert (
        await client.get(f"/v1/organizations/{org['id']}", headers=newcomer.headers)
    ).status_code == 404
    r = await _add(client, org["id"], owner, newcomer)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "member"
    assert r.json()["email"] == newcomer.email
    seen = await client.get(f"/v1/organizations/{org['id']}", headers=newcomer.headers)
    assert seen.json() == org
    mine = await client.get("/v1/organizations", headers=newcomer.headers)
    assert [o["id"] for o in mine.json()["data"]] == [org["id"]]
    member = await client.get(
        f"/v1/organizations/{org['id']}/members/{r.json()['id']}", headers=newcomer.headers
    )
    assert member.json() == r.json()


async def test_an_outsider_gets_404_for_the_organization_and_everything_in_it(
    client: httpx.AsyncClient, container: Container
) -> None:
    owner, outsider = await signup(client), await signup(client)
    org = await _org(client, owner)
    member_id = (await _members(client, org["id"], owner))[0]["id"]
    before = await count_rows(container, "organization_members")
    base = f"/v1/organizations/{org['id']}"
    responses = [
        await client.get(base, headers=outsider.headers),
        await client.get(f"{base}/members", headers=outsider.headers),
        await client.get(f"{base}/members/{member_id}", headers=outsider.headers),
        await _add(client, org["id"], outsider, outsider),
        await client.delete(f"{base}/members/{member_id}", headers=outsider.headers),
    ]
    for r in responses:
        err = assert_error(r, 404, "invalid_request_error", "resource_missing", param="id")
        assert org["id"] in err["message"]
    missing = await client.get(
        "/v1/organizations/org_01J00000000000000000000000", headers=outsider.headers
    )
    assert_error(missing, 404, "invalid_request_error", "resource_missing", param="id")
    assert await count_rows(container, "organization_members") == before
    listed = await client.get("/v1/organizations", headers=outsider.headers)
    assert org["id"] not in [o["id"] for o in listed.json()["data"]]


async def test_a_plain_member_cannot_manage_members(
    client: httpx.AsyncClient, container: Container
) -> None:
    owner, member, third = await signup(client), await signup(client), await signup(client)
    org = await _org(client, owner)
    assert (await _add(client, org["id"], owner, member)).status_code == 200
    before = await count_rows(container, "organization_members")
    r = await _add(client, org["id"], member, third)
    assert_error(r, 403, "permission_error", "organization_admin_required")
    owner_mbr = next(m for m in await _members(client, org["id"], owner) if m["user"] == owner.id)
    r = await client.delete(
        f"/v1/organizations/{org['id']}/members/{owner_mbr['id']}", headers=member.headers
    )
    assert_error(r, 403, "permission_error", "organization_admin_required")
    r = await client.post(
        f"/v1/organizations/{org['id']}/members/{owner_mbr['id']}",
        json={"role": "member"},
        headers=member.headers,
    )
    assert_error(r, 403, "permission_error", "organization_admin_required")
    assert await count_rows(container, "organization_members") == before


async def test_a_member_may_leave_on_their_own(client: httpx.AsyncClient) -> None:
    owner, member = await signup(client), await signup(client)
    org = await _org(client, owner)
    added = (await _add(client, org["id"], owner, member)).json()
    r = await client.delete(
        f"/v1/organizations/{org['id']}/members/{added['id']}", headers=member.headers
    )
    assert r.status_code == 200
    assert r.json() == {"id": added["id"], "object": "organization_member", "deleted": True}
    gone = await client.get(f"/v1/organizations/{org['id']}", headers=member.headers)
    assert gone.status_code == 404


async def test_the_last_admin_can_be_neither_removed_nor_demoted(
    client: httpx.AsyncClient,
) -> None:
    owner = await signup(client)
    org = await _org(client, owner)
    me = (await _members(client, org["id"], owner))[0]
    url = f"/v1/organizations/{org['id']}/members/{me['id']}"
    r = await client.delete(url, headers=owner.headers)
    err = assert_error(r, 409, "invalid_request_error", "last_organization_admin")
    assert "at least one admin" in err["message"]
    r = await client.post(url, json={"role": "member"}, headers=owner.headers)
    assert_error(r, 409, "invalid_request_error", "last_organization_admin")
    assert (await _members(client, org["id"], owner))[0]["role"] == "admin"


async def test_after_promoting_someone_the_first_admin_can_step_down(
    client: httpx.AsyncClient,
) -> None:
    owner, heir = await signup(client), await signup(client)
    org = await _org(client, owner)
    added = (await _add(client, org["id"], owner, heir)).json()
    r = await client.post(
        f"/v1/organizations/{org['id']}/members/{added['id']}",
        json={"role": "admin"},
        headers=owner.headers,
    )
    assert r.json()["role"] == "admin"
    mine = next(m for m in await _members(client, org["id"], owner) if m["user"] == owner.id)
    r = await client.delete(
        f"/v1/organizations/{org['id']}/members/{mine['id']}", headers=owner.headers
    )
    assert r.status_code == 200
    assert [m["user"] for m in await _members(client, org["id"], heir)] == [heir.id]


async def test_adding_someone_twice_is_a_conflict(client: httpx.AsyncClient) -> None:
    owner, member = await signup(client), await signup(client)
    org = await _org(client, owner)
    assert (await _add(client, org["id"], owner, member)).status_code == 200
    r = await _add(client, org["id"], owner, member, role="admin")
    assert_error(r, 409, "invalid_request_error", "already_a_member", param="user")


async def test_adding_an_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    org = await _org(client, owner)
    r = await client.post(
        f"/v1/organizations/{org['id']}/members",
        json={"user": "usr_01J00000000000000000000000"},
        headers=owner.headers,
    )
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="user")


async def test_an_unknown_member_role_is_refused(client: httpx.AsyncClient) -> None:
    owner, member = await signup(client), await signup(client)
    org = await _org(client, owner)
    r = await _add(client, org["id"], owner, member, role="owner")
    assert_error(r, 400, "invalid_request_error", "parameter_invalid", param="role")


async def test_a_member_id_from_another_organization_is_404(client: httpx.AsyncClient) -> None:
    owner = await signup(client)
    first, second = await _org(client, owner, "First"), await _org(client, owner, "Second")
    other_member = (await _members(client, second["id"], owner))[0]
    r = await client.delete(
        f"/v1/organizations/{first['id']}/members/{other_member['id']}", headers=owner.headers
    )
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="member_id")


async def test_platform_admins_and_api_keys_see_every_organization(
    client: httpx.AsyncClient, admin: Account, api_key: str
) -> None:
    owner = await signup(client)
    org = await _org(client, owner)
    for headers in (admin.headers, bearer(api_key)):
        r = await client.get(f"/v1/organizations/{org['id']}", headers=headers)
        assert r.json() == org
        listed = await client.get("/v1/organizations", headers=headers)
        assert org["id"] in [o["id"] for o in listed.json()["data"]]


async def test_the_organization_list_shows_only_mine_newest_first(
    client: httpx.AsyncClient,
) -> None:
    me, someone = await signup(client), await signup(client)
    older, newer = await _org(client, me, "Older"), await _org(client, me, "Newer")
    await _org(client, someone, "Not mine")
    r = await client.get("/v1/organizations", headers=me.headers)
    assert r.json()["object"] == "list"
    assert r.json()["url"] == "/v1/organizations"
    ids = [o["id"] for o in r.json()["data"]]
    assert sorted(ids, reverse=True) == ids
    assert set(ids) == {older["id"], newer["id"]}


async def test_an_api_key_cannot_create_an_organization(
    client: httpx.AsyncClient, api_key: str
) -> None:
    r = await client.post("/v1/organizations", json={"name": "Keyco"}, headers=bearer(api_key))
    assert_error(r, 403, "permission_error", "user_token_required")
