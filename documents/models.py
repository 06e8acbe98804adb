"""The drafting templates of the documents (公文): one row per version, never edited.

The latest version of a kind is in force; where there is none the text shipped in
documents/drafts/ is. The versions are the record of who changed a commission's wording and
when (a version is only ever added, by `documents.services.document_template_save`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DocumentTemplate(models.Model):
    class Kind(models.TextChoices):
        PROGRESS = "progress", _("整改进展情况报告")
        NOTICE = "notice", _("整改情况通报")

    kind = models.CharField(_("公文类型"), max_length=16, choices=Kind.choices)
    title = models.CharField(_("标题模板"), max_length=300)
    body = models.TextField(_("正文模板"))
    # The 版记 (GB/T 9704): whom the document is copied to, and who prints it (empty: the
    # setting DOCUMENT_ISSUER, else the downloading user's unit).
    copy_to = models.CharField(_("抄送"), max_length=500, blank=True)
    issuer = models.CharField(_("印发机关"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("修改人"),
    )
    created_at = models.DateTimeField(_("修改时间"), default=timezone.now)

    class Meta:
        verbose_name = _("公文模板")
        verbose_name_plural = _("公文模板")
        ordering = ["kind", "-created_at", "-id"]
        indexes = [
            # The version in force: the latest of a kind, read by every download.
            models.Index(fields=["kind", "-created_at", "-id"], name="doc_template_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {timezone.localtime(self.created_at):%Y-%m-%d %H:%M}"
