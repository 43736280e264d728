"""The pages in each party's language on the running system (issue 21): a delivery opened with
``customer_locale`` opens in it from the customer's link, the language switch sets the
``dc_locale`` cookie (303) and the page follows it, ``/admin`` follows ``Accept-Language``, and a
party's list reads as its latest delivery's page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.runtime.links import admin_path, page_path, sign_admin_link, sign_link
from services.runtime.list_links import me_path, sign_list_link
from shared.config import Settings
from tests.integration.client import Api
from tests.integration.system import System

pytestmark = pytest.mark.integration

_LANG = re.compile(r'<html lang="([^"]+)">')


def _settings(system: System) -> Settings:
    return Settings(**{k[3:].lower(): v for k, v in system.env.items() if k.startswith("DC_")})


@pytest.fixture(scope="module")
async def opened(system: System) -> AsyncIterator[tuple[Settings, str, str, str]]:
    """A delivery opened for a customer who reads Chinese: (settings, base URL, its id, the
    customer's id)."""
    async with aiohttp.ClientSession() as session:
        api = Api(session, system.base_url, system.jwt_secret)
        customer, isv = api.party("customer"), api.party("isv")
        delivery = await api.open_delivery(
            api.party("marketplace"), customer, isv, customer_locale="zh-CN"
        )
        yield _settings(system), system.base_url, delivery["delivery_id"], customer.sub


async def _get(url: str, cookies: dict[str, str] | None = None, **headers: str):
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
        session.get(
            url,
            allow_redirects=False,
            headers={
                **headers,
                **(
                    {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
                ),
            },
        ) as response,
    ):
        return response, await response.text()


def _lang(page: str) -> str:
    found = _LANG.search(page)
    assert found, page[:300]
    return found.group(1)


async def test_a_customers_page_opens_in_the_customers_language_and_the_switch_changes_it(
    opened,
):
    settings, base, delivery_id, customer_id = opened
    page_url = base + page_path(
        delivery_id, sign_link(settings, delivery_id, customer_id, "customer")
    )
    response, page = await _get(page_url)
    assert response.status == 200
    assert _lang(page) == "zh-CN" and response.headers["Content-Language"] == "zh-CN"
    assert 'id="lang-en"' in page and "lang=en" in page
    # Accept-Language does not override the locale the delivery stores for its customer.
    _, page = await _get(page_url, **{"Accept-Language": "en"})
    assert _lang(page) == "zh-CN"

    response, _ = await _get(page_url + "&lang=en")
    assert response.status == 303
    assert response.headers["Location"] == page_url.removeprefix(base)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("dc_locale=en;") and "HttpOnly" in cookie and "Path=/" in cookie
    assert "SameSite=Lax" in cookie and "Max-Age=31536000" in cookie
    _, page = await _get(page_url, cookies={"dc_locale": "en"})
    assert _lang(page) == "en" and 'id="lang-zh-Hans"' in page

    response, _ = await _get(page_url + "&lang=zh-CN", cookies={"dc_locale": "en"})
    assert response.status == 303 and response.headers["Set-Cookie"].startswith("dc_locale=zh-CN;")
    _, page = await _get(page_url, cookies={"dc_locale": "zh-CN"})
    assert _lang(page) == "zh-CN"

    response, page = await _get(page_url + "&lang=fr")
    assert response.status == 400 and "Set-Cookie" not in response.headers
    assert 'id="lang-en"' in page or 'id="lang-zh-Hans"' in page


async def test_the_admin_list_follows_accept_language_then_the_cookie(opened):
    settings, base, _, _ = opened
    url = base + admin_path(sign_admin_link(settings))
    response, page = await _get(url, **{"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status == 200 and _lang(page) == "zh-CN"
    response, page = await _get(url, **{"Accept-Language": "fr"})
    assert response.status == 200 and _lang(page) == settings.default_locale == "en"
    _, page = await _get(url)
    assert _lang(page) == "en"
    _, page = await _get(url, cookies={"dc_locale": "en"}, **{"Accept-Language": "zh-CN"})
    assert _lang(page) == "en"


async def test_an_error_page_declares_its_language_too(opened):
    settings, base, _, _ = opened
    response, page = await _get(base + "/admin?t=nonsense", **{"Accept-Language": "zh"})
    assert response.status == 403 and _lang(page) == "zh"
    response, page = await _get(base + "/admin?t=nonsense")
    assert response.status == 403 and _lang(page) == "en"


async def test_a_partys_list_reads_as_its_latest_deliverys_page(opened):
    settings, base, delivery_id, customer_id = opened
    me = base + me_path(sign_list_link(settings, customer_id, "customer"))
    # The customer opened in Chinese: their list, from the email's link, reads in Chinese
    # whatever the browser asks, until they switch.
    _, page = await _get(me, **{"Accept-Language": "en"})
    assert _lang(page) == "zh-CN" and delivery_id in page
    _, page = await _get(me, cookies={"dc_locale": "en-GB"})
    assert _lang(page) == "en-GB"
    # A party with no delivery yet: the browser's language.
    stranger = base + me_path(sign_list_link(settings, "nobody-yet", "customer"))
    _, page = await _get(stranger, **{"Accept-Language": "zh-CN"})
    assert _lang(page) == "zh-CN"
    _, page = await _get(stranger, **{"Accept-Language": "en"})
    assert _lang(page) == "en"
