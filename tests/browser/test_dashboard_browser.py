"""The dashboard draws its charts in a real browser, and a bar leads to the filtered list."""

from __future__ import annotations

import pytest

from tests.browser.conftest import log_in
from tests.factories import PASSWORD, days, drive_to

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_it_draws_the_dashboard_charts(world, new_page):
    for unit in (world.unit_a, world.unit_b):
        drive_to(world.case(unit), "completed", world.supervisor)
        world.case(unit, deadline=days(-2))
    page = new_page()
    log_in(page, "supervisor", PASSWORD)
    page.goto("/dashboard/")
    page.wait_for_function("document.querySelectorAll('[data-drawn=true] canvas').length >= 5")
    charts = page.locator("[data-chart][data-drawn=true]")
    assert charts.count() == 5
    # ECharts painted something: the canvas is not blank.
    painted = page.evaluate(
        """() => {
            const canvas = document.querySelector('[data-series=by_region] canvas');
            const context = canvas.getContext('2d');
            const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let ink = 0;
            for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) ink++; }
            return ink;
        }"""
    )
    assert painted > 1000
    # Every chart's numbers are also on the page as a table.
    assert page.locator("table.figures").count() >= 5
    assert page.get_by_role("cell", name="甲县", exact=True).first.is_visible()


def test_it_fits_the_dashboard_on_a_phone(world, new_page):
    world.case(world.unit_a, deadline=days(-2))
    page = new_page(width=375, height=812)
    log_in(page, "supervisor", PASSWORD)
    page.goto("/dashboard/")
    page.wait_for_function("document.querySelectorAll('[data-drawn=true]').length >= 1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_it_runs_every_page_under_the_content_security_policy(world, new_page):
    case = world.case(world.unit_a, checklist=["窗口是否运行"])
    page = new_page()
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)  # fmt: skip
    log_in(page, "supervisor", PASSWORD)
    for url in ("/dashboard/", "/cases/", f"/cases/{case.pk}/", "/reports/progress/",
                "/api/docs/"):  # fmt: skip
        response = page.goto(url)
        policy = response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
        if url != "/api/docs/":  # Swagger UI injects <style>: only the docs page allows it
            assert "'unsafe-inline'" not in policy
        page.wait_for_load_state("networkidle")
    page.goto("/api/docs/")
    page.locator(".swagger-ui").first.wait_for()  # the docs' script ran
    page.goto(f"/cases/{case.pk}/")
    page.wait_for_function("typeof window.htmx !== 'undefined'")
    assert violations == []
