"""The Jincheng demo ledger (晋城市纪委监委, 2023), from the report in shared/seeds.

Every figure of the report is a state built through the services, with its history, so the
dashboard, the API and the exports compute the report's rates instead of reading them:
- 优化营商环境专项检查: 58 licensing items (56 admitted, each with its method, 2 on the negative
  list) and the city and six counties' 263 items, all done: 100%;
- the city committee's rectification plan: 王莽岭, 8 projects: 3 rectified, 1 close to done,
  2 land dossiers reported upward, 2 awaiting higher-level policy guidance;
- 6 key problems under special report (4 unnamed in the report, marked 示例);
- 耕地保护: 75%; 安全生产: under way; the clue ledger: restricted to the commission.
Dates are placed relative to today, so the demo always shows overdue and due-soon cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from . import organisation, services
from .models import Case, Inspection, Unit, User
from .workflow import Role, Status

DEMO_PASSWORD = "jincheng-demo"  # noqa: S105  (documented demo accounts)
COUNTIES = ["城区", "泽州县", "高平市", "阳城县", "陵川县", "沁水县"]
# The city and six counties' 263 licensing items admitted to the service halls.
ITEMS_263 = {
    "市本级": 45,
    "城区": 36,
    "泽州县": 42,
    "高平市": 38,
    "阳城县": 37,
    "陵川县": 33,
    "沁水县": 32,
}
# The 56 admitted of the 58 items, by method; the 2 others went on the negative list.
METHODS_56 = [
    (Case.Method.WINDOW_AUTHORISATION, 24),
    (Case.Method.NEW_WINDOW, 18),
    (Case.Method.ENTRUSTED, 14),
]
VERIFY_HALL = ["窗口是否真正运行", "网上信息是否公布", "一次性告知书、办事指南是否公示"]
LICENCES = [
    "取水许可",
    "建设工程消防验收",
    "城市建筑垃圾处置核准",
    "公路超限运输许可",
    "食品生产许可",
    "医疗机构执业登记",
    "采矿权登记",
    "林草种子生产经营许可",
    "文物保护单位建设工程审批",
    "人防工程建设审批",
    "燃气经营许可",
    "排污许可",
    "特种设备使用登记",
    "拆除临时建筑审批",
    "城市道路占用挖掘许可",
    "户外广告设置审批",
    "水土保持方案审批",
    "河道管理范围内建设审批",
]
CITY_DEPARTMENTS = [
    "晋城市水务局",
    "晋城市住房和城乡建设局",
    "晋城市交通运输局",
    "晋城市卫生健康委员会",
    "晋城市自然资源局",
    "晋城市生态环境局",
]
WANGMANGLING = [
    # (project, outcome): the report's 3 + 1 + 2 + 2.
    ("王莽岭游客服务中心提升项目", "completed"),
    ("王莽岭景区环线道路改造项目", "completed"),
    ("王莽岭景区停车场扩建项目", "completed"),
    ("王莽岭景区供水工程", "near"),
    ("王莽岭景区锡崖沟索道站项目", "land"),
    ("王莽岭景区营盘村安置区项目", "land"),
    ("王莽岭景区观景平台项目", "policy"),
    ("王莽岭景区生态停车场项目", "policy"),
]


@dataclass
class Clock:
    """Turns "n days before today" into a moment of the working day."""

    today: date

    def day(self, offset: int) -> date:
        return self.today + timedelta(days=offset)

    def at(self, offset: int, hour: int = 10) -> datetime:
        return timezone.make_aware(datetime.combine(self.day(offset), time(hour)))


def _pdf(title: str) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%% "
        + title.encode()
        + b"\n%%EOF\n"
    )


def _png() -> bytes:
    import base64

    return base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )


def _file(name: str) -> SimpleUploadedFile:
    content = _png() if name.endswith(".png") else _pdf(name)
    return SimpleUploadedFile(name, content)


class Builder:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.units: dict[str, Unit] = {}

    # --- organisation ---
    def unit(self, name: str, parent: Unit | None, level: str, **flags: Any) -> Unit:
        existing = Unit.objects.filter(name=name, parent=parent).first()
        unit = existing or organisation.unit_create(name=name, parent=parent, level=level, **flags)
        self.units[name] = unit
        return unit

    def account(
        self, username: str, unit: Unit | None, role: str, full_name: str, superuser: bool = False
    ) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = organisation.user_create(
                username=username,
                password=DEMO_PASSWORD,
                unit=unit,
                role=role,
                full_name=full_name,
                # Reserved domain: the demo's reminders land as files in var/mail/.
                email=f"{username}@example.org",
                is_superuser=superuser,
            )
        return user

    # --- workflow helpers: every step is a service call at a given day ---
    def move(
        self,
        actor: User,
        case: Case,
        to: str,
        day: int,
        note: str = "",
        evidence: list[str] | None = None,
    ) -> Case:
        confirm = list(case.checklist.values_list("id", flat=True)) if to == "completed" else []
        return services.case_transition(
            actor=actor,
            case_id=case.pk,
            to=to,
            note=note,
            confirm=confirm,
            evidence=[_file(name) for name in evidence or []],
            at=self.clock.at(day, 15),
        )

    def finish(
        self,
        actor: User,
        inspector: User,
        case: Case,
        *,
        start: int | None,
        submit: int,
        close: int,
        evidence: list[str] | None = None,
        exempt: str = "",
    ) -> Case:
        """Take a case through to its end: started (unless `start` is None: it already is),
        submitted, verified and closed."""
        if exempt:
            return self.move(actor, case, Status.EXEMPTED, close, exempt)
        if start is not None:
            self.move(inspector, case, Status.IN_PROGRESS, start)
        self.move(inspector, case, Status.SUBMITTED, submit, "整改完成，申请销号。", evidence)
        return self.move(actor, case, Status.COMPLETED, close, "经验收，整改到位，予以销号。")


def load_demo(*, today: date | None = None, log: Callable[[str], Any] = lambda _: None) -> str:
    """Create the demo once; a second run finds everything in place and changes nothing."""
    clock = Clock(today or timezone.localdate())
    with transaction.atomic():
        b = Builder(clock)
        accounts = _organisation(b)
        if Inspection.objects.filter(code="YS2023").exists():
            log("演示数据已存在，未作改动。 Demo data already loaded; nothing changed.")
        else:
            _ledgers(b, accounts, log)
    return (
        f"演示数据就绪：{Unit.objects.count()} 个单位，{Inspection.objects.count()} 个检查/台账，"
        f"{Case.objects.count()} 个整改问题。账号 supervisor / inspector_lc / inspector_gp / "
        f"api_reader / admin，密码 {DEMO_PASSWORD}。"
    )


def _organisation(b: Builder) -> dict[str, User]:
    province = b.unit("山西省", None, Unit.Level.PROVINCE)
    b.unit(
        "山西省纪委监委",
        province,
        Unit.Level.DEPARTMENT,
        is_supervising_body=True,
        is_responsible_unit=False,
    )
    city = b.unit("晋城市", province, Unit.Level.CITY)
    commission = b.unit(
        "晋城市纪委监委",
        city,
        Unit.Level.DEPARTMENT,
        is_supervising_body=True,
        is_responsible_unit=False,
    )
    b.unit("中共晋城市委", city, Unit.Level.DEPARTMENT, is_responsible_unit=False)
    b.unit("晋城市行政审批服务管理局", city, Unit.Level.DEPARTMENT)
    for name in CITY_DEPARTMENTS:
        b.unit(name, city, Unit.Level.DEPARTMENT)
    b.unit("晋城市应急管理局", city, Unit.Level.DEPARTMENT)
    market = b.unit("晋城市市场监督管理局", city, Unit.Level.DEPARTMENT)
    b.unit("市市场监管局开发区分局", market, Unit.Level.DEPARTMENT)
    b.unit("晋城经济技术开发区", city, Unit.Level.DEPARTMENT)
    for county_name in COUNTIES:
        county = b.unit(county_name, city, Unit.Level.COUNTY)
        b.unit(
            f"{county_name}纪委监委",
            county,
            Unit.Level.DEPARTMENT,
            is_supervising_body=True,
            is_responsible_unit=False,
        )
        hall = (
            "高平市政务服务中心" if county_name == "高平市" else f"{county_name}行政审批服务管理局"
        )
        b.unit(hall, county, Unit.Level.DEPARTMENT)
        b.units[f"{county_name}:hall"] = b.units[hall]
        b.unit(f"{county_name}规划和自然资源局", county, Unit.Level.DEPARTMENT)
        b.unit(f"{county_name}应急管理局", county, Unit.Level.DEPARTMENT)
    lingchuan = b.units["陵川县"]
    b.unit("陵川生态文化旅游示范区行政审批局", lingchuan, Unit.Level.DEPARTMENT)
    b.unit("营盘村党支部", lingchuan, Unit.Level.DEPARTMENT)
    return {
        "supervisor": b.account("supervisor", commission, Role.SUPERVISOR, "市纪委监委监督员"),
        "inspector_lc": b.account(
            "inspector_lc", b.units["陵川生态文化旅游示范区行政审批局"], Role.INSPECTOR, "杨海忠"
        ),
        "inspector_gp": b.account(
            "inspector_gp", b.units["高平市政务服务中心"], Role.INSPECTOR, "田康"
        ),
        "api_reader": b.account("api_reader", commission, Role.API_READER, "大屏接口"),
        "admin": b.account("admin", None, "", "系统管理员", superuser=True),
    }


def _ledgers(b: Builder, accounts: dict[str, User], log: Callable[[str], Any]) -> None:
    sup = accounts["supervisor"]
    u = b.units
    commission = u["晋城市纪委监委"]
    created = -230  # the inspections fed back about seven and a half months ago

    def inspection(code: str, name: str, kind: str, issuing: Unit | None = None) -> Inspection:
        return organisation.inspection_create(
            code=code,
            name=name,
            kind=kind,
            year=2023,
            issuing_unit=issuing or commission,
            supervising_unit=commission,
        )

    def case(insp: Inspection, title: str, unit: Unit, deadline: int, **kw: Any) -> Case:
        return services.case_create(
            actor=sup,
            inspection=insp,
            title=title,
            responsible_unit=unit,
            deadline=b.clock.day(deadline),
            at=b.clock.at(kw.pop("day", created)),
            **kw,
        )

    # 1. Business environment: the province's 58 items and the 263 items, all done (100%).
    log("优化营商环境专项检查：58 项 + 263 项 …")
    ys = inspection("YS2023", "2023年优化营商环境政治监督专项检查", Inspection.Kind.SPECIAL)
    p58 = case(
        ys,
        "省纪委监委反馈：58项行政许可事项未进驻政务大厅",
        u["晋城市行政审批服务管理局"],
        -40,
        source=Case.Source.PROVINCE_FEEDBACK,
        description="2023年5月，省纪委监委检查反馈我市58项行政许可事项未进驻政务大厅。"
        "按照“应进必进、能进则进”原则，采取纳入负面清单、对原有窗口充分授权、"
        "新设窗口、委托受理4种方式整改。",
        measures="成立“紧盯难点、一体纠治”工作专班全面起底排查，逐项明确进驻方式。",
        checklist=["58项事项逐项核对到位"],
    )
    b.move(sup, p58, Status.IN_PROGRESS, -220)
    methods = [m for m, n in METHODS_56 for _ in range(n)] + [Case.Method.NEGATIVE_LIST] * 2
    for index, method in enumerate(methods, start=1):
        dept = u[CITY_DEPARTMENTS[index % len(CITY_DEPARTMENTS)]]
        item = case(
            ys,
            f"{LICENCES[index % len(LICENCES)]}（第{index}项）未进驻政务大厅",
            dept,
            -40,
            parent=p58,
            source=Case.Source.PROVINCE_FEEDBACK,
            method=method,
            checklist=[] if method == Case.Method.NEGATIVE_LIST else VERIFY_HALL,
        )
        if method == Case.Method.NEGATIVE_LIST:
            b.finish(
                sup,
                sup,
                item,
                start=0,
                submit=0,
                close=-70,
                exempt="该事项涉及专业场地和设备，经研究纳入进驻大厅负面清单。",
            )
        else:
            # Most closed before the deadline; the last few a little after it.
            close = -45 if index <= 50 else -35
            b.finish(
                sup,
                sup,
                item,
                start=-200,
                submit=close - 5,
                close=close,
                evidence=["窗口运行照片.png"] if index % 10 == 1 else None,
            )
    b.finish(
        sup,
        sup,
        p58,
        start=None,
        submit=-33,
        close=-30,
        evidence=["58项行政许可事项进驻情况报告.pdf"],
    )

    for area, count in ITEMS_263.items():
        unit = u["晋城市行政审批服务管理局"] if area == "市本级" else u[f"{area}:hall"]
        hall = case(
            ys,
            f"{area}应进未进政务大厅行政许可事项全面起底纠治（{count}项）",
            unit,
            -60,
            source=Case.Source.SELF_FOUND,
            owner=accounts["inspector_gp"] if unit == u["高平市政务服务中心"] else None,
        )
        inspector = accounts["inspector_gp"] if unit == u["高平市政务服务中心"] else sup
        b.move(inspector, hall, Status.IN_PROGRESS, -200)
        for number in range(1, count + 1):
            item = case(
                ys,
                f"{area}应进未进事项第{number}项",
                unit,
                -60,
                parent=hall,
                source=Case.Source.SELF_FOUND,
                method=[
                    Case.Method.WINDOW_AUTHORISATION,
                    Case.Method.NEW_WINDOW,
                    Case.Method.ENTRUSTED,
                ][number % 3],
            )
            b.finish(sup, inspector, item, start=-190, submit=-80, close=-75)
        b.finish(
            sup,
            inspector,
            hall,
            start=None,
            submit=-72,
            close=-70,
            evidence=[f"{area}行政许可事项进驻政务大厅清单.pdf"],
        )

    # 2. The city committee's rectification plan: 王莽岭, 8 projects.
    log("整改方案：王莽岭 8 个项目 …")
    plan = inspection(
        "ZGFA2023",
        "《关于落实优化营商环境政治监督专项检查反馈意见的整改方案》",
        Inspection.Kind.PLAN,
        issuing=u["中共晋城市委"],
    )
    lc = accounts["inspector_lc"]
    wml = case(
        plan,
        "王莽岭景区基础设施提升改造工程8个项目未按规定办理开工手续",
        u["陵川生态文化旅游示范区行政审批局"],
        20,
        owner=lc,
        amount=Decimal("2274000000.00"),
        is_key_problem=False,
        description="王莽岭景区基础设施提升改造工程是省级重点工程，总投资22.74亿元，涉及20余个"
        "项目，其中8个项目未按规定办理开工手续。",
        measures="管委会会同相关单位逐个项目梳理，找准问题症结，制订切实可行的办法措施。",
    )
    b.move(lc, wml, Status.IN_PROGRESS, -180)
    for title, outcome in WANGMANGLING:
        deadline = {"completed": -20, "near": 5, "land": 20, "policy": 20}[outcome]
        item = case(
            plan,
            title,
            u["陵川生态文化旅游示范区行政审批局"],
            deadline,
            parent=wml,
            owner=lc,
            checklist=["开工手续已依法补办", "相关批复文件已归档"],
        )
        if outcome == "completed":
            b.finish(
                sup,
                lc,
                item,
                start=-170,
                submit=-50,
                close=-40,
                evidence=[f"{title}开工手续批复文件.pdf"],
            )
        elif outcome == "near":
            b.move(lc, item, Status.IN_PROGRESS, -150)
            services.case_update_rectification(
                actor=lc,
                case_id=item.pk,
                progress="用地预审已通过，施工许可近期可办结。",
                at=b.clock.at(-3),
            )
        else:
            b.move(lc, item, Status.IN_PROGRESS, -150)
            reason = (
                "项目用地已组卷上报，等待上级审批。"
                if outcome == "land"
                else "涉及生态保护红线，正寻求上级政策指导。"
            )
            b.move(lc, item, Status.ESCALATED, -60, reason)

    # 3. Six key difficult problems under special report (专报批办).
    log("重点难点问题 6 个 …")
    key = inspection("ZDNN2023", "重点难点问题专报批办清单", Inspection.Kind.KEY_PROBLEMS)
    key_problems = [
        ("晋城经济技术开发区低效土地利用问题", "晋城经济技术开发区", 30, Status.IN_PROGRESS),
        (
            "市市场监管局开发区分局审批权与监管权未完全分离",
            "市市场监管局开发区分局",
            -8,
            Status.IN_PROGRESS,
        ),
        ("（示例）城区老旧小区改造项目审批久拖未决", "城区行政审批服务管理局", 4, Status.SUBMITTED),
        (
            "（示例）泽州县工业园区历史遗留用地手续不全",
            "泽州县规划和自然资源局",
            45,
            Status.ESCALATED,
        ),
        ("（示例）阳城县矿山生态修复责任主体不明确", "阳城县规划和自然资源局", -15, Status.OPEN),
        (
            "（示例）沁水县煤层气项目审批服务效率不高",
            "沁水县行政审批服务管理局",
            60,
            Status.IN_PROGRESS,
        ),
    ]
    for title, unit_name, deadline, status in key_problems:
        item = case(
            key,
            title,
            u[unit_name],
            deadline,
            is_key_problem=True,
            checklist=["整改措施落实到位", "长效机制已建立"],
        )
        _advance(b, sup, item, status)

    # 4. Cultivated land protection: 12 problems, 9 done: 75%.
    log("耕地保护专项检查：75% …")
    land = inspection("GDBH2023", "2023年耕地保护政治监督专项检查", Inspection.Kind.SPECIAL)
    open_land = {1: (Status.IN_PROGRESS, -10), 6: (Status.IN_PROGRESS, 3), 10: (Status.OPEN, 40)}
    for number in range(12):
        county = COUNTIES[number % 6]
        status, deadline = open_land.get(number, (Status.COMPLETED, -25))
        topic = ["违法占用耕地建房", "永久基本农田“非粮化”", "耕地占补平衡落实不到位"][number % 3]
        item = case(
            land,
            f"{county}{topic}问题",
            u[f"{county}规划和自然资源局"],
            deadline,
            checklist=["现场核查已复耕复绿"],
        )
        if status == Status.COMPLETED:
            late = number in (3, 8)  # two closed after their deadline
            b.finish(
                sup,
                sup,
                item,
                start=-200,
                submit=-35 if late else -60,
                close=-20 if late else -50,
                evidence=["复耕复绿现场照片.png"],
            )
        else:
            _advance(b, sup, item, status)

    # 5. Work safety: under way, below 100%.
    log("安全生产专项检查：正在推进 …")
    safety = inspection("AQSC2023", "2023年安全生产政治监督专项检查", Inspection.Kind.SPECIAL)
    safety_cases = [
        ("高平市政务大厅消防通道堵塞", "高平市政务服务中心", 6, Status.IN_PROGRESS),
        ("城区燃气管网老化隐患排查不彻底", "城区应急管理局", -5, Status.IN_PROGRESS),
        ("泽州县非煤矿山安全监管不到位", "泽州县应急管理局", 25, Status.OPEN),
        ("阳城县危化品企业风险分级管控缺失", "阳城县应急管理局", -3, Status.OPEN),
        ("陵川县景区游乐设施安全检查流于形式", "陵川县应急管理局", 2, Status.SUBMITTED),
        ("沁水县道路交通安全隐患整治滞后", "沁水县应急管理局", 50, Status.IN_PROGRESS),
        ("市应急管理局安全生产执法检查计划未落实", "晋城市应急管理局", -40, Status.COMPLETED),
        ("城区建筑施工安全专项整治不到位", "城区应急管理局", -40, Status.COMPLETED),
        ("高平市煤矿安全隐患整改不闭环", "高平市应急管理局", -40, Status.COMPLETED),
        ("泽州县消防安全责任制落实不到位", "泽州县应急管理局", -40, Status.COMPLETED),
    ]
    for title, unit_name, deadline, status in safety_cases:
        item = case(safety, title, u[unit_name], deadline, day=-120)
        if unit_name == "高平市政务服务中心":
            gp = accounts["inspector_gp"]
            b.move(gp, item, Status.IN_PROGRESS, -90)
            services.case_update_rectification(
                actor=gp,
                case_id=item.pk,
                measures="清理通道堆放物，设置禁止占用标识，落实每日巡查。",
                progress="通道已清理，标识制作中。",
                at=b.clock.at(-2),
            )
            services.evidence_add(
                actor=gp,
                case_id=item.pk,
                upload=_file("消防通道清理照片.png"),
                note="清理后现场照片",
                at=b.clock.at(-2, 16),
            )
        elif status == Status.COMPLETED:
            b.finish(sup, sup, item, start=-100, submit=-50, close=-45)
        else:
            _advance(b, sup, item, status)

    # 6. The clue ledger: commission staff only.
    log("问题线索台账（限纪委监委）…")
    clues = inspection(
        "XSTZ2023", "涉黑涉恶腐败和“保护伞”问题线索台账", Inspection.Kind.CLUE_LEDGER
    )
    for number, county in enumerate(COUNTIES[:5], start=1):
        item = case(
            clues,
            f"（示例）问题线索{number:02d}：{county}涉黑涉恶腐败问题线索核查",
            u[f"{county}纪委监委"],
            30 - number * 10,
            description="线索内容仅限纪委监委工作人员查阅。",
        )
        _advance(b, sup, item, [Status.IN_PROGRESS, Status.OPEN][number % 2])


def _advance(b: Builder, sup: User, case: Case, status: str) -> None:
    """Bring an open case to a not-done `status` through the workflow."""
    if status == Status.OPEN:
        return
    b.move(sup, case, Status.IN_PROGRESS, -100)
    services.case_update_rectification(
        actor=sup,
        case_id=case.pk,
        measures="制定整改方案，明确责任人和时间节点。",
        at=b.clock.at(-99),
    )
    if status == Status.SUBMITTED:
        b.move(sup, case, Status.SUBMITTED, -5, "已按方案完成整改，申请验收销号。")
    elif status == Status.ESCALATED:
        b.move(sup, case, Status.ESCALATED, -30, "涉及上级政策，已组卷上报寻求上级政策指导。")
