"""The Jincheng demo ledger (晋城市纪委监委, 2023), from the report in shared/seeds.

Every figure of the report is a state built through the services, with its history, so the
dashboard, the API and the exports compute the report's rates instead of reading them:
- 优化营商环境专项检查: 58 licensing items (56 admitted, each with its method, 2 on the negative
  list) and the city and six counties' 263 items, all done: 100%;
- the city committee's rectification plan: 王莽岭, 8 projects: 3 rectified, 1 close to done,
  2 land dossiers reported upward, 2 awaiting higher-level policy guidance;
- 6 key problems under special report (4 unnamed in the report, marked 示例);
- 耕地保护: 75%; 安全生产: under way; the clue ledger: restricted to the commission.
Dates are placed relative to the day it is built, and every later load moves the open cases'
deadlines with the date (a 延期 in their history), so the demo always shows overdue and
due-soon cases.
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
from .demo_data import (
    CITY_DEPARTMENTS,
    COUNTIES,
    CREATED,
    DEMO_INSPECTIONS,
    HALL_METHODS,
    ITEMS_263,
    KEY_PROBLEMS,
    LAND_TOPICS,
    LATE_LAND,
    LICENCES,
    METHODS_56,
    OPEN_LAND,
    PROJECT_DEADLINES,
    REDATE_REASON,
    SAFETY_CASES,
    SUPERVISING_BODY,
    VERIFY_HALL,
    WANGMANGLING,
)
from .models import Case, Inspection, Unit, User
from .workflow import Role, Status

DEMO_PASSWORD = "jincheng-demo"  # noqa: S105  (documented demo accounts)


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

    def liaison(self, unit: Unit) -> User:
        """Who makes the unit's moves on its cases (start, submit, escalate): its first
        inspector (inspector_lc, inspector_gp), else a liaison account made for it that cannot
        sign in; a commission's own cases (the restricted clue ledger, which inspectors never
        see) are its supervisor's. The commission's `supervisor` verifies and closes: never
        the person, nor the unit, who submitted (cases.rules)."""
        role = Role.SUPERVISOR if unit.is_supervising_body else Role.INSPECTOR
        user = User.objects.filter(unit=unit, role=role).order_by("pk").first()
        if user is None:
            number = User.objects.filter(username__startswith="liaison").count() + 1
            user = organisation.user_create(
                username=f"liaison{number:02d}",
                password=None,
                unit=unit,
                role=role,
                full_name=f"{unit.name}整改联络员",
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
            notes={pk: "经核查，符合要求。" for pk in confirm},
            evidence=[_file(name) for name in evidence or []],
            at=self.clock.at(day, 15),
        )

    def finish(
        self,
        actor: User,
        case: Case,
        *,
        start: int | None,
        submit: int,
        close: int,
        evidence: list[str] | None = None,
        exempt: str = "",
    ) -> Case:
        """Take a case through to its end: started (unless `start` is None: it already is),
        submitted by the unit's liaison, verified and closed by `actor`."""
        inspector = self.liaison(case.responsible_unit)
        if exempt:
            return self.move(actor, case, Status.EXEMPTED, close, exempt)
        if start is not None:
            self.move(inspector, case, Status.IN_PROGRESS, start)
        self.move(inspector, case, Status.SUBMITTED, submit, "整改完成，申请销号。", evidence)
        return self.move(actor, case, Status.COMPLETED, close, "经验收，整改到位，予以销号。")


def load_demo(*, today: date | None = None, log: Callable[[str], Any] = lambda _: None) -> str:
    """Create the demo once; a later run keeps what exists and only moves the open cases'
    deadlines to the same distance from today as when it was built (nothing, the same day)."""
    clock = Clock(today or timezone.localdate())
    with transaction.atomic():
        b = Builder(clock)
        accounts = _organisation(b)
        if Inspection.objects.filter(code="YS2023").exists():
            moved = _redate(clock, accounts["supervisor"])
            log(
                f"演示数据已存在，{moved} 个未办结问题的时限已顺延到今天的相对位置。 "
                f"Demo data already loaded; {moved} open cases' deadlines moved with the date."
            )
        else:
            Ledgers(b, accounts, log).build()
    return (
        f"演示数据就绪：{Unit.objects.count()} 个单位，{Inspection.objects.count()} 个检查/台账，"
        f"{Case.objects.count()} 个整改问题。账号 supervisor / inspector_lc / inspector_gp / "
        f"unitadmin_gp / api_reader / admin，密码 {DEMO_PASSWORD}。"
    )


def _redate(clock: Clock, supervisor: User) -> int:
    """Every open case the demo built gets back the distance from today its deadline had on the
    day it was built: its original deadline moved by the days since, a 延期 by the supervisor
    in its history. The demo's own cases are the ones dated before that day; a case added
    while trying the demo out keeps its deadline."""
    built = timezone.localdate(Inspection.objects.get(code="YS2023").created_at)
    elapsed = clock.today - built
    start_of_build = timezone.make_aware(datetime.combine(built, time.min))
    cases = (
        Case.objects.filter(inspection__code__in=DEMO_INSPECTIONS, created_at__lt=start_of_build)
        .exclude(status__in=[Status.COMPLETED, Status.EXEMPTED])
        .order_by("id")
    )
    moved = 0
    for case in cases:
        target = case.original_deadline + elapsed
        if case.deadline != target:
            services.case_extend_deadline(
                actor=supervisor, case_id=case.pk, deadline=target, reason=REDATE_REASON
            )
            moved += 1
    return moved


def _organisation(b: Builder) -> dict[str, User]:
    province = b.unit("山西省", None, Unit.Level.PROVINCE)
    b.unit("山西省纪委监委", province, Unit.Level.DEPARTMENT, **SUPERVISING_BODY)
    city = b.unit("晋城市", province, Unit.Level.CITY)
    commission = b.unit("晋城市纪委监委", city, Unit.Level.DEPARTMENT, **SUPERVISING_BODY)
    b.unit("中共晋城市委", city, Unit.Level.DEPARTMENT, is_responsible_unit=False)
    b.unit("晋城市行政审批服务管理局", city, Unit.Level.DEPARTMENT)
    for name in CITY_DEPARTMENTS:
        b.unit(name, city, Unit.Level.DEPARTMENT)
    b.unit("晋城市应急管理局", city, Unit.Level.DEPARTMENT)
    market = b.unit("晋城市市场监督管理局", city, Unit.Level.DEPARTMENT)
    b.unit("市市场监管局开发区分局", market, Unit.Level.DEPARTMENT)
    b.unit("晋城经济技术开发区", city, Unit.Level.DEPARTMENT)
    for county_name in COUNTIES:
        _county(b, county_name, city)
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
        "unitadmin_gp": b.account(
            "unitadmin_gp",
            b.units["高平市政务服务中心"],
            Role.UNIT_ADMIN,
            "高平市政务服务中心管理员",
        ),
        "api_reader": b.account("api_reader", commission, Role.API_READER, "大屏接口"),
        "admin": b.account("admin", None, "", "系统管理员", superuser=True),
    }


def _county(b: Builder, name: str, city: Unit) -> None:
    """A county with its commission, its service hall (also known as "<county>:hall"), its
    natural resources bureau and its emergency management bureau."""
    county = b.unit(name, city, Unit.Level.COUNTY)
    b.unit(f"{name}纪委监委", county, Unit.Level.DEPARTMENT, **SUPERVISING_BODY)
    hall = "高平市政务服务中心" if name == "高平市" else f"{name}行政审批服务管理局"
    b.unit(hall, county, Unit.Level.DEPARTMENT)
    b.units[f"{name}:hall"] = b.units[hall]
    b.unit(f"{name}规划和自然资源局", county, Unit.Level.DEPARTMENT)
    b.unit(f"{name}应急管理局", county, Unit.Level.DEPARTMENT)


class Ledgers:
    """The six ledgers of the report, each case written through the services on its day."""

    def __init__(self, b: Builder, accounts: dict[str, User], log: Callable[[str], Any]) -> None:
        self.b = b
        self.u = b.units
        self.accounts = accounts
        self.sup = accounts["supervisor"]
        self.log = log

    def build(self) -> None:
        self.business_environment()
        self.wangmangling()
        self.key_problems()
        self.cultivated_land()
        self.work_safety()
        self.clue_ledger()

    def inspection(
        self, code: str, name: str, kind: str, issuing: Unit | None = None
    ) -> Inspection:
        commission = self.u["晋城市纪委监委"]
        return organisation.inspection_create(
            code=code,
            name=name,
            kind=kind,
            year=2023,
            issuing_unit=issuing or commission,
            supervising_unit=commission,
        )

    def case(self, insp: Inspection, title: str, unit: Unit, deadline: int, **kw: Any) -> Case:
        return services.case_create(
            actor=self.sup,
            inspection=insp,
            title=title,
            responsible_unit=unit,
            deadline=self.b.clock.day(deadline),
            at=self.b.clock.at(kw.pop("day", CREATED)),
            **kw,
        )

    # --- 1. Business environment: the province's 58 items and the 263 items, all done ---

    def business_environment(self) -> None:
        self.log("优化营商环境专项检查：58 项 + 263 项 …")
        ys = self.inspection(
            "YS2023", "2023年优化营商环境政治监督专项检查", Inspection.Kind.SPECIAL
        )
        self.licensing_items(ys)
        for area, count in ITEMS_263.items():
            self.hall_items(ys, area, count)

    def licensing_items(self, ys: Inspection) -> None:
        sup = self.sup
        p58 = self.case(
            ys,
            "省纪委监委反馈：58项行政许可事项未进驻政务大厅",
            self.u["晋城市行政审批服务管理局"],
            -40,
            source=Case.Source.PROVINCE_FEEDBACK,
            description="2023年5月，省纪委监委检查反馈我市58项行政许可事项未进驻政务大厅。"
            "按照“应进必进、能进则进”原则，采取纳入负面清单、对原有窗口充分授权、"
            "新设窗口、委托受理4种方式整改。",
            measures="成立“紧盯难点、一体纠治”工作专班全面起底排查，逐项明确进驻方式。",
            checklist=["58项事项逐项核对到位"],
        )
        self.b.move(self.b.liaison(p58.responsible_unit), p58, Status.IN_PROGRESS, -220)
        methods = [m for m, n in METHODS_56 for _ in range(n)] + [Case.Method.NEGATIVE_LIST] * 2
        for index, method in enumerate(methods, start=1):
            self.licensing_item(ys, p58, index, method)
        self.b.finish(
            sup,
            p58,
            start=None,
            submit=-33,
            close=-30,
            evidence=["58项行政许可事项进驻情况报告.pdf"],
        )

    def licensing_item(self, ys: Inspection, p58: Case, index: int, method: str) -> None:
        negative = method == Case.Method.NEGATIVE_LIST
        item = self.case(
            ys,
            f"{LICENCES[index % len(LICENCES)]}（第{index}项）未进驻政务大厅",
            self.u[CITY_DEPARTMENTS[index % len(CITY_DEPARTMENTS)]],
            -40,
            parent=p58,
            source=Case.Source.PROVINCE_FEEDBACK,
            method=method,
            checklist=[] if negative else VERIFY_HALL,
        )
        if negative:
            exempt = "该事项涉及专业场地和设备，经研究纳入进驻大厅负面清单。"
            self.b.finish(self.sup, item, start=0, submit=0, close=-70, exempt=exempt)
            return
        # Most closed before the deadline; the last few a little after it.
        close = -45 if index <= 50 else -35
        self.b.finish(
            self.sup,
            item,
            start=-200,
            submit=close - 5,
            close=close,
            evidence=["窗口运行照片.png"] if index % 10 == 1 else None,
        )

    def hall_items(self, ys: Inspection, area: str, count: int) -> None:
        u = self.u
        unit = u["晋城市行政审批服务管理局"] if area == "市本级" else u[f"{area}:hall"]
        gaoping = unit == u["高平市政务服务中心"]
        hall = self.case(
            ys,
            f"{area}应进未进政务大厅行政许可事项全面起底纠治（{count}项）",
            unit,
            -60,
            source=Case.Source.SELF_FOUND,
            owner=self.accounts["inspector_gp"] if gaoping else None,
        )
        inspector = self.b.liaison(unit)
        self.b.move(inspector, hall, Status.IN_PROGRESS, -200)
        for number in range(1, count + 1):
            item = self.case(
                ys,
                f"{area}应进未进事项第{number}项",
                unit,
                -60,
                parent=hall,
                source=Case.Source.SELF_FOUND,
                method=HALL_METHODS[number % 3],
            )
            self.b.finish(self.sup, item, start=-190, submit=-80, close=-75)
        self.b.finish(
            self.sup,
            hall,
            start=None,
            submit=-72,
            close=-70,
            evidence=[f"{area}行政许可事项进驻政务大厅清单.pdf"],
        )

    # --- 2. The city committee's rectification plan: 王莽岭, 8 projects ---

    def wangmangling(self) -> None:
        self.log("整改方案：王莽岭 8 个项目 …")
        plan = self.inspection(
            "ZGFA2023",
            "《关于落实优化营商环境政治监督专项检查反馈意见的整改方案》",
            Inspection.Kind.PLAN,
            issuing=self.u["中共晋城市委"],
        )
        lc = self.accounts["inspector_lc"]
        wml = self.case(
            plan,
            "王莽岭景区基础设施提升改造工程8个项目未按规定办理开工手续",
            self.u["陵川生态文化旅游示范区行政审批局"],
            20,
            owner=lc,
            amount=Decimal("2274000000.00"),
            is_key_problem=False,
            description="王莽岭景区基础设施提升改造工程是省级重点工程，总投资22.74亿元，涉及20余个"
            "项目，其中8个项目未按规定办理开工手续。",
            measures="管委会会同相关单位逐个项目梳理，找准问题症结，制订切实可行的办法措施。",
        )
        self.b.move(lc, wml, Status.IN_PROGRESS, -180)
        for title, outcome in WANGMANGLING:
            self.project(plan, wml, title, outcome)

    def project(self, plan: Inspection, wml: Case, title: str, outcome: str) -> None:
        lc = self.accounts["inspector_lc"]
        item = self.case(
            plan,
            title,
            self.u["陵川生态文化旅游示范区行政审批局"],
            PROJECT_DEADLINES[outcome],
            parent=wml,
            owner=lc,
            checklist=["开工手续已依法补办", "相关批复文件已归档"],
        )
        if outcome == "completed":
            evidence = [f"{title}开工手续批复文件.pdf"]
            self.b.finish(self.sup, item, start=-170, submit=-50, close=-40, evidence=evidence)
            return
        self.b.move(lc, item, Status.IN_PROGRESS, -150)
        if outcome == "near":
            services.case_update_rectification(
                actor=lc,
                case_id=item.pk,
                progress="用地预审已通过，施工许可近期可办结。",
                at=self.b.clock.at(-3),
            )
            return
        reason = (
            "项目用地已组卷上报，等待上级审批。"
            if outcome == "land"
            else "涉及生态保护红线，正寻求上级政策指导。"
        )
        self.b.move(lc, item, Status.ESCALATED, -60, reason)

    # --- 3. to 6.: key problems, cultivated land, work safety, the clue ledger ---

    def key_problems(self) -> None:
        self.log("重点难点问题 6 个 …")
        key = self.inspection("ZDNN2023", "重点难点问题专报批办清单", Inspection.Kind.KEY_PROBLEMS)
        for title, unit_name, deadline, status in KEY_PROBLEMS:
            item = self.case(
                key,
                title,
                self.u[unit_name],
                deadline,
                is_key_problem=True,
                checklist=["整改措施落实到位", "长效机制已建立"],
            )
            _advance(self.b, item, status)

    def cultivated_land(self) -> None:
        """12 problems, 9 done: 75%."""
        self.log("耕地保护专项检查：75% …")
        land = self.inspection(
            "GDBH2023", "2023年耕地保护政治监督专项检查", Inspection.Kind.SPECIAL
        )
        for number in range(12):
            county = COUNTIES[number % 6]
            status, deadline = OPEN_LAND.get(number, (Status.COMPLETED, -25))
            item = self.case(
                land,
                f"{county}{LAND_TOPICS[number % 3]}问题",
                self.u[f"{county}规划和自然资源局"],
                deadline,
                checklist=["现场核查已复耕复绿"],
            )
            if status != Status.COMPLETED:
                _advance(self.b, item, status)
                continue
            late = number in LATE_LAND
            self.b.finish(
                self.sup,
                item,
                start=-200,
                submit=-35 if late else -60,
                close=-20 if late else -50,
                evidence=["复耕复绿现场照片.png"],
            )

    def work_safety(self) -> None:
        """Under way, below 100%."""
        self.log("安全生产专项检查：正在推进 …")
        safety = self.inspection(
            "AQSC2023", "2023年安全生产政治监督专项检查", Inspection.Kind.SPECIAL
        )
        for title, unit_name, deadline, status in SAFETY_CASES:
            item = self.case(safety, title, self.u[unit_name], deadline, day=-120)
            if unit_name == "高平市政务服务中心":
                self.fire_exit(item)
            elif status == Status.COMPLETED:
                self.b.finish(self.sup, item, start=-100, submit=-50, close=-45)
            else:
                _advance(self.b, item, status)

    def fire_exit(self, item: Case) -> None:
        """高平市's blocked fire exit: its inspector at work, with a photo two days ago."""
        gp = self.accounts["inspector_gp"]
        self.b.move(gp, item, Status.IN_PROGRESS, -90)
        services.case_update_rectification(
            actor=gp,
            case_id=item.pk,
            measures="清理通道堆放物，设置禁止占用标识，落实每日巡查。",
            progress="通道已清理，标识制作中。",
            at=self.b.clock.at(-2),
        )
        services.evidence_add(
            actor=gp,
            case_id=item.pk,
            upload=_file("消防通道清理照片.png"),
            note="清理后现场照片",
            at=self.b.clock.at(-2, 16),
        )

    def clue_ledger(self) -> None:
        """Commission staff only."""
        self.log("问题线索台账（限纪委监委）…")
        clues = self.inspection(
            "XSTZ2023", "涉黑涉恶腐败和“保护伞”问题线索台账", Inspection.Kind.CLUE_LEDGER
        )
        for number, county in enumerate(COUNTIES[:5], start=1):
            item = self.case(
                clues,
                f"（示例）问题线索{number:02d}：{county}涉黑涉恶腐败问题线索核查",
                self.u[f"{county}纪委监委"],
                30 - number * 10,
                description="线索内容仅限纪委监委工作人员查阅。",
            )
            _advance(self.b, item, [Status.IN_PROGRESS, Status.OPEN][number % 2])


def _advance(b: Builder, case: Case, status: str) -> None:
    """Bring an open case to a not-done `status` through the workflow, by its unit's liaison."""
    if status == Status.OPEN:
        return
    liaison = b.liaison(case.responsible_unit)
    b.move(liaison, case, Status.IN_PROGRESS, -100)
    services.case_update_rectification(
        actor=liaison,
        case_id=case.pk,
        measures="制定整改方案，明确责任人和时间节点。",
        at=b.clock.at(-99),
    )
    if status == Status.SUBMITTED:
        b.move(liaison, case, Status.SUBMITTED, -5, "已按方案完成整改，申请验收销号。")
    elif status == Status.ESCALATED:
        b.move(liaison, case, Status.ESCALATED, -30, "涉及上级政策，已组卷上报寻求上级政策指导。")
