"""What a browser finds first: ``/`` says what this is, ``/docs`` works with no network, and
production shows nothing that is for development."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from escrowd.app import create_app
from escrowd.bootstrap import build
from escrowd.config import Environment, ProviderMode, Settings
from escrowd.demo import DEMO_USERS

ASSET_REF = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


def _references(html: str) -> list[str]:
    return [a or b for a, b in ASSET_REF.findall(html)]


async def test_home_says_what_this_is_and_links_to_the_docs(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Escrow and payouts for two-sided marketplaces" in r.text
    assert "href='/docs'" in r.text


async def test_home_lists_the_demo_logins_outside_production(client: httpx.AsyncClient) -> None:
    text = (await client.get("/")).text
    for email, password, _, role in DEMO_USERS:
        assert f"<code>{email}</code>" in text
        assert f"<code>{password}</code>" in text
        assert f"<td>{role}</td>" in text


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("4242 4242 4242 4242", "succeeds"),
        ("4000 0000 0000 0002", "declined"),
        ("4000 0000 0000 9995", "declined: insufficient funds"),
        ("4000 0000 0000 0069", "declined: expired card"),
        ("4000 0000 0000 0127", "declined: incorrect CVC"),
        ("4000 0025 0000 3155", "asks for 3-D Secure (not once set up for later payments)"),
        ("4000 0000 0000 0259", "succeeds, then the payment is disputed"),
    ],
)
async def test_home_lists_the_sandboxs_test_cards(
    client: httpx.AsyncClient, number: str, outcome: str
) -> None:
    text = (await client.get("/")).text
    assert f"<tr><td><code>{number}</code></td><td>{outcome}</td></tr>" in text


async def test_docs_load_only_local_assets_and_each_one_answers(
    client: httpx.AsyncClient,
) -> None:
    for page in ("/docs", "/redoc"):
        r = await client.get(page)
        assert r.status_code == 200, page
        refs = _references(r.text)
        assert refs, r.text
        assert "cdn" not in r.text.lower()
        assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", r.text), r.text
        for ref in refs:
            assert ref.startswith("/"), (page, ref)
            assert not ref.startswith("//"), (page, ref)
            asset = await client.get(ref)
            assert asset.status_code == 200, (page, ref)
            assert asset.content, ref


async def test_the_docs_load_swagger_ui_5_which_reads_openapi_3_1(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "OpenAPI31" in bundle.text or "isOAS31" in bundle.text


@pytest.fixture
async def production_client(postgres_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        env=Environment.production,
        database_url=postgres_url,
        secret_key="production-secret-key-that-is-long-enough-0123456789",
        provider=ProviderMode.stripe,
        stripe_secret_key="sk_test_never_called_here",
        stripe_webhook_secrets="whsec_production_endpoint",
    )
    container = build(settings)
    try:
        app = create_app(container, background=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://escrowd.test") as c:
            yield c
    finally:
        await container.close()


async def test_production_home_shows_no_demo_logins_and_no_sandbox_cards(
    production_client: httpx.AsyncClient,
) -> None:
    r = await production_client.get("/")
    assert r.status_code == 200
    assert "href='/docs'" in r.text
    for email, password, _, _ in DEMO_USERS:
        assert email not in r.text
        assert password not in r.text
    assert "4242" not in r.text


async def test_production_mounts_no_sandbox(production_client: httpx.AsyncClient) -> None:
    from escrowd.providers.stripe.client import SANDBOX_API_KEY

    r = await production_client.get(
        "/sandbox/stripe/v1/customers", headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"}
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "url_invalid"
    page = await production_client.get("/sandbox/stripe/connect/onboarding/anything")
    assert page.status_code == 404


async def test_production_mounts_no_paypal_sandbox(production_client: httpx.AsyncClient) -> None:
    r = await production_client.get("/sandbox/paypal/v2/checkout/orders/5O190127TN364715T")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "url_invalid"
    page = await production_client.get("/sandbox/paypal/checkoutnow", params={"token": "X1"})
    assert page.status_code == 404
    assert "PayPal checkout" not in page.text


def test_an_app_for_production_with_the_sandbox_is_refused_even_past_the_settings() -> None:
    settings = Settings(env=Environment.test).model_copy(update={"env": Environment.production})
    with pytest.raises(ValueError, match="ESCROWD_PROVIDER=sandbox"):
        create_app(build(settings), background=False)
