"""The dashboard's chart tooltips, built by the chart library in the browser, show unit and
inspection names as text (the pages themselves: tests/test_xss.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import log_in
from tests.factories import PASSWORD, World
from tests.test_xss import plant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_it_shows_hostile_names_as_text_in_the_chart_tooltips(world: World, new_page: Any) -> None:
    # The charts' tooltips are HTML that the chart library builds from the unit and inspection
    # names: a name must come out as text there too, not as an element.
    probe = '<img src="data:," id="xss-probe" class="xss-probe">'
    plant(world, probe)
    page = new_page()
    log_in(page, "supervisor", PASSWORD)
    page.goto("/dashboard/")
    page.wait_for_function("document.querySelectorAll('[data-drawn=true] canvas').length >= 3")
    shown = page.evaluate(
        """() => {
            const texts = [];
            document.querySelectorAll('[data-chart][data-drawn=true]').forEach((node) => {
                const chart = echarts.getInstanceByDom(node);
                const series = chart.getOption().series[0];
                (series.data || []).forEach((_, index) => {
                    chart.dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: index});
                    texts.push(node.innerText);
                });
            });
            return texts;
        }"""
    )
    assert page.locator(".xss-probe").count() == 0, "a name became an element"
    assert page.evaluate("document.getElementById('xss-probe')") is None
    assert any(probe in text for text in shown), shown  # the name was in a tooltip, as text
