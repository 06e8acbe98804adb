"""The ledger's columns, in the layout Chinese offices use: one list read by the export, the
import and the template, so a workbook the tracker writes is one it can read back.

Headers are matched after normalisation (no spaces, line breaks or required-marks, half-width
brackets), in every language of the site and by a few names common in offices' own ledgers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

GROUP_PROBLEM = _("问题情况")
GROUP_RESPONSIBILITY = _("整改责任")
GROUP_RECTIFICATION = _("整改落实情况")


@dataclass(frozen=True)
class Column:
    key: str
    label: Promise
    group: Promise | None
    width: float
    kind: str = "text"  # text, long (wrapped), date, amount, int
    imported: bool = True  # read back by the import; the others are figures for the reader
    # Other names offices give the column. Matching rules, not text shown: not translated.
    aliases: tuple[str, ...] = field(default=())
    # For the template's instructions sheet.
    help: Promise | str = ""


COLUMNS: tuple[Column, ...] = (
    Column("seq", _("序号"), None, 6, "int", imported=False),
    Column("code", _("问题编号"), GROUP_PROBLEM, 16, aliases=("编号",),
           help=_("必填。系统按问题编号匹配：已有的编号更新该问题，新的编号登记新问题。")),
    Column("inspection", _("所属检查"), GROUP_PROBLEM, 30, aliases=("检查名称", "所属检查（台账）"),
           help=_("新问题必填。填写检查的名称或编号；已有问题不能改变所属检查。")),
    Column("source", _("问题来源"), GROUP_PROBLEM, 10,
           help=_("省级反馈、市级反馈或自查发现；新问题不填为市级反馈。")),
    Column("title", _("问题标题"), GROUP_PROBLEM, 30, aliases=("标题", "问题名称"),
           help=_("必填，不超过300字。")),
    Column("description", _("问题描述"), GROUP_PROBLEM, 40, "long", aliases=("具体问题",)),
    Column("parent", _("所属问题编号"), GROUP_PROBLEM, 16, aliases=("所属问题",),
           help=_("事项所属问题的编号；只用于登记新事项。")),
    Column("key_problem", _("是否重点难点"), GROUP_PROBLEM, 8, aliases=("重点难点",),
           help=_("是或否。")),
    Column("amount", _("涉及金额（元）"), GROUP_PROBLEM, 14, "amount", aliases=("涉及金额",)),
    Column("unit", _("责任单位"), GROUP_RESPONSIBILITY, 26,
           help=_("必填。您管辖范围内单位的准确名称；重名时写成“上级单位/单位”。")),
    Column("region", _("所属区县"), GROUP_RESPONSIBILITY, 10, imported=False),
    Column("owner", _("责任人"), GROUP_RESPONSIBILITY, 10,
           help=_("责任单位人员的姓名或用户名；可不填。")),
    Column("measures", _("整改措施"), GROUP_RECTIFICATION, 40, "long"),
    Column("deadline", _("整改时限"), GROUP_RECTIFICATION, 12, "date", aliases=("完成时限",),
           help=_("必填。日期，如 2024-06-30、2024/6/30 或 2024年6月30日。")),
    Column("method", _("整改方式"), GROUP_RECTIFICATION, 16),
    Column("progress", _("完成情况"), GROUP_RECTIFICATION, 40, "long",
           aliases=("整改进展", "整改进展情况", "完成情况（整改进展）", "整改完成情况")),
    Column("status", _("整改状态"), GROUP_RECTIFICATION, 12, aliases=("状态",),
           help=_("不填则新问题为待整改、已有问题不变；改变状态须有合法的流转路径。")),
    Column("light", _("红黄绿灯"), GROUP_RECTIFICATION, 8, imported=False),
    Column("items", _("事项进度"), GROUP_RECTIFICATION, 9, imported=False),
    Column("evidence", _("佐证材料数"), GROUP_RECTIFICATION, 9, "int", imported=False),
    Column("closed_on", _("办结日期"), GROUP_RECTIFICATION, 12, "date", imported=False),
)  # fmt: skip

BY_KEY = {column.key: column for column in COLUMNS}


def normalise(text: object) -> str:
    """A header or label as compared: no whitespace or required-marks, half-width brackets."""
    value = re.sub(r"[\s*＊]+", "", str(text))
    return value.replace("（", "(").replace("）", ")").replace("／", "/").lower()


def in_every_language(label: Promise | str) -> set[str]:
    """The normalised label in each language of the site (a workbook may have been written by
    someone using the English pages)."""
    names = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            names.add(normalise(label))
    return names


def header_names() -> dict[str, str]:
    """normalised header -> column key, for every column the import reads or skips."""
    names: dict[str, str] = {}
    for column in COLUMNS:
        for name in in_every_language(column.label) | {normalise(a) for a in column.aliases}:
            names.setdefault(name, column.key)
    return names
