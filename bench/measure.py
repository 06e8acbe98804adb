"""The sequential measurements: realistic requests of each kind, one at a time after a
warm-up, and the signed-in session the pages need."""

from __future__ import annotations

import argparse
import random
import re
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from common import HOST, log, ok, request, summary

SEARCH_TERMS = [
    "采购",
    "耕地",
    "招投标",
    "津贴补贴",
    "公务用车",
    "安全隐患",
    "专项资金",
    "取水许可",
    "办事指南",
    "债务化解",
    "教育局",
    "惠民资金",
    "营商环境",
    "排污许可",
    "形式主义",
]


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None


def sign_in(port: int, username: str, password: str) -> dict[str, str] | None:
    """The login form, as a browser fills it: the headers of a signed-in session, or None
    (logged) if signing in fails."""
    page = request(port, "GET", "/accounts/login/")
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    if page.status != 200 or match is None or "csrftoken" not in page.cookies:
        log(f"  login page: {page.status or page.error} {page.body[:300]!r}")
        return None
    form = urllib.parse.urlencode(
        {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": match.group(1).decode(),
            "next": "",
        }
    ).encode()
    done = request(
        port,
        "POST",
        "/accounts/login/",
        {
            "Cookie": f"csrftoken={page.cookies['csrftoken']}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": f"http://{HOST}:{port}",
        },
        form,
    )
    if done.status != 302 or "sessionid" not in done.cookies:
        log(f"  login failed: {done.status or done.error} {done.body[:300]!r}")
        return None
    return {
        "Cookie": f"sessionid={done.cookies['sessionid']}",
        "Accept-Language": "zh-hans",
    }


def measure(port: int, requests: Iterator[Req], opts: argparse.Namespace) -> dict[str, Any]:
    """Sequential requests: a warm-up, then up to --requests timed ones; a slow endpoint stops
    after --budget seconds (with at least 3 samples, or at the first failure)."""
    started = time.monotonic()
    for _ in range(opts.warmup):
        req = next(requests)
        warm = request(port, req.method, req.path, req.headers, req.body, timeout=opts.timeout)
        if not ok(warm):
            log(f"    warm-up {req.path}: {warm.status or warm.error} {warm.body[:200]!r}")
        if not ok(warm) or time.monotonic() - started > opts.budget / 4:
            break
    samples: list[float] = []
    statuses: Counter[str] = Counter()
    errors = 0
    started = time.monotonic()
    while len(samples) < opts.requests:
        req = next(requests)
        answer = request(port, req.method, req.path, req.headers, req.body, timeout=opts.timeout)
        statuses[str(answer.status or answer.error)] += 1
        if ok(answer):
            samples.append(answer.seconds * 1000)
        else:
            errors += 1
            if errors <= 3:
                log(f"    {req.path}: {answer.status or answer.error} {answer.body[:200]!r}")
        if time.monotonic() - started > opts.budget and (len(samples) >= 3 or errors):
            break
    return {**summary(samples), "errors": errors, "statuses": dict(statuses)}


def month_ends(today: date, count: int = 11) -> list[date]:
    """The last days of the `count` months before today's (the dashboard's trend points)."""
    days: list[date] = []
    cursor = today.replace(day=1) - timedelta(days=1)
    while len(days) < count:
        days.append(cursor)
        cursor = cursor.replace(day=1) - timedelta(days=1)
    return days


def first_days(port: int, setup: dict[str, Any], opts: argparse.Namespace) -> dict[str, Any]:
    """The first as_of request for each past day the bench uses (its as_of dates and the
    dashboard's month ends). No request builds figures: beat (`maintain_tally`, run once after
    the load above) builds the kept days' snapshots, and a day it has not built yet answers
    409 `not_built_yet` for a large selection, counted here as an error. Timed apart, so the
    as_of figures and the dashboard are then measured as they run from the second request
    on."""
    headers = {"Authorization": f"Token {setup['reader_token']}"}
    days = set(setup["as_of"]) | {
        day.isoformat() for day in month_ends(date.fromisoformat(setup["today"]))
    }
    samples, errors = [], 0
    for day in sorted(days):
        path = f"/api/v1/stats/completion/?group_by=inspection&as_of={day}"
        answer = request(port, "GET", path, headers, timeout=opts.timeout)
        if ok(answer):
            samples.append(answer.seconds * 1000)
        else:
            errors += 1
            log(f"    {path}: {answer.status or answer.error}")
    figures = {**summary(samples), "errors": errors}
    log(f"  {'stats as_of, first request of a day':<34} p50 {figures['p50']:>8} ms  p95 "
        f"{figures['p95']:>8} ms  (n={figures['n']}, errors {errors})")  # fmt: skip
    return figures


def cycle(rng: random.Random, make: Callable[[random.Random], Req]) -> Iterator[Req]:
    while True:
        yield make(rng)


def request_sets(
    setup: dict[str, Any], session: dict[str, str]
) -> dict[str, Callable[[random.Random], Req]]:
    """How each measured request is made: realistic filters and terms, varied across requests
    (a cache that only serves one repeated request would not show here)."""
    api = {"Authorization": f"Token {setup['reader_token']}", "Accept-Language": "zh-hans"}
    inspections, units, regions = setup["inspections"], setup["units"], setup["regions"]
    ids, as_of = setup["detail_ids"], setup["as_of"]

    def get(path: str, headers: dict[str, str] = api) -> Req:
        return Req("GET", path, headers)

    def stats(by: str, dated: bool) -> Callable[[random.Random], Req]:
        def make(rng: random.Random) -> Req:
            day = f"&as_of={rng.choice(as_of)}" if dated else ""
            return get(f"/api/v1/stats/completion/?group_by={by}{day}")

        return make

    def filters(rng: random.Random) -> str:
        kind = rng.randrange(5)
        if kind == 0 or not units:
            return f"inspection={rng.choice(inspections)}&status=open,in_progress"
        if kind == 1:
            return f"responsible_unit={rng.choice(units)}&light=red"
        if kind == 2 and regions:
            return f"region={rng.choice(regions)}&overdue=true"
        if kind == 3:
            return f"inspection={rng.choice(inspections)}&light=yellow&ordering=-updated_at"
        return f"responsible_unit={rng.choice(units)}&status=submitted&ordering=deadline"

    def search(rng: random.Random) -> Req:
        term = urllib.parse.quote(rng.choice(SEARCH_TERMS))
        return get(f"/api/v1/cases/?search={term}")

    def search_class(terms: list[str], token: str) -> Callable[[random.Random], Req]:
        headers = {"Authorization": f"Token {token}", "Accept-Language": "zh-hans"}

        def make(rng: random.Random) -> Req:
            term = urllib.parse.quote(rng.choice(terms))
            return get(f"/api/v1/cases/?search={term}", headers)

        return make

    makers: dict[str, Callable[[random.Random], Req]] = {
        f"stats_{by}{suffix}": stats(by, bool(suffix))
        for by in ("inspection", "unit", "region")
        for suffix in ("", "_as_of")
    }
    makers.update(
        {
            "list": lambda rng: get(f"/api/v1/cases/?{filters(rng)}"),
            "search": search,
            "detail": lambda rng: get(f"/api/v1/cases/{rng.choice(ids)}/"),
            "list_page": lambda rng: get(f"/cases/?{filters(rng)}", session),
            "detail_page": lambda rng: get(f"/cases/{rng.choice(ids)}/", session),
            "dashboard": lambda rng: get("/dashboard/", session),
        }
    )
    # Search by term class (bench/inproc.py `search_terms`), as the province-wide supervisor
    # and as an inspector (the first load client).
    inspector = setup["load_clients"][0]["token"] if setup["load_clients"] else None
    for kind, terms in setup.get("search_terms", {}).items():
        if not terms:
            continue
        makers[f"search_{kind}"] = search_class(terms, setup["supervisor_token"])
        if inspector:
            makers[f"search_{kind}_inspector"] = search_class(terms, inspector)
    return makers
