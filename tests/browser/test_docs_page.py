"""/docs in a real browser with no way out of the host: the page works, Authorize takes the development key, and
fetchBills run from the page answers 200."""

import re

from biller_server import __version__

DEVELOPMENT_KEY = "dev-kaleidofin-key"


def open_docs(page, server):
    page.goto(f"{server.base_url}/docs")
    page.locator(".swagger-ui .info .title").filter(has_text="biller-server").wait_for()


def fetch_bills_operation(page):
    operation = page.locator(".opblock").filter(
        has=page.locator(".opblock-summary-path", has_text=re.compile(r"^/bills/fetchBills$"))
    )
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    return operation


def execute(operation):
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    return status.inner_text().strip()


def test_authorize_with_the_development_key_then_fetch_bills_answers_200(page, server, screenshot):
    open_docs(page, server)

    page.locator(".auth-wrapper button.authorize").click()
    scheme = page.locator(".auth-container").filter(has_text="kaleidofin_api_key")
    scheme.locator("input").fill(DEVELOPMENT_KEY)
    scheme.locator("button.authorize").click()
    scheme.locator("button", has_text="Logout").wait_for()  # Swagger UI now holds the key
    scheme.locator("button.btn-done").click()
    operation = fetch_bills_operation(page)
    status = execute(operation)

    assert status == "200"
    body = operation.locator(".live-responses-table .response-col_description pre").first.inner_text()
    assert '"billFetchStatus": "AVAILABLE"' in body and '"consumerId": "AY1234"' in body
    assert page.outside_requests == []
    # The page from its title down to the live answer: the picture in README.md.
    answer = operation.locator(".live-responses-table").first
    bottom = page.evaluate(
        "(element) => element.getBoundingClientRect().bottom + window.scrollY", answer.element_handle()
    )
    screenshot(page, "docs-fetch-bills", full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": bottom + 16})


def test_without_authorize_the_page_gets_401(page, server):
    open_docs(page, server)

    assert execute(fetch_bills_operation(page)) == "401"


def test_the_docs_page_shows_every_channel_and_asks_nothing_of_the_internet(page, server):
    open_docs(page, server)

    assert page.locator(".swagger-ui .info .title").inner_text().split()[:2] == ["biller-server", __version__]
    tags = page.locator(".opblock-tag-section h3").all_inner_texts()
    assert any("kaleidofin" in tag for tag in tags) and any("digiledge" in tag for tag in tags)
    assert page.outside_requests == []


def test_a_person_gets_from_the_landing_page_to_the_docs(page, server):
    page.goto(server.base_url + "/")
    page.get_by_role("link", name="API documentation").click()

    page.locator(".swagger-ui .info .title").filter(has_text="biller-server").wait_for()
    assert page.url == f"{server.base_url}/docs"
    assert page.outside_requests == []
