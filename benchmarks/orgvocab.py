"""Words of a support organisation's bugs, for benchmarks/orgdata.py.

Each feature has components, each a tuple of synonyms: the first is the engineers' word
(titles, bodies), the others are what customers call it. Symptoms likewise: the engineers'
phrase, then customers' paraphrases. Bugs are drawn as combinations of these, so that a
complaint shares a few distinctive words with its bug and many everyday ones with the
feature's other bugs, as in a real backlog.
"""

from __future__ import annotations

# name: (tag aliases as they appear in the data, tracker label, dissatisfied share, volume)
FEATURES: dict[str, tuple[tuple[str, ...], str, float, float]] = {
    "checkout": (("checkout", "payments", "Check-Out"), "area/checkout", 0.30, 5),
    "search": (("search", "search_results"), "area/search", 0.22, 4),
    "login": (("login", "sso", "2fa"), "area/auth", 0.25, 3),
    "notifications": (("notifications", "email-alerts"), "area/notifications", 0.18, 2),
    "reporting": (("reporting", "reports", "dashboards"), "area/reporting", 0.33, 2),
    "mobile-sync": (("mobile sync", "offline"), "area/mobile", 0.38, 2),
    "billing": (("billing", "invoices"), "area/billing", 0.15, 2),
    "integrations": (("integrations", "webhooks"), "area/integrations", 0.27, 2),
}

COMPONENTS: dict[str, list[tuple[str, ...]]] = {
    "checkout": [
        ("cart", "basket"), ("coupon", "voucher", "promo code"), ("discount", "reduction"),
        ("shipping rate", "delivery cost"), ("address form", "delivery address"),
        ("card payment", "credit card"), ("PayPal", "PayPal button"), ("Apple Pay", "wallet"),
        ("Google Pay", "GPay"), ("gift card", "gift voucher"), ("tax", "VAT", "sales tax"),
        ("receipt", "order confirmation"), ("order total", "grand total"),
        ("currency", "exchange rate"), ("express checkout", "one-click buy"),
        ("guest checkout", "buying without an account"), ("installments", "pay later", "Klarna"),
        ("tip", "gratuity"), ("upsell", "recommended add-on"), ("stock reservation", "hold"),
        ("payment retry", "second attempt"), ("3-D Secure", "bank verification"),
        ("order notes", "delivery instructions"), ("pickup", "click and collect")],
    "search": [
        ("autocomplete", "suggestions"), ("facets", "filters"), ("sorting", "sort order"),
        ("pagination", "next page"), ("relevance", "ranking"), ("synonyms", "similar words"),
        ("typo tolerance", "misspellings"), ("accents", "diacritics"),
        ("SKU lookup", "part number"),
        ("zero results", "nothing found"), ("category pages", "collections"),
        ("price range", "price slider"), ("search index", "catalog sync"),
        ("highlighting", "bold matches"), ("recent searches", "search history"),
        ("voice search", "microphone"), ("barcode search", "scan to search"),
        ("brand filter", "manufacturer"), ("out of stock items", "unavailable products"),
        ("search analytics", "top queries"), ("infinite scroll", "load more"),
        ("search box", "search bar"), ("product images", "thumbnails"),
        ("variants", "sizes and colours")],
    "login": [
        ("SSO", "single sign-on"), ("SAML", "SAML login"), ("OAuth", "Google login"),
        ("Okta", "Okta tile"), ("Azure AD", "Microsoft login"),
        ("password reset", "forgot password"),
        ("2FA", "two-factor", "verification code"), ("authenticator app", "TOTP"),
        ("session timeout", "logged out"), ("remember me", "stay signed in"),
        ("invitation", "invite link"), ("SCIM provisioning", "user sync"),
        ("magic link", "email login link"), ("captcha", "robot check"),
        ("account lockout", "locked account"), ("passkey", "WebAuthn", "fingerprint"),
        ("role permissions", "access rights"), ("API tokens", "personal token"),
        ("sign-up form", "registration"), ("email verification", "confirm email"),
        ("audit log", "login history"), ("IP allowlist", "trusted networks"),
        ("impersonation", "log in as"), ("device approval", "new device")],
    "notifications": [
        ("email digest", "weekly summary"), ("push notification", "phone alert"),
        ("SMS", "text message"), ("webhook", "callback"), ("unsubscribe link", "opt out"),
        ("email template", "mail layout"), ("low stock alert", "inventory warning"),
        ("threshold", "limit"), ("reminder", "follow-up"), ("Slack notification", "Slack message"),
        ("badge count", "unread counter"), ("in-app inbox", "notification centre"),
        ("bounce handling", "bounced emails"), ("spam folder", "junk"),
        ("quiet hours", "do not disturb"), ("order confirmation email", "confirmation mail"),
        ("mention", "tagging people"), ("notification settings", "preferences"),
        ("email sender", "from address"), ("email localisation", "language of emails"),
        ("daily report email", "morning email"), ("sound", "notification tone"),
        ("delivery receipt", "read receipt"), ("attachments", "PDF attached")],
    "reporting": [
        ("dashboard", "overview page"), ("chart", "graph"), ("CSV export", "spreadsheet download"),
        ("Excel export", "xlsx"), ("pivot table", "cross table"), ("widget", "tile"),
        ("legend", "labels"), ("timezone", "local time"), ("scheduled report", "emailed report"),
        ("KPI", "key figures"), ("cohort analysis", "retention"), ("funnel", "conversion"),
        ("date range", "period picker"), ("totals", "sums"), ("drill-down", "details view"),
        ("custom report", "report builder"), ("currency conversion", "exchange"),
        ("comparison period", "previous year"), ("segments", "groups"),
        ("PDF report", "printable report"), ("refunds", "returns"), ("revenue", "sales figures"),
        ("data freshness", "last updated"), ("sharing", "public link")],
    "mobile-sync": [
        ("offline mode", "no signal"), ("sync", "synchronisation"),
        ("conflict resolution", "conflicting changes"), ("background refresh", "updating later"),
        ("battery", "battery drain"), ("reconnect", "back online"), ("local cache", "stored data"),
        ("upload queue", "pending uploads"), ("photo attachments", "pictures"),
        ("barcode scanner", "camera scan"), ("iPad layout", "tablet"),
        ("home screen widget", "app widget"), ("push token", "phone notifications"),
        ("app update", "new version"), ("app login", "app sign in"), ("dark mode", "night theme"),
        ("storage", "disk space"), ("location", "GPS"), ("offline map", "maps"),
        ("signature capture", "signing on screen"), ("stock count", "inventory count"),
        ("app start", "launch"), ("deep link", "link opening the app"),
        ("file download", "documents")],
    "billing": [
        ("invoice", "bill"), ("proration", "partial month"), ("plan upgrade", "bigger plan"),
        ("downgrade", "smaller plan"), ("refund", "money back"), ("credit note", "credit memo"),
        ("VAT ID", "tax number"), ("dunning email", "payment reminder"),
        ("card update", "new card"), ("seat count", "number of users"), ("trial", "free trial"),
        ("annual plan", "yearly billing"),
        ("usage charges", "overage"), ("billing address", "company address"),
        ("purchase order", "PO number"), ("bank transfer", "wire"),
        ("SEPA direct debit", "direct debit"), ("billing currency", "billed in euros"),
        ("billing history", "past invoices"), ("tax exemption", "exempt status"),
        ("subscription coupon", "discount on the plan"), ("cancellation", "cancel subscription"),
        ("receipt email", "payment receipt"), ("billing contact", "invoice recipient")],
    "integrations": [
        ("REST API", "API"), ("webhook delivery", "webhook"), ("rate limit", "too many requests"),
        ("Shopify sync", "Shopify"), ("Salesforce", "Salesforce connector"), ("Zapier", "zaps"),
        ("HubSpot", "HubSpot contacts"), ("QuickBooks", "accounting sync"), ("Xero", "Xero link"),
        ("Slack app", "Slack"), ("OAuth app", "app authorisation"), ("CSV import", "bulk upload"),
        ("field mapping", "mapped fields"), ("API pagination", "cursor"),
        ("sandbox", "test mode"), ("API key", "secret key"), ("GraphQL", "GraphQL endpoint"),
        ("SDK", "client library"), ("retry", "resend"), ("idempotency", "duplicate requests"),
        ("product feed", "Google Shopping feed"), ("ERP connector", "SAP"),
        ("marketplace", "Amazon listing"), ("sync schedule", "nightly sync")],
}

# (engineers' phrase, customers' paraphrases)
SYMPTOMS: list[tuple[str, tuple[str, ...]]] = [
    ("crashes", ("crashes", "closes by itself", "keeps crashing")),
    ("freezes", ("freezes", "hangs", "gets stuck")),
    ("is slow", ("is very slow", "takes forever", "lags")),
    ("shows duplicates", ("shows everything twice", "duplicates entries", "doubles up")),
    ("is missing", ("is missing", "disappeared", "is gone")),
    ("shows wrong values", ("shows wrong numbers", "is incorrect", "is off")),
    ("times out", ("times out", "never finishes loading", "spins forever")),
    ("renders blank", ("is blank", "shows an empty page", "turns white")),
    ("resets", ("resets", "goes back to the old value", "reverts")),
    ("returns 500", ("gives a server error", "says something went wrong", "errors out")),
    ("is not saved", ("does not save", "loses our changes", "won't stick")),
    ("is rejected", ("is rejected", "gets declined", "is refused")),
    ("loops", ("loops", "redirects again and again", "goes round in circles")),
    ("is sent twice", ("arrives twice", "comes two times", "is doubled")),
    ("arrives late", ("comes hours late", "is delayed", "shows up late")),
    ("overlaps", ("overlaps", "is cut off", "looks broken")),
    ("ignores locale", ("is in the wrong language", "ignores our language", "is in English")),
    ("drops items", ("loses items", "drops rows", "skips entries")),
    ("uses the wrong timezone", ("shows the wrong time", "is hours off", "uses UTC")),
    ("cannot be opened", ("won't open", "can't be opened", "fails to open")),
]

ACTIONS = ["saving", "editing", "uploading", "exporting", "importing", "opening", "deleting",
           "scrolling", "sorting", "filtering", "syncing", "signing in", "paying", "printing",
           "sharing", "refreshing", "switching accounts", "changing the language", "zooming in",
           "going back"]
CONDITIONS = ["after the latest update", "with more than 500 items", "on a slow connection",
              "in dark mode", "for new accounts", "with a German locale", "on the second page",
              "when two people edit at once", "after midnight UTC", "behind a VPN",
              "for read-only users", "with special characters in the name",
              "right after signing in", "with an ad blocker", "on large accounts",
              "during peak hours"]
# (engineers' name, customers' name)
PLATFORMS = [("Safari on macOS", "my Mac"), ("Safari on iOS", "my iPhone"),
             ("Chrome on Windows", "Chrome"), ("Firefox", "Firefox"), ("Edge", "Edge"),
             ("the Android app", "Android"), ("the iOS app", "the iPhone app"), ("iPadOS", "iPad"),
             ("Chrome on Android", "my Android phone"), ("Firefox ESR", "Firefox ESR"),
             ("the Windows desktop app", "the Windows app"), ("Samsung Internet", "Samsung")]

# Sentences any bug report or message may hold: generic product words, no bug in them.
REPORT_NOTES = [
    "Merchants on the Pro plan reported this through support.",
    "We first saw it in the 4.12 release; 4.11 looks fine.",
    "It does not reproduce on staging with the seed data.",
    "Logs from two affected accounts are attached below.",
    "Might be related to the caching change in the API gateway.",
    "The workaround for now is to reload the page and try again.",
    "Support has tagged the tickets so that we can count them.",
    "This blocks a migration for one enterprise customer.",
    "The frontend sends the request, the backend answers after a long delay.",
    "Feature flag rollout was at 50 % when the reports started.",
    "Could be a race between the worker and the web process.",
    "Needs a regression test once fixed.",
    "Sentry groups the errors under one fingerprint.",
    "Priority was raised after the weekly triage meeting.",
    "A customer shared a screen recording in the ticket.",
    "The same account works on another machine.",
    "The database query plan changed after the index migration.",
    "Product wants this fixed before the holiday season.",
    "Happens for roughly one in twenty sessions.",
    "The mobile team confirmed the API response is correct.",
]
OPENERS = ["", "", "", "Hi,", "Hello team,", "Hi there,", "Good morning,", "Hey,", "Dear support,"]
CONTEXT = ["This started last week.", "It happens several times a day.",
           "Several people in our office see it.", "We have a deadline on Friday.",
           "Our customers are complaining.", "It worked fine a month ago.",
           "We already cleared the cache and cookies.", "Happens every single time.",
           "Can you look into it asap?", "This is costing us money.", "Any update on this?",
           "We tried on two computers.", "Our manager is asking about it daily.", ""]
CUSTOMER_NOTES = ["", "", "", "We are on the Business plan with about 40 users.",
                  "Our store has around 3,000 products.", "I attached a screenshot.",
                  "We use the admin in English and German.", "Our warehouse team sees it too.",
                  "It is our busiest week of the year.", "Two of our admins confirmed it.",
                  "Restarting did not help.", "It was fine until Monday.",
                  "We followed the steps in your help centre article first."]
CLOSERS = ["", "", "Thanks.", "Thanks in advance.", "Regards, Sam", "Cheers", "Best, Priya",
           "Kind regards, Tom", "Thank you!"]
NEGATIVE = ["Still broken after two weeks.", "This keeps failing for our team.",
            "We lost sales because of this.", "Please fix, it is blocking us.",
            "Frustrating, had to retry five times.", "Third time I report this.",
            "Slow answers and no fix.", "Nobody got back to me.", "Not solved at all."]
POSITIVE = ["Smooth as always.", "Quick answer, thanks!", "Works fine now.", "Great support.",
            "Solved in minutes.", "All good.", "Very helpful agent.", "Fixed quickly, thank you.",
            "Easy to use.", "Love the product."]
GENERIC_SUBJECTS = ["Problem with {f}", "{F} not working", "Question about {f}", "Urgent: {f}",
                    "{F} issue", "Help with {f}", "{F} broken?"]
FEATURE_TALK = {
    "checkout": ["customers can't complete their orders", "the payment step is broken"],
    "search": ["customers can't find products", "the search results are wrong"],
    "login": ["people can't log in", "signing in is broken for some users"],
    "notifications": ["the notifications are unreliable", "the emails we get are wrong"],
    "reporting": ["the reports are wrong", "the dashboards are off"],
    "mobile-sync": ["the app does not sync properly", "mobile data is out of date"],
    "billing": ["our bill looks wrong", "the invoice amounts are off"],
    "integrations": ["the integration stopped working", "our connected apps are out of sync"],
}
