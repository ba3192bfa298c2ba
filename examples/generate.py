"""Generate the bundled example data: a small SaaS shop's customers, CSAT and tickets.

Seeded, so the committed files are reproducible: ``python examples/generate.py``.
Six months of records ending at END, seven features with different satisfaction, 40
issues with bodies (some closed, two with two feature labels, three only referenced
explicitly), a few bad rows to quarantine.

Complaints are written the way customers write them: paraphrases of one bug's symptom
(never its title), its platform, now and then its error text, mixed with small talk and
the feature's everyday words. Within a feature a few bugs cause most of them (Zipf), some
tickets are a bare "problem with checkout", and a few name their bug explicitly, in the
reference field or in the text, so that text attribution has labelled records to be
calibrated on.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
END = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
DAYS = 182
SEED = 20261123
REPO = "acme/shop"
ZIPF = 1.8  # complaints about a feature's n-th most painful bug ∝ 1 / n^ZIPF
GENERIC = 0.12  # share of a feature's complaints that say nothing about which bug
SATISFIED_USERS = 0.3  # a satisfied answer comes from the feature's users this often
COMMENTED = 0.7  # dissatisfied answers with a comment
HIT = 0.2  # the customers a feature's bugs hit, as a share of its users (with repeats)

# name: (tag aliases seen in the data, label, dissatisfied share before/after, volume weight)
FEATURES = {
    "checkout": (["checkout", "payments", "Check-Out"], "area/checkout", (0.18, 0.29), 5),
    "search": (["search", "search_results"], "area/search", (0.15, 0.13), 4),
    "login": (["login", "sso", "2fa"], "area/auth", (0.12, 0.20), 3),
    "notifications": (["notifications", "email-alerts"], "area/notifications", (0.11, 0.10), 2),
    "reporting": (["reporting", "reports", "dashboards"], "area/reporting", (0.21, 0.22), 2),
    "mobile-sync": (["mobile sync", "offline"], "area/mobile", (0.24, 0.27), 2),
    "billing": (["billing", "invoices"], "area/billing", (0.09, 0.07), 2),
}
# Customers using each feature (checkout's matches its active_customers in the config).
USERS = {"checkout": 260, "search": 320, "login": 420, "notifications": 260, "reporting": 200,
         "mobile-sync": 150, "billing": 360}
PLANS = [("free", 0.40, 0), ("pro", 0.33, 1200), ("business", 0.20, 9000),
         ("enterprise", 0.07, 60000)]
PLATFORMS = [("web", 0.6), ("ios", 0.22), ("android", 0.18)]
MOBILE = [("ios", 0.55), ("android", 0.45)]
WORDS = ["Blue", "North", "Bright", "Acorn", "River", "Summit", "Pixel", "Harbor", "Cedar",
         "Nimbus", "Orbit", "Willow", "Copper", "Falcon", "Maple", "Quartz", "Lumen", "Atlas"]
KINDS = ["Labs", "Goods", "Studio", "Foods", "Health", "Logistics", "Media", "Works", "Co"]


@dataclass(frozen=True)
class Bug:
    """One tracker issue and the ways customers describe it."""

    number: int
    features: tuple[str, ...]  # () for issues only ever referenced explicitly
    title: str
    summary: str
    steps: tuple[str, ...]
    actual: str
    env: str
    error: str
    says: tuple[str, ...]  # what customers write about it: symptoms, paraphrased
    closed: bool = False
    extra_labels: tuple[str, ...] = ()


def bug(number: int, features: str, title: str, summary: str, steps: str, actual: str,
        env: str, error: str, says: str, closed: bool = False, labels: str = "") -> Bug:
    """Build a Bug from '|'-separated lists, to keep the catalog below readable."""
    return Bug(number, tuple(f for f in features.split("|") if f), title, summary,
               tuple(steps.split("|")), actual, env, error, tuple(says.split("|")), closed,
               tuple(f for f in labels.split("|") if f))


# Within a feature, bugs are listed from the one customers hit most to the one they hit least.
BUGS = [
    bug(101, "checkout", "Card payment fails with 3-D Secure on Safari",
        "Shoppers paying by card with 3-D Secure see the bank's verification popup close at "
        "once on Safari; the payment is then declined and the order stays unpaid. Chrome and "
        "Firefox are fine.",
        "Add any product to the cart and open checkout in Safari|Pay with the 3DS test card "
        "4000 0027 6000 3184|Approve the charge in the bank challenge window",
        "The challenge iframe closes and the page says 'Your card was declined'.",
        "Safari 17 on macOS and iOS, Stripe 3DS2", "PaymentIntent requires_action → "
        "payment_intent_authentication_failure (3ds2 challenge iframe blocked by ITP)",
        "my card gets declined right after the bank verification popup|the bank's 3D Secure "
        "window flashes and closes, then the card is refused|customers on Safari cannot pay by "
        "card anymore|payment declined on iPhone even though the bank approved it in their app|"
        "the authentication popup from the bank disappears and the payment fails|cards keep "
        "failing at the verification step, only on Apple devices|we get 'your card was "
        "declined' after approving with the bank|the 3DS challenge never completes on a Mac",
        labels="priority/p1"),
    bug(107, "checkout", "Coupon code ignored at checkout",
        "A valid promo code is accepted in the cart (green tick) but the discount is missing "
        "from the total on the payment step and on the receipt.",
        "Create a 20% coupon under Marketing > Discounts|Apply it in the cart: the banner says "
        "'Code applied'|Continue to the payment step",
        "The order is charged at full price and the discount line is gone.",
        "all browsers; coupons created after the October pricing change",
        "WARN pricing.discounts: coupon SPRING20 dropped on recalculation (scope=cart, "
        "expected=order)",
        "the promo code says applied but we were charged the full price|the discount "
        "disappears on the payment page|our voucher codes don't reduce the total|shoppers "
        "complain the 20% off code did nothing|coupon accepted in the basket, missing from the "
        "receipt|the discount line vanishes right before paying|promo codes are dropped when "
        "the total is recalculated"),
    bug(108, "checkout", "Checkout spinner never ends after address change",
        "Changing the shipping address on the last checkout step leaves the 'Place order' "
        "button spinning forever; the order is never submitted and a reload empties the form.",
        "Open checkout with a saved address|Click 'Change' and pick or type another address|"
        "Click 'Place order'",
        "An endless spinner; the network tab shows the shipping quote request pending.",
        "Chrome 126 and Edge on desktop",
        "POST /api/checkout/shipping-quote → 504 Gateway Timeout after 30000 ms",
        "the place order button just keeps loading|stuck on an endless spinner after I edited "
        "the delivery address|checkout hangs when we change where it ships|the order never "
        "goes through, it spins forever|after updating the address the page freezes with a "
        "loading wheel|timeout when submitting an order with a new shipping address"),
    bug(122, "checkout", "PayPal return URL loses the cart",
        "After approving the payment on PayPal, the shopper comes back to an empty cart and "
        "no order; sometimes the PayPal payment is captured anyway.",
        "Add items and choose PayPal|Log in on PayPal and approve|Get redirected back to the "
        "store",
        "The cart is empty with 'Your session has expired'; the money may still be taken.",
        "PayPal Express, all browsers, mostly with third-party cookies blocked",
        "GET /checkout/paypal/return?token=EC-8UY → 302 /cart (session cookie missing, "
        "SameSite=Lax)",
        "after paying with PayPal I come back to an empty basket|PayPal took the money but "
        "there is no order|the cart is emptied when returning from PayPal|session expired "
        "message after the PayPal login|shoppers pay through PayPal and the order disappears|"
        "the redirect back from PayPal loses everything in the cart"),
    bug(125, "checkout", "Apple Pay button missing on iPad",
        "The Apple Pay button does not render on iPad (Safari and the in-app browser), "
        "although the same store shows it on iPhone and Mac.",
        "Open checkout on an iPad with a card in Wallet|Look at the express payment row",
        "Only the card form and PayPal appear; no Apple Pay.",
        "iPadOS 17, Safari; Apple Pay domain verified",
        "ApplePaySession.canMakePayments() → true, button hidden: width 1024 matched the "
        "desktop breakpoint",
        "no Apple Pay option on the iPad|Apple Pay shows on my phone but not on the tablet|"
        "the wallet payment button is gone on iPad Safari|our tablet shoppers can't find Apple "
        "Pay|express pay with Apple is missing on tablets"),
    bug(117, "checkout", "Tax rounding off by 1 cent",
        "Orders with several discounted lines show a VAT total one cent higher than the sum "
        "of the line taxes, so accounting exports do not reconcile.",
        "Add three items at 9.99 with a 15% discount|Open the order summary|Compare the tax "
        "total with the line taxes",
        "The tax total is 0.01 higher than the sum of the lines.",
        "all platforms; tax-inclusive prices in EUR and GBP",
        "tax.calc: sum(line_tax)=4.47 != order_tax=4.48 (rounding HALF_UP per order)",
        "the VAT total is one cent off|the tax amount differs by 0.01 from the line items|our "
        "accountant says the sales tax doesn't add up by a penny|a rounding difference on tax "
        "in the order summary|receipts show a one cent rounding error in VAT"),
    bug(258, "checkout|billing", "Saved cards disappear after updating billing address",
        "When a customer edits the billing address in their account, the saved payment cards "
        "are removed and checkout asks for the card number again.",
        "Save a card during a purchase|Change the billing address under Account > Billing|"
        "Start a new checkout",
        "The list of saved payment methods is empty.",
        "web and the iOS app; cards stored in the payment vault",
        "vault: DELETE /payment_methods/pm_1Q2 triggered by the address_changed webhook",
        "my stored card vanished after I changed the billing address|saved payment methods "
        "are gone, we have to type the card again|editing the address wiped our saved cards|"
        "the card on file was deleted when updating billing details"),
    bug(128, "checkout", "Shipping options reload and reset the selection",
        "Choosing express shipping and then scrolling makes the shipping options reload and "
        "jump back to standard delivery.",
        "Pick express shipping|Scroll down to the payment form", "Standard is selected again.",
        "all browsers", "shipping-options re-fetched on scroll (IntersectionObserver)",
        "the shipping method keeps switching back to standard|my express delivery choice "
        "resets by itself|shipping options reload and lose the selection", closed=True),

    bug(146, "search", "Filters reset when sorting results",
        "Applying filters (brand, size, price) and then changing the sort order clears every "
        "filter; the result count jumps back to the whole catalog.",
        "Search for 'jacket'|Filter by brand and size|Change the sort to 'Price: low to high'",
        "All facets are cleared and 4,210 results show instead of 37.",
        "web, all browsers; the new faceted search UI",
        "facet state lost: the sort change pushes ?q=jacket&sort=price_asc without f[] params",
        "every time I sort by price my filters are gone|changing the sort order clears the "
        "brand and size filters|facets reset when we reorder the results|the filter selection "
        "is lost after sorting|sorting wipes the price range filter|we have to re-apply "
        "filters after each sort"),
    bug(131, "search", "Search ignores accents (café vs cafe)",
        "Queries without diacritics do not find products whose names have them: 'creme "
        "brulee' finds nothing while 'crème brûlée' finds 12 products, and the other way "
        "round.",
        "Create a product named 'Crème brûlée'|Search for 'creme brulee'",
        "No results.", "all platforms; French, German and Spanish catalogs",
        "analyzer=standard without asciifolding: token 'cafe' != 'café'",
        "searching cafe does not find café|no results unless you type the accent|umlauts "
        "break the search, müller vs muller|French product names with accents can't be "
        "found|diacritics make products invisible|people type without accents and get zero "
        "results"),
    bug(139, "search", "Search results paginate twice",
        "Going to page 2 of the search results shows page 3; the infinite scroll loads the "
        "same batch twice, so items repeat and others are skipped.",
        "Search for a common word|Scroll to the end of the first page",
        "Page 3 loads; items of page 2 are never shown.", "web and Android app",
        "GET /api/search?page=2 fired twice (IntersectionObserver and scroll handler)",
        "page two of the results skips straight to page three|the same products appear twice "
        "when scrolling|duplicate items in the result list while others are missing|infinite "
        "scroll repeats the list|pagination jumps over a page"),
    bug(147, "search", "Search suggestions slow on large catalogs",
        "The autocomplete dropdown takes 3-8 seconds to show suggestions on catalogs with more "
        "than 50,000 SKUs; typing feels frozen.",
        "Use a store with a large catalog|Type two letters in the search box",
        "Suggestions appear after several seconds.", "all browsers",
        "GET /api/suggest?q=sh → 200 in 7412 ms (p95); full scan on product_name_trgm",
        "autocomplete takes several seconds to appear|the suggestion dropdown is very slow|"
        "typing in the search box lags badly|predictive search freezes while typing"),
    bug(141, "search", "Typo tolerance too aggressive for SKUs",
        "Exact SKU and part-number searches return fuzzy matches first: 'AB-1043' ranks "
        "'AB-1034' and 'AB-1048' above the exact item.",
        "Search for an exact SKU such as AB-1043", "Lookalike codes rank above the exact one.",
        "all platforms", "fuzziness=AUTO applied to keyword field sku; exact match boost missing",
        "searching the exact SKU returns the wrong part first|part numbers get fuzzy matched "
        "to similar codes|the exact article number is not on top|our staff type the product "
        "code and get lookalikes"),
    bug(261, "search", "Search returns archived products",
        "Products archived or deleted in the catalog still appear in search results and lead "
        "to a 'Product not found' page.",
        "Archive a product|Search for its name", "It is still listed; clicking gives a 404.",
        "all platforms", "index sync: archived=true events not consumed since the worker "
        "restart (lag 41233 docs)",
        "discontinued products still show up|clicking a result gives product not found|"
        "archived items appear in the results"),

    bug(155, "login", "SSO login loops back to the sign-in page",
        "Users of SAML single sign-on (Okta, Azure AD) are sent back to the sign-in page after "
        "authenticating at their identity provider, in an endless redirect loop.",
        "Enable SAML SSO for the workspace|Sign in through the identity provider",
        "The browser returns to /login again and again.",
        "SAML SSO; Chrome and Edge, since the cookie domain change",
        "POST /sso/saml/acs → 302 /login (RelayState mismatch; cookie SameSite=None without "
        "Secure)",
        "single sign-on keeps redirecting back to the login screen|we authenticate with Okta "
        "and land on the sign-in page again|an endless redirect loop with SAML|our whole "
        "company can't get in through Azure AD|SSO bounces us back to log in|after the "
        "identity provider page we are sent back to sign in", labels="priority/p1"),
    bug(164, "login", "2FA codes rejected after clock drift",
        "One-time codes from authenticator apps are rejected as invalid when the phone's "
        "clock is off by more than 30 seconds; users are locked out after five tries.",
        "Set the phone clock 45 seconds ahead|Sign in and enter the authenticator code",
        "'Invalid code', then 'Account locked'.", "TOTP apps on iOS and Android",
        "totp.verify: window=0 step=30s drift=+47s → invalid_code; locked after 5 attempts",
        "the authenticator code is always invalid|two-factor codes rejected, then the account "
        "gets locked|Google Authenticator codes don't work|2FA says wrong code even though I "
        "typed it right away|locked out because the verification code fails"),
    bug(167, "login", "Password reset email arrives after expiry",
        "Password reset links arrive 20-60 minutes late and have already expired (they are "
        "valid for 15 minutes) when users click them.",
        "Click 'Forgot password'|Wait for the email|Open the link",
        "'This link has expired'.", "all mail providers",
        "mailer queue transactional: delay p95 38 min; token ttl=900s",
        "the reset password link is already expired when it arrives|the forgot password email "
        "comes an hour late|link has expired every time I try to reset|password recovery mails "
        "are delayed"),
    bug(175, "login", "Session expires during long forms",
        "Users filling in long forms (product editor, settings) are logged out after 15 "
        "minutes of typing and lose everything they entered.",
        "Open the product editor|Type for 16 minutes without saving|Click Save",
        "Redirect to the login page; the input is lost.", "web, all browsers",
        "refresh token not rotated on XHR activity; idle timeout 900s → 401 → /login",
        "logged out in the middle of a form and lost my work|the session times out while I'm "
        "typing|we keep getting signed out while editing products|kicked out to the login "
        "page while saving"),
    bug(178, "login", "Okta SCIM provisioning creates duplicate users",
        "Provisioning users from Okta through SCIM creates a second account when the email's "
        "case differs; the duplicates cannot be merged.",
        "Connect Okta SCIM|Assign a user whose email has capitals", "Two accounts exist.",
        "Okta SCIM 2.0", "POST /scim/v2/Users → 201 for existing userName Jane.Doe@corp.com "
        "(case-sensitive lookup)",
        "Okta provisioning creates every user twice|duplicate accounts after the SCIM sync|our "
        "directory sync makes double users"),

    bug(182, "notifications", "Push notifications arrive late",
        "Mobile push notifications for new orders and messages arrive 10 minutes to several "
        "hours late, or all at once when the app is opened.",
        "Place a test order|Wait for the push on a phone with the app closed",
        "The push arrives late or only when the app opens.", "iOS and Android apps 5.x",
        "push worker: FCM batch send retried 6x (429 QUOTA_EXCEEDED), queue depth 18000",
        "push alerts show up hours after the order|notifications on the phone are delayed|we "
        "get all the pings at once when opening the app|new order notifications come way too "
        "late|mobile alerts lag behind by an hour"),
    bug(180, "notifications", "Digest email sent twice on Mondays",
        "The weekly digest email goes out twice every Monday morning, a few minutes apart.",
        "Subscribe to the weekly digest|Wait for Monday", "Two identical digests.",
        "all accounts outside UTC",
        "cron digest-weekly scheduled in both UTC and the account timezone",
        "we receive the weekly summary email twice|a duplicate digest every Monday|the digest "
        "arrives two times|double weekly emails to all our users"),
    bug(191, "notifications", "Unsubscribe link returns 404",
        "The unsubscribe link at the bottom of notification emails opens 'Page not found', so "
        "recipients cannot opt out and mark the mails as spam.",
        "Open any notification email|Click 'Unsubscribe'", "404 Page not found.",
        "all mail clients", "GET /email/unsubscribe/{token} → 404 (route removed in v4.2)",
        "the unsubscribe link gives page not found|people can't opt out of the emails|"
        "clicking unsubscribe shows a 404 error|recipients mark us as spam because "
        "unsubscribing fails"),
    bug(196, "notifications", "Alert thresholds not saved",
        "Changing the low-stock alert threshold under Settings > Alerts shows 'Saved', but "
        "the old value is back after a reload.",
        "Open Settings > Alerts|Set the low-stock threshold to 5 and save|Reload",
        "The threshold shows 10 again.", "web",
        "PATCH /api/alerts/thresholds → 200 but body ignored (min_qty renamed threshold)",
        "the low stock alert level resets after saving|alert settings don't stick|I change "
        "the threshold and it goes back to the old number"),

    bug(197, "reporting", "CSV export truncates at 10,000 rows",
        "Exporting orders or customers to CSV stops at exactly 10,000 rows without a warning; "
        "larger exports are silently incomplete.",
        "Filter orders over a year|Click Export > CSV", "The file has 10,000 rows of 26,413.",
        "all platforms", "export job: LIMIT 10000 inherited from the preview query",
        "the CSV export is cut off at ten thousand lines|our order export is missing rows|the "
        "spreadsheet download stops at 10000 records|the export file is incomplete for long "
        "date ranges|only part of the customers end up in the exported file"),
    bug(204, "reporting", "Timezone wrong in scheduled reports",
        "Scheduled reports are sent with times in UTC instead of the account's timezone, so "
        "daily figures include the previous day's evening.",
        "Set the account timezone to America/New_York|Schedule a daily report at 07:00",
        "Figures cover 19:00-19:00 local time.", "all accounts outside UTC",
        "report scheduler: tz=UTC (account.timezone ignored for cron 'daily 07:00')",
        "scheduled reports show the wrong time zone|the daily report numbers are shifted by "
        "hours|the emailed report uses UTC instead of our local time|yesterday's sales appear "
        "in today's report"),
    bug(207, "reporting", "Report builder crashes with 20+ columns",
        "Adding more than 20 columns in the custom report builder freezes the tab and then "
        "shows 'Something went wrong'.",
        "Open Reports > Custom|Add 21 columns", "The tab freezes, then the error page shows.",
        "Chrome and Firefox", "TypeError: Cannot read properties of undefined (reading "
        "'width') at ColumnLayout.measure",
        "the custom report builder freezes when adding many columns|the report editor crashes "
        "with something went wrong|can't add more columns to a report without a crash"),
    bug(206, "reporting", "Chart legend overlaps on small screens",
        "On laptop screens narrower than 1366 px the dashboard chart legend overlaps the bars "
        "and the labels are unreadable.",
        "Open the dashboard on a 1280 px wide window", "The legend covers the chart.",
        "web on laptops", "legend position=right not switched to bottom under 1366px",
        "chart labels overlap the graph on my laptop|the legend covers the dashboard charts|"
        "dashboard graphs are unreadable on a small screen"),
    bug(263, "reporting|notifications", "Weekly report email has broken images",
        "The weekly performance report email shows broken image placeholders instead of "
        "charts in Outlook and Gmail.",
        "Subscribe to the weekly performance report|Open the email a day later",
        "Broken image icons where the charts should be.", "Outlook 365, Gmail",
        "chart image URL signed for 15 min: GET /charts/weekly.png → 403 Request has expired",
        "charts in the weekly report email are broken images|the report mail shows empty "
        "picture boxes in Outlook|graphs are missing from the emailed performance report"),
    bug(203, "reporting", "Dashboard totals differ from export",
        "Revenue on the dashboard differs from the exported orders for the same period.",
        "Compare the dashboard revenue with an export of the same month",
        "The totals differ by refunds.", "all platforms", "dashboard excludes refunds",
        "dashboard revenue doesn't match the exported numbers|totals on the dashboard differ "
        "from the CSV", closed=True),

    bug(209, "mobile-sync", "Offline edits lost after reconnect",
        "Changes made in the mobile app while offline (stock counts, notes) are overwritten by "
        "the server copy when the device reconnects.",
        "Turn on airplane mode|Edit a stock count in the app|Turn airplane mode off",
        "The edit is gone after the sync.", "iOS and Android apps 5.3+",
        "sync: conflict resolved server-wins for 37 local changes (lastModified missing)",
        "everything I changed without signal was gone once back online|offline changes are "
        "wiped when the phone reconnects|stock counts entered in the warehouse disappeared "
        "after the sync|the app overwrites our offline work|lost all edits made in airplane "
        "mode", labels="priority/p1"),
    bug(213, "mobile-sync", "iOS app syncs only on foreground",
        "The iPhone app only syncs while it is open on screen; background refresh never runs, "
        "so data is hours old when staff open it.",
        "Close the iOS app|Change data on the web|Open the app an hour later",
        "Old data until a manual pull to refresh.", "iOS 17 and iPadOS 17",
        "BGAppRefreshTask not registered: identifier missing from Info.plist",
        "the iPhone app doesn't update in the background|data on iOS is stale until I open "
        "the app|background refresh never happens on iPhone"),
    bug(216, "mobile-sync", "Android sync drains battery",
        "The Android app holds a wake lock during sync retries, draining 30-40 % of the "
        "battery a day on Samsung and Pixel phones.",
        "Install the Android app|Leave it signed in overnight", "Battery down 35 %.",
        "Android 13 and 14", "WakeLock SyncWorker held 5h12m; retry backoff=0 after 503",
        "the Android app eats the battery|the phone battery drains overnight because of the "
        "app|battery usage shows your app at 40 percent on Samsung"),
    bug(217, "mobile-sync", "Conflict dialog shows raw JSON",
        "The sync conflict dialog shows the raw JSON of both versions instead of a readable "
        "comparison.",
        "Edit the same record on two devices offline|Reconnect both",
        "A dialog full of JSON.", "iOS and Android", "ConflictDialog renders payload.toString()",
        "the sync conflict popup shows code instead of text|a dialog full of curly braces "
        "appears", closed=True),

    bug(231, "billing", "Proration wrong on mid-cycle upgrade",
        "Upgrading the plan in the middle of a billing period charges the full new price "
        "instead of the prorated difference, with no credit for the unused days.",
        "Subscribe to Pro monthly|Upgrade to Business on day 15",
        "Charged the full Business price.", "all platforms",
        "billing: proration_behavior=none sent on subscription update",
        "we were charged the full amount when upgrading mid month|no credit for the unused "
        "days after changing plan|the upgrade was billed twice for the same period|the "
        "prorated charge is wrong after the plan change"),
    bug(222, "billing", "Invoice PDF missing VAT number",
        "Invoice PDFs no longer print the customer's VAT ID, so EU business customers cannot "
        "reclaim VAT.",
        "Enter a VAT ID under Account > Billing|Download the next invoice PDF",
        "No VAT ID on the PDF.", "all platforms",
        "invoice template v3: field tax_id not mapped (renamed vat_number)",
        "our VAT ID is not on the invoice PDF|the tax number is missing from invoices|our "
        "finance team can't reclaim VAT without the number on the bill"),
    bug(234, "billing", "Credit notes not listed in billing history",
        "Refund credit notes are emailed but do not appear under Account > Billing history, "
        "and cannot be downloaded again.",
        "Ask for a refund|Open Account > Billing history", "Only invoices are listed.",
        "web", "GET /api/billing/documents?type=invoice filters out credit_note",
        "the credit note for our refund isn't in the billing history|can't find refund "
        "documents in the account"),
    bug(237, "billing", "Dunning emails ignore locale",
        "Failed-payment reminders (dunning emails) are always sent in English, even to "
        "accounts set to German, French or Spanish.",
        "Set the account language to German|Let a payment fail", "The reminder is in English.",
        "all mail clients", "dunning mailer: locale=en hard-coded in the template lookup",
        "payment reminder emails come in English although we set German|failed payment "
        "notices aren't translated"),

    bug(240, "", "Export button greyed out for read-only users",
        "Users with the read-only role cannot export anything: the Export button is disabled.",
        "Sign in as a read-only user|Open Orders", "Export is greyed out.", "web",
        "permission export:read missing from role viewer",
        "read-only users can't export|the export button is disabled for viewers"),
    bug(245, "", "Slow first load on Firefox ESR",
        "The first page load takes 20+ seconds on Firefox ESR 115.",
        "Open the admin in Firefox ESR 115 with an empty cache", "20 s of blank page.",
        "Firefox ESR 115", "main.js 4.1 MB parsed without module preload",
        "the admin is very slow to open in Firefox|blank page for 20 seconds on ESR"),
    bug(254, "", "Locale picker forgets the choice",
        "The language picker resets to English on every sign-in.",
        "Pick Deutsch in the footer|Sign out and in again", "English again.", "web",
        "locale cookie not persisted to the profile",
        "the language switches back to English|the admin forgets our language",
        labels="good first issue"),
]

BY_NUMBER = {b.number: b for b in BUGS}

# Everyday words of each feature: in many of its bugs, so they say little about which one.
FEATURE_TALK = {
    "checkout": ["checkout is not working properly", "customers can't complete their orders",
                 "we are losing sales at checkout", "the payment step is broken"],
    "search": ["search is not working right", "customers can't find products",
               "the search results are wrong"],
    "login": ["people can't log in", "signing in is broken for some users",
              "our staff are locked out of the account"],
    "notifications": ["notifications are not working", "the emails we get are wrong",
                      "alerts are unreliable"],
    "reporting": ["the reports are wrong", "our reporting is broken", "the dashboards are off"],
    "mobile-sync": ["the app does not sync properly", "mobile data is out of date",
                    "offline mode is unreliable"],
    "billing": ["our bill looks wrong", "billing is confusing us",
                "the invoice amounts are off"],
}
GENERIC_SUBJECTS = ["Problem with {f}", "{F} not working", "Question about {f}", "Urgent: {f}",
                    "{F} issue", "Help with {f}"]
OPENERS = ["", "", "Hi,", "Hello team,", "Hi there,", "Good morning,", "Hey support,"]
CONTEXT = ["This started last week.", "It happens several times a day.",
           "Several people in our office see it.", "We have a deadline on Friday.",
           "Our customers are complaining.", "It worked fine a month ago.",
           "We already cleared the cache and cookies.", "Happens every single time.",
           "Can you look into it asap?", "This is costing us money."]
CLOSERS = ["", "", "Thanks.", "Thanks in advance.", "Regards, Sam", "Cheers", "Best, Priya"]
NEGATIVE = ["Still broken after two weeks.", "This keeps failing for our team.",
            "We lost sales because of this.", "Please fix, it is blocking us.",
            "Frustrating, had to retry five times.", "Third time I report this.",
            "Slow answers and no fix.", "Nobody got back to me."]
PII = ["Reach me at jane.doe@example.com or +1 415 555 0100 if you need logs.",
       "Workaround from https://example.com/kb does not help @support"]
POSITIVE = ["Smooth as always.", "Quick answer, thanks!", "Works fine now.", "Great support.",
            "Solved in minutes.", "All good.", "Very helpful agent.", "Fixed quickly, thank you.",
            "Easy to use.", "Love the new dashboard."]
PLATFORM_SAYS = {"web": ["in Chrome", "on the website", "on my laptop", "in the browser"],
                 "ios": ["on the iPhone app", "on iOS", "on my iPad"],
                 "android": ["on Android", "on my Samsung phone", "in the Android app"]}


def issue_body(b: Bug) -> str:
    """Return a GitHub issue body the way engineers write them."""
    steps = "\n".join(f"{n}. {s}" for n, s in enumerate(b.steps, 1))
    return (f"{b.summary}\n\n### Steps to reproduce\n{steps}\n\n### Actual\n{b.actual}\n\n"
            f"### Environment\n{b.env}\n\n### Error\n```\n{b.error}\n```\n")


def pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


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


def issues() -> list[dict[str, object]]:
    items = []
    for b in sorted(BUGS, key=lambda b: b.number):
        labels = [FEATURES[f][1] for f in b.features] + ["bug", *b.extra_labels]
        items.append({"number": b.number, "title": b.title,
                      "state": "CLOSED" if b.closed else "OPEN",
                      "labels": [{"name": name} for name in labels],
                      "url": f"https://github.com/{REPO}/issues/{b.number}",
                      "body": issue_body(b)})
    return items


def weighted_sample(rng: random.Random, items: list[str], weights: list[float],
                    n: int) -> list[str]:
    """Return n distinct items, heavier ones likelier (Efraimidis–Spirakis)."""
    keys = sorted(((rng.random() ** (1 / w), item) for item, w in zip(items, weights,
                                                                      strict=True)), reverse=True)
    return [item for _, item in keys[:n]]


class Shop:
    """Who uses which feature, whom each bug hits, and what they write about it."""

    def __init__(self, rng: random.Random, accounts: list[dict[str, object]]) -> None:
        self.rng = rng
        self.plan = {str(a["id"]): str(a["plan"]) for a in accounts}
        ids = list(self.plan)
        # Larger accounts write in more often; within a plan, activity is skewed (lognormal).
        boost = {"free": 0.6, "pro": 1.0, "business": 1.4, "enterprise": 2.0}
        self.activity = {c: boost[self.plan[c]] * rng.lognormvariate(0, 0.8) for c in ids}
        self.users = {f: weighted_sample(rng, ids, [self.activity[c] for c in ids], n)
                      for f, n in USERS.items()}
        self.bugs: dict[str, list[Bug]] = {}
        for b in BUGS:
            for feature in b.features:
                self.bugs.setdefault(feature, []).append(b)
        # A bug hits some of its feature's users, more of them the more painful it is.
        self.hit: dict[int, list[str]] = {}
        for feature, bugs in self.bugs.items():
            weights = self.zipf(len(bugs))
            users = self.users[feature]
            for b, w in zip(bugs, weights, strict=True):
                if b.number not in self.hit:
                    size = max(3, round(HIT * len(users) * w / sum(weights)))
                    self.hit[b.number] = weighted_sample(
                        rng, users, [self.activity[c] for c in users], size)
        self.referenced_only = [b for b in BUGS if not b.features]

    @staticmethod
    def zipf(n: int) -> list[float]:
        return [1 / (rank + 1) ** ZIPF for rank in range(n)]

    def customer(self, among: list[str]) -> str:
        return self.rng.choices(among, [self.activity[c] for c in among])[0]

    def complaint(self, feature: str, at: datetime) -> tuple[Bug | None, str]:
        """Return the bug a complaint about a feature is about (None: generic) and who."""
        if self.rng.random() < GENERIC:
            return None, self.customer(self.users[feature])
        bugs = self.bugs[feature]
        chosen = self.rng.choices(bugs, self.zipf(len(bugs)))[0]
        # A closed bug was fixed a month before the window: later complaints are about others.
        if chosen.closed and at > END - timedelta(days=120):
            return self.complaint(feature, at)
        return chosen, self.customer(self.hit[chosen.number])

    def symptom(self, b: Bug, platform: str, said: tuple[str, ...] = ()) -> str:
        """Return one sentence about a bug's symptom, none of ``said`` when it can."""
        rng = self.rng
        text = rng.choice([s for s in b.says if s not in said] or b.says)
        if rng.random() < 0.35:
            text += " " + rng.choice(PLATFORM_SAYS[platform])
        return sentence(text) + "."

    def ticket_text(self, feature: str, b: Bug | None, platform: str) -> tuple[str, str]:
        """Return a ticket's subject and description."""
        rng = self.rng
        talk = sentence(rng.choice(FEATURE_TALK[feature])) + "."
        name = feature.replace("-", " ")
        generic = rng.choice(GENERIC_SUBJECTS).format(f=name, F=sentence(name))
        if b is None:
            return generic, letter(rng, [talk, rng.choice(CONTEXT)])
        subject = "" if rng.random() < 0.4 else rng.choice(b.says)
        body = [self.symptom(b, platform, (subject,))]
        if rng.random() < 0.4:
            body.append(self.symptom(b, platform, (subject, *body)))
        if rng.random() < 0.3:
            body.append(talk)
        if rng.random() < 0.15:
            body.append(f"The error says \"{b.error.split(' (')[0]}\".")
        body.append(rng.choice(CONTEXT))
        return (sentence(subject) if subject else generic), letter(rng, body)

    def comment(self, b: Bug | None, platform: str) -> str:
        """Return a dissatisfied respondent's comment."""
        rng = self.rng
        parts = [self.symptom(b, platform) if b else rng.choice(NEGATIVE)]
        if b and rng.random() < 0.3:
            parts.insert(0, rng.choice(NEGATIVE))
        if rng.random() < 0.06:
            parts.append(rng.choice(PII))
        return " ".join(parts)


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def letter(rng: random.Random, body: list[str]) -> str:
    """Return a message: maybe a greeting, the body, maybe a sign-off."""
    parts = [rng.choice(OPENERS), " ".join(body), rng.choice(CLOSERS)]
    return "\n\n".join(p for p in parts if p)


def when(rng: random.Random) -> datetime:
    return END - timedelta(seconds=rng.randint(0, DAYS * 86400))


def dissatisfied_share(feature: str, at: datetime) -> float:
    before, after = FEATURES[feature][2]
    return after if at > END - timedelta(days=90) else before


def reference(rng: random.Random, number: int) -> str:
    """Return an explicit reference to an issue in one of the forms a reference field holds."""
    return rng.choice([f"#{number}", f"#{number}", f"{REPO}#{number}",
                       f"https://github.com/{REPO}/issues/{number}"])


def tickets(rng: random.Random, shop: Shop) -> list[dict[str, object]]:
    features = list(FEATURES)
    weights = [FEATURES[f][3] for f in features]
    rows = []
    for n in range(1, 1501):
        feature = rng.choices(features, weights)[0]
        created = when(rng)
        platform = pick(rng, MOBILE if feature == "mobile-sync" else PLATFORMS)
        b, account = shop.complaint(feature, created)
        subject, description = shop.ticket_text(feature, b, platform)
        tags = [rng.choice(FEATURES[feature][0]), rng.choice(["web", "api", "urgent", "vip"])]
        refs, roll = "", rng.random()
        if roll < 0.06 and b:  # the agent linked the bug in the reference field
            refs = reference(rng, b.number)
            if rng.random() < 0.25:  # though the customer's words say little
                subject, description = shop.ticket_text(feature, None, platform)
        elif roll < 0.08 and b:  # the customer pasted the bug into the message
            link = rng.choice([f"{REPO}#{b.number}", f"https://github.com/{REPO}/issues/{b.number}"])
            description += f"\n\nP.S. Looks like {link} to me."
        elif roll < 0.10:  # a bug no feature label covers
            b = rng.choices(shop.referenced_only, [0.35, 0.1, 0.55])[0]
            subject = f"{shop.symptom(b, platform)[:-1]} (see {REPO}#{b.number})"
        elif roll < 0.13:  # no feature tag: nothing links it
            subject, description, tags, b = "Question about API limits", (
                "How many requests per minute does the API allow?"), ["api"], None
        rows.append({
            "id": f"T-{n:05d}", "created_at": iso(created),
            "updated_at": (created + timedelta(hours=rng.randint(1, 72))).isoformat(),
            "customer_id": account, "requester_id": f"user-{rng.randint(1, 900):04d}",
            "status": rng.choice(["solved", "solved", "closed", "open", "pending"]),
            "subject": subject, "description": description, "tags": tags, "issue_refs": refs,
            "plan": shop.plan[account], "platform": platform,
            "_feature": feature, "_bug": b.number if b else None, "_at": created,
        })
    return rows


def responses(rng: random.Random, shop: Shop, ticket_rows: list[dict[str, object]]
              ) -> list[dict[str, object]]:
    features = list(FEATURES)
    weights = [FEATURES[f][3] for f in features]
    everyone = list(shop.plan)
    rows: list[dict[str, object]] = []
    newest: dict[str, tuple[datetime, int]] = {}  # each feature's newest complaint
    for n in range(1, 3601):
        feature = rng.choices(features, weights)[0]
        at = when(rng)
        platform = pick(rng, MOBILE if feature == "mobile-sync" else PLATFORMS)
        rated = rng.choice(ticket_rows) if rng.random() < 0.08 else None
        if rated:  # rates a ticket: inherits its tags, references and text
            feature, platform = str(rated["_feature"]), str(rated["platform"])
            solved = rated["_at"] + timedelta(hours=rng.randint(2, 96))  # type: ignore[operator]
            at = min(solved, END)
        offered = rng.random() < 0.25
        unhappy = not offered and rng.random() < dissatisfied_share(feature, at)
        b, account = shop.complaint(feature, at) if unhappy else (None, shop.customer(
            shop.users[feature] if rng.random() < SATISFIED_USERS else everyone))
        if rated:
            b, account = BY_NUMBER.get(int(str(rated["_bug"] or 0))), str(rated["customer_id"])
        row: dict[str, object] = {
            "id": f"R-{n:05d}", "submitted_at": at.strftime("%Y-%m-%d %H:%M:%S"), "score": "",
            "status": "offered" if offered else "answered", "customer_id": account,
            "respondent_id": f"user-{rng.randint(1, 900):04d}", "comment": "",
            "tags": "" if rated else rng.choice(FEATURES[feature][0]),
            "ticket_id": rated["id"] if rated else "", "issue_refs": "",
            "plan": shop.plan[account], "platform": platform}
        if unhappy:
            row["score"] = rng.choice([1, 2, 3])
            if rng.random() < COMMENTED:
                row["comment"] = shop.comment(b, platform)
                if b and not rated and rng.random() < 0.03:
                    row["issue_refs"] = reference(rng, b.number)
                if at > newest.get(feature, (END - timedelta(days=DAYS), 0))[0]:
                    newest[feature] = (at, len(rows))
        elif not offered:
            row["score"] = rng.choice([4, 5, 5])
            if rng.random() < 0.25:
                row["comment"] = rng.choice(POSITIVE)
        rows.append(row)
    # Each feature's newest complaint carries personal data, which quotes must redact.
    for k, (_, index) in enumerate(sorted(newest.values())):
        if not any(p in str(rows[index]["comment"]) for p in PII):
            rows[index]["comment"] = f"{rows[index]['comment']} {PII[k % 2]}"
    # Bad rows, to show the quarantine: out-of-scale score, bad time, missing id.
    rows.append({**rows[10], "id": "R-BAD-1", "score": "7", "status": "answered"})
    rows.append({**rows[11], "id": "R-BAD-2", "submitted_at": "yesterday"})
    rows.append({**rows[12], "id": ""})
    return rows


def main() -> None:
    rng = random.Random(SEED)
    accounts = customers(rng)
    shop = Shop(rng, accounts)
    ticket_rows = tickets(rng, shop)
    response_rows = responses(rng, shop, ticket_rows)
    write_csv(HERE / "customers.csv", accounts)
    write_csv(HERE / "csat.csv", response_rows)
    with (HERE / "tickets.jsonl").open("w", encoding="utf-8", newline="\n") as f:
        for t in ticket_rows:
            public = {k: v for k, v in t.items() if not k.startswith("_")}
            f.write(json.dumps(public, ensure_ascii=False) + "\n")
    text = json.dumps(issues(), indent=1, ensure_ascii=False) + "\n"
    (HERE / "issues.json").write_text(text, encoding="utf-8")


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
