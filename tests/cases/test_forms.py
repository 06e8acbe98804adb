"""The Python-rendered selects (FastSelect, the `options` tag) render what Django's own Select
would: the same options, the chosen one selected, every label and value escaped."""

import re

import pytest
from django import forms
from django.template import Context, Template
from django.utils.html import escape

from cases.forms import AssignForm, FastSelect
from cases.models import Unit

pytestmark = pytest.mark.django_db


def _options(html):
    return re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', html)


def test_a_model_select_lists_the_queryset_with_the_current_value_selected(world):
    form = AssignForm(user=world.supervisor, initial={"responsible_unit": world.unit_b.pk})
    html = str(form["responsible_unit"])
    units = list(
        Unit.objects.filter(pk__in=[u.pk for u in (world.unit_a, world.unit_b, world.city_dept)])
    )
    options = _options(html)
    empty = str(form.fields["responsible_unit"].empty_label)
    assert options[0] == ("", "", empty)  # the field's empty choice first, as Django puts it
    for unit in units:
        assert (str(unit.pk), " selected" if unit == world.unit_b else "", unit.name) in options
    assert sum(1 for _value, selected, _label in options if selected) == 1
    assert 'id="id_responsible_unit"' in html and "required" in html


def test_without_a_value_the_empty_choice_is_selected_as_django_does(world):
    options = _options(str(AssignForm(user=world.supervisor)["owner"]))
    assert options[0][:2] == ("", " selected")
    assert sum(1 for _value, selected, _label in options if selected) == 1


def test_option_groups_are_listed_flat():
    widget = FastSelect(choices=[("a", "甲"), ("组", [("b", "乙"), ("c", "丙")])])
    assert _options(widget.render("x", "c")) == [
        ("a", "", "甲"),
        ("b", "", "乙"),
        ("c", " selected", "丙"),
    ]


def test_a_bound_select_keeps_the_posted_value(world):
    form = AssignForm({"responsible_unit": str(world.unit_a.pk)}, user=world.supervisor)
    options = _options(str(form["responsible_unit"]))
    assert [value for value, selected, _ in options if selected] == [str(world.unit_a.pk)]


def test_labels_and_values_are_escaped(world):
    world.unit_a.name = '<script>alert("x")</script>&'
    world.unit_a.save()

    class Form(forms.Form):
        unit = forms.ModelChoiceField(
            queryset=Unit.objects.all(), widget=FastSelect(label_field="name")
        )
        plain = forms.ChoiceField(choices=[('"><b>', "<i>x</i>")], widget=FastSelect)

    html = str(Form())
    assert "<script>" not in html and "<i>" not in html and '"><b>' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
    assert 'value="&quot;&gt;&lt;b&gt;"' in html


def test_the_options_tag_marks_the_chosen_row_and_escapes(world):
    template = Template("{% load tracker %}{% options rows chosen %}")
    html = template.render(Context({"rows": [(1, "甲<县>"), (2, "乙县")], "chosen": "2"}))
    assert _options(html) == [("1", "", "甲&lt;县&gt;"), ("2", " selected", "乙县")]


def test_user_options_show_what_str_shows(world):
    world.inspector_a.full_name = "张<三>"  # the rest have only a user name
    world.inspector_a.save()
    form = AssignForm(user=world.supervisor)
    shown = {value: label for value, _selected, label in _options(str(form["owner"]))}
    users = list(form.fields["owner"].queryset)
    assert world.inspector_a in users and world.inspector_b in users
    expected = {str(user.pk): escape(str(user)) for user in users}
    assert expected == {value: label for value, label in shown.items() if value}
    assert shown[str(world.inspector_a.pk)] == "张&lt;三&gt;"
