"""`socialear customers import FILE`: the customer directory from a CSV export.

Columns (header row required): customer_id, platform, handle, and optionally segment,
account_number (stored masked), ltv_band. One identity per row; rows for the same
customer add up (an import never unlinks). A bad row is reported with its line number
and skipped; the good rows are kept (each customer in its own transaction).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

from socialear.errors import UserError
from storage import customers
from storage.engine import Engine, session_scope

REQUIRED = ("customer_id", "platform", "handle")


def import_csv(engine: Engine, path: Path, actor: str = "cli") -> dict[str, Any]:
    errors: list[str] = []
    grouped: dict[str, dict[str, Any]] = defaultdict(lambda: {"identities": [], "fields": {}})
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}: the header lacks {', '.join(missing)}")
        for row in reader:
            line = reader.line_num
            try:
                cid = customers.check_id((row.get("customer_id") or "").strip())
                ident = customers.Identity.parse(row.get("platform") or "", row.get("handle") or "")
                segment = customers.check_segment(row.get("segment"))
            except customers.CustomerError as exc:
                errors.append(f"{path}:{line}: {exc}")
                continue
            entry = grouped[cid]
            entry["identities"].append(ident)
            for key, value in (("segment", segment), ("account_number", row.get("account_number")),
                               ("ltv_band", row.get("ltv_band"))):
                if value:
                    entry["fields"][key] = value
    linked = 0
    for cid, entry in grouped.items():
        fields = entry["fields"]
        with session_scope(engine) as session:
            result = customers.link(session, actor, cid, segment=fields.get("segment"),
                                    identities=entry["identities"],
                                    account_number=fields.get("account_number"),
                                    ltv_band=fields.get("ltv_band"), replace=False)
        linked += result["linked"]
    return {"customers": len(grouped), "linked": linked, "errors": errors}
