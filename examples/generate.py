"""Generate the bundled example data: a small SaaS shop's customers, CSAT and tickets.

Seeded, so the committed files are reproducible: ``python examples/generate.py``.
Six months of records ending at END, seven features with different satisfaction, 40
issues (some closed, some only referenced explicitly), a few bad rows to quarantine.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
END = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DAYS = 182
SEED = 20261123
REPO = "acme/shop"

# name: (tag aliases seen in the data, label, dissatisfied share before/after, volume weight)
FEATURES = {
    "checkout": (["checkout", "payments", "Check-Out"], "area/checkout", (0.30, 0.48), 5),
    "search": (["search", "search_results"], "area/search", (0.25, 0.22), 4),
    "login": (["login", "sso", "2fa"], "area/auth", (0.20, 0.33), 3),
    "notifications": (["notifications", "email-alerts"], "area/notifications", (0.18, 0.17), 2),
    "reporting": (["reporting", "reports", "dashboards"], "area/reporting", (0.35, 0.36), 2),
    "mobile-sync": (["mobile sync", "offline"], "area/mobile", (0.40, 0.45), 2),
    "billing": (["billing", "invoices"], "area/billing", (0.15, 0.12), 2),
}
PLANS = [("free", 0.40, 0), ("pro", 0.33, 1200), ("business", 0.20, 9000),
         ("enterprise", 0.07, 60000)]
PLATFORMS = [("web", 0.6), ("ios", 0.22), ("android", 0.18)]
WORDS = ["Blue", "North", "Bright", "Acorn", "River", "Summit", "Pixel", "Harbor", "Cedar",
         "Nimbus", "Orbit", "Willow", "Copper", "Falcon", "Maple", "Quartz", "Lumen", "Atlas"]
KINDS = ["Labs", "Goods", "Studio", "Foods", "Health", "Logistics", "Media", "Works", "Co"]

ISSUE_TITLES = {
    "checkout": ["Card payment fails with 3-D Secure on Safari", "Coupon code ignored at checkout",
                 "Checkout spinner never ends after address change", "Tax rounding off by 1 cent",
                 "PayPal return URL loses the cart", "Apple Pay button missing on iPad",
                 "Shipping options reload and reset the selection"],
    "search": ["Search ignores accents (café vs cafe)", "Search results paginate twice",
               "Typo tolerance too aggressive for SKUs", "Filters reset when sorting results",
               "Search suggestions slow on large catalogs"],
    "login": ["SSO login loops back to the sign-in page", "2FA codes rejected after clock drift",
              "Password reset email arrives after expiry", "Session expires during long forms",
              "Okta SCIM provisioning creates duplicate users"],
    "notifications": ["Digest email sent twice on Mondays", "Push notifications arrive late",
                      "Unsubscribe link returns 404", "Alert thresholds not saved"],
    "reporting": ["CSV export truncates at 10,000 rows", "Dashboard totals differ from export",
                  "Timezone wrong in scheduled reports", "Chart legend overlaps on small screens",
                  "Report builder crashes with 20+ columns"],
    "mobile-sync": ["Offline edits lost after reconnect", "iOS app syncs only on foreground",
                    "Android sync drains battery", "Conflict dialog shows raw JSON"],
    "billing": ["Invoice PDF missing VAT number", "Proration wrong on mid-cycle upgrade",
                "Credit notes not listed in billing history", "Dunning emails ignore locale"],
}
COMMENTS = {
    True: ["Smooth as always.", "Quick answer, thanks!", "Works fine now.", "Great support.",
           "Solved in minutes.", "All good."],
    False: ["Still broken after two weeks.", "This keeps failing for our team.",
            "We lost sales because of this.", "Please fix, it is blocking us.",
            "Frustrating, had to retry five times.", "Reach me at jane.doe@example.com or "
            "+1 415 555 0100 if you need logs.", "Workaround from https://example.com/kb "
            "does not help @support", "Third time I report this."],
}


def pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def customers(rng: random.Random) -> list[dict[str, object]]:
    rows = []
    for n in range(1, 601):
        plan = pick(rng, [(p, w) for p, w, _ in PLANS])
        base = dict((p, a) for p, _, a in PLANS)[plan]
        arr: object = round(base * rng.uniform(0.6, 1.8), -1) if base else 0
        if plan != "free" and rng.random() < 0.05:
            arr = ""  # unknown ARR: counted as a customer, not in ARR at risk
        rows.append({"id": f"acct-{n:04d}", "name": f"{rng.choice(WORDS)} {rng.choice(KINDS)}",
                     "plan": plan, "arr": arr})
    return rows


def issues(rng: random.Random) -> tuple[list[dict[str, object]], dict[str, list[int]]]:
    items, by_feature, number = [], {}, 100
    for feature, titles in ISSUE_TITLES.items():
        label = FEATURES[feature][1]
        for title in titles:
            number += rng.randint(1, 9)
            closed = rng.random() < 0.1
            items.append({"number": number, "title": title, "state": "CLOSED" if closed else "OPEN",
                          "labels": [{"name": label}, {"name": "bug"}],
                          "url": f"https://github.com/{REPO}/issues/{number}"})
            if not closed:
                by_feature.setdefault(feature, []).append(number)
    for title in ["Export button greyed out for read-only users", "Slow first load on Firefox ESR",
                  "Locale picker forgets the choice"]:
        number += rng.randint(1, 9)
        items.append({"number": number, "title": title, "state": "OPEN",
                      "labels": [{"name": "bug"}], "url": f"https://github.com/{REPO}/issues/{number}"})
        by_feature.setdefault("", []).append(number)  # no feature label: referenced only
    return items, by_feature


def when(rng: random.Random) -> datetime:
    return END - timedelta(seconds=rng.randint(0, DAYS * 86400))


def dissatisfied_share(feature: str, at: datetime) -> float:
    before, after = FEATURES[feature][2]
    return after if at > END - timedelta(days=90) else before


def main() -> None:
    rng = random.Random(SEED)
    accounts = customers(rng)
    issue_items, open_by_feature = issues(rng)
    plan_of = {a["id"]: a["plan"] for a in accounts}
    features = list(FEATURES)
    weights = [FEATURES[f][3] for f in features]
    tickets = []
    for n in range(1, 1501):
        feature = rng.choices(features, weights)[0]
        created = when(rng)
        account = rng.choice(accounts)["id"]
        refs, subject = "", f"Problem with {feature.replace('-', ' ')}"
        roll = rng.random()
        if roll < 0.08 and open_by_feature.get(feature):
            refs = f"#{rng.choice(open_by_feature[feature])}"
        elif roll < 0.10:
            subject += f" (see {REPO}#{rng.choice(open_by_feature[''])})"
        tickets.append({
            "id": f"T-{n:05d}", "created_at": created.isoformat().replace("+00:00", "Z"),
            "updated_at": (created + timedelta(hours=rng.randint(1, 72))).isoformat(),
            "customer_id": account, "requester_id": f"user-{rng.randint(1, 900):04d}",
            "status": rng.choice(["solved", "solved", "closed", "open", "pending"]),
            "subject": subject,
            "tags": [rng.choice(FEATURES[feature][0]), rng.choice(["web", "api", "urgent", "vip"])],
            "issue_refs": refs, "plan": plan_of[account],
            "platform": pick(rng, PLATFORMS),
        })
    responses = []
    for n in range(1, 3601):
        feature = rng.choices(features, weights)[0]
        at = when(rng)
        account = rng.choice(accounts)["id"]
        row = {"id": f"R-{n:05d}", "submitted_at": at.strftime("%Y-%m-%d %H:%M:%S"),
               "score": "", "status": "answered", "customer_id": account,
               "respondent_id": f"user-{rng.randint(1, 900):04d}", "comment": "",
               "tags": rng.choice(FEATURES[feature][0]), "ticket_id": "", "issue_refs": "",
               "plan": plan_of[account], "platform": pick(rng, PLATFORMS)}
        if rng.random() < 0.25:
            row["status"] = "offered"
        else:
            unhappy = rng.random() < dissatisfied_share(feature, at)
            row["score"] = rng.choice([1, 2, 3]) if unhappy else rng.choice([4, 5, 5])
            if rng.random() < 0.3:
                row["comment"] = rng.choice(COMMENTS[not unhappy])
        if rng.random() < 0.08:  # rates a ticket: inherits its tags and references
            ticket = rng.choice(tickets)
            row["ticket_id"], row["tags"] = ticket["id"], ""
        responses.append(row)
    # Bad rows, to show the quarantine: out-of-scale score, bad time, missing id.
    responses.append({**responses[10], "id": "R-BAD-1", "score": "7", "status": "answered"})
    responses.append({**responses[11], "id": "R-BAD-2", "submitted_at": "yesterday"})
    responses.append({**responses[12], "id": ""})
    write_csv(HERE / "customers.csv", accounts)
    write_csv(HERE / "csat.csv", responses)
    with (HERE / "tickets.jsonl").open("w", encoding="utf-8", newline="\n") as f:
        for t in tickets:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    (HERE / "issues.json").write_text(json.dumps(issue_items, indent=1) + "\n", encoding="utf-8")


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
