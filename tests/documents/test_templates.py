"""The drafted text comes from templates a commission changes without code: a new version
through the service (the admin's door too), checked before it is stored, and never able to
reach beyond the figures of the user who downloads."""

from __future__ import annotations

import pytest
from django.test import Client

from cases.errors import Forbidden, InvalidInput
from documents.models import DocumentTemplate
from documents.selectors import current_template
from documents.services import document_template_save
from tests.documents.helpers import all_text, open_docx, paragraphs
from tests.factories import days

pytestmark = pytest.mark.django_db

GOOD_BODY = (
    "各单位：\n# 一、总体\n{{ scope_name }}共{{ total.total }}个问题，完成率{{ total.rate }}。"
)


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_shipped_template_is_in_force_until_a_version_is_saved(world):
    shipped = current_template("progress")
    assert shipped.version is None and "{{ total.rate }}" in shipped.body
    saved = document_template_save(
        actor=world.admin,
        kind="progress",
        title="{{ scope_name }}报告",
        body=GOOD_BODY,
        copy_to="市委办公室",
        issuer="某某纪委",
    )
    assert current_template("progress").version == saved.pk
    assert current_template("notice").version is None


def test_a_saved_template_words_the_document(world):
    world.case(title="问题甲")
    document_template_save(
        actor=world.admin,
        kind="progress",
        title="{{ scope_name }}报告",
        body=GOOD_BODY,
        copy_to="市委办公室",
        issuer="某某纪委",
    )
    doc = open_docx(client_of(world.supervisor).get("/reports/progress.docx"))
    text = paragraphs(doc)
    assert text[0] == "晋城市报告"
    assert "晋城市共1个问题，完成率0%。" in text
    assert text[-2].startswith("抄送：市委办公室。")
    assert text[-1].startswith("某某纪委\t")
    # The notice keeps its own (shipped) wording.
    notice = paragraphs(open_docx(client_of(world.supervisor).get("/reports/notice.docx")))
    assert notice[0] == "晋城市纪委监委关于晋城市整改情况的通报"


def test_saving_the_same_text_again_adds_no_version(world):
    first = document_template_save(actor=world.admin, kind="notice", title="通报", body=GOOD_BODY)
    again = document_template_save(actor=world.admin, kind="notice", title="通报", body=GOOD_BODY)
    assert again.pk == first.pk and DocumentTemplate.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        "{% if total.total %}未闭合",  # a syntax error
        "{{ total.rate|nosuchfilter }}",
        "{% load i18n %}{% translate '字' %}",  # no tag libraries
        "{% include 'cases/report.html' %}",  # no templates to include
        "{% extends 'base.html' %}",
        "{% debug %}",
        "{% url 'cases:list' %}",
        "{% for i in inspections %}{% for j in inspections %}{{ i }}{% endfor %}{% endfor %}"
        * 400,  # too long
        "   ",
    ],
)
def test_a_broken_template_is_refused_and_nothing_is_stored(world, body):
    with pytest.raises(InvalidInput) as refused:
        document_template_save(actor=world.admin, kind="progress", title="标题", body=body)
    assert "body" in refused.value.fields
    assert not DocumentTemplate.objects.exists()


def test_only_superusers_change_templates(world):
    for user in (world.supervisor, world.inspector_a, world.api_reader):
        with pytest.raises(Forbidden):
            document_template_save(actor=user, kind="progress", title="标题", body=GOOD_BODY)
    assert not DocumentTemplate.objects.exists()


def test_the_admin_saves_a_version_through_the_service(world):
    client = client_of(world.admin)
    form = client.get("/admin/documents/documenttemplate/add/?kind=notice")
    assert form.status_code == 200
    assert "整改情况通报如下" in form.content.decode()  # starts from the text in force
    data = {"kind": "notice", "title": "通报", "body": "{% if %}", "copy_to": "", "issuer": ""}
    refused = client.post("/admin/documents/documenttemplate/add/", data)
    assert refused.status_code == 200
    assert "模板有误" in refused.content.decode()
    assert not DocumentTemplate.objects.exists()
    data["body"] = GOOD_BODY
    saved = client.post("/admin/documents/documenttemplate/add/", data)
    assert saved.status_code == 302
    version = DocumentTemplate.objects.get()
    assert (version.kind, version.created_by) == ("notice", world.admin)
    # A version is never changed or deleted: a change is a new version.
    assert (
        client.post(
            f"/admin/documents/documenttemplate/{version.pk}/change/", {**data, "body": "改"}
        ).status_code
        == 403
    )
    assert DocumentTemplate.objects.get().body == GOOD_BODY


def test_a_template_reaches_nothing_beyond_the_users_figures(world):
    """A template that prints everything it is given, downloaded by an inspector: only the
    inspector's cases are in it, and no model to walk from."""
    world.case(title="甲县局的问题", deadline=days(-1))
    world.case(world.unit_b, title="乙县局的问题", deadline=days(-1))
    world.case(inspection=world.restricted, title="限定线索", deadline=days(-1))
    body = (
        "{{ inspections }}{{ overdue }}{{ escalated }}{{ restricted }}{{ total }}"
        "{{ user }}{{ request }}{{ settings.SECRET_KEY }}{{ csrf_token }}"
    )
    document_template_save(actor=world.admin, kind="progress", title="{{ scope_name }}", body=body)
    text = all_text(open_docx(client_of(world.inspector_a).get("/reports/progress.docx")))
    assert "甲县局的问题" in text
    assert "乙县局的问题" not in text and "限定线索" not in text
    assert "inspector_a" not in text and "<" not in text  # no user, no model's repr
