# ruff: noqa: E501, S603, T201  (a table of translations; a maintainer's script that prints)
"""Build the Bangla catalogue: extract the interface text, fill in the Bangla we have, compile.

Run from the repository root after changing interface text:
``.venv/bin/python services/portal/scripts/bn_translations.py``. Texts without a Bangla
entry here stay English on the Bangla pages (Flask-Babel falls back); add them below.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent.parent
CATALOGUE = HERE / "src/bbp_portal/translations/bn/LC_MESSAGES"

BANGLA = {
    "Notifications": "বিজ্ঞপ্তি",
    "Notifications not delivered": "যে বিজ্ঞপ্তি পৌঁছায়নি",
    "E-mails and SMS that failed for good (a bad address, a broken template, a refusal) or that kept failing until their attempts ran out. Fix the cause, then send them again.": "যে ই-মেইল ও এসএমএস স্থায়ীভাবে ব্যর্থ হয়েছে (ভুল ঠিকানা, ত্রুটিপূর্ণ টেমপ্লেট, প্রত্যাখ্যান) বা সব চেষ্টা শেষ হওয়া পর্যন্ত ব্যর্থ হয়েছে। কারণ ঠিক করে আবার পাঠান।",
    "Notifications not delivered, newest first": "যে বিজ্ঞপ্তি পৌঁছায়নি, নতুনগুলো আগে",
    "Created (UTC)": "তৈরি (UTC)",
    "Kind": "ধরন",
    "Channel": "মাধ্যম",
    "Recipient": "প্রাপক",
    "Request": "অনুরোধ",
    "State": "অবস্থা",
    "Attempts": "চেষ্টা",
    "Last error": "শেষ ত্রুটি",
    "Sent again by": "আবার পাঠিয়েছেন",
    "Send again": "আবার পাঠান",
    "Every notification was delivered.": "সব বিজ্ঞপ্তি পৌঁছেছে।",
    "That notification is not failed or dead (any more).": "এই বিজ্ঞপ্তিটি (আর) ব্যর্থ অবস্থায় নেই।",
    "The notification will be sent again.": "বিজ্ঞপ্তিটি আবার পাঠানো হবে।",
    "Bad request": "ভুল অনুরোধ",
    "The request could not be understood.": "অনুরোধটি বোঝা যায়নি।",
    "Sign in first": "আগে সাইন ইন করুন",
    "Please sign in to continue.": "চালিয়ে যেতে সাইন ইন করুন।",
    "Not allowed": "অনুমতি নেই",
    "Your role may not open this page.": "আপনার ভূমিকায় এই পাতাটি খোলা যায় না।",
    "Not found": "পাওয়া যায়নি",
    "There is no such page.": "এমন কোনো পাতা নেই।",
    "Too many attempts": "অনেকবার চেষ্টা করা হয়েছে",
    "Too many attempts in a short time. Please wait a minute and try again.": "অল্প সময়ে অনেকবার চেষ্টা করা হয়েছে। এক মিনিট অপেক্ষা করে আবার চেষ্টা করুন।",
    "Something went wrong": "কিছু একটা ভুল হয়েছে",
    "The portal could not complete the request.": "পোর্টাল অনুরোধটি সম্পূর্ণ করতে পারেনি।",
    "Dashboard": "ড্যাশবোর্ড",
    "Fetch bills": "বিল আনুন",
    "The wallet breaker is open: no payment is sent until a superadmin closes it": "ওয়ালেট ব্রেকার খোলা: একজন সুপারঅ্যাডমিন বন্ধ না করা পর্যন্ত কোনো পেমেন্ট পাঠানো হবে না",
    "The wallet breaker is probing: one payment at a time until one proves the wallet": "ওয়ালেট ব্রেকার যাচাই করছে: একটি পেমেন্ট সফল না হওয়া পর্যন্ত একবারে একটি করে পেমেন্ট",
    "Administration": "প্রশাসন",
    "Role:": "ভূমিকা:",
    "The figures cannot be read just now. The pages below still open; try again in a minute.": "এই মুহূর্তে হিসাবগুলো পড়া যাচ্ছে না। নিচের পাতাগুলো খোলা যাবে; এক মিনিট পরে আবার চেষ্টা করুন।",
    "fetches and payments, with their progress": "বিল আনা ও পরিশোধ, অগ্রগতিসহ",
    "uncleared payments, paused requests, approvals, the wallet breaker": "অমীমাংসিত পেমেন্ট, থামানো অনুরোধ, অনুমোদন, ওয়ালেট ব্রেকার",
    "Pay bills": "বিল পরিশোধ করুন",
    "Upload accounts": "অ্যাকাউন্ট আপলোড করুন",
    "Needs attention": "মনোযোগ প্রয়োজন",
    "Nothing needs attention.": "কোনো কিছুতে মনোযোগ প্রয়োজন নেই।",
    "Paying wallet:": "পরিশোধকারী ওয়ালেট:",
    "Requests in progress": "চলমান অনুরোধ",
    "Where to go": "কোথায় যাবেন",
    "Your latest requests": "আপনার সাম্প্রতিক অনুরোধ",
    "All your requests": "আপনার সব অনুরোধ",
    "You have not started a request yet.": "আপনি এখনো কোনো অনুরোধ শুরু করেননি।",
    "Find a payment": "পেমেন্ট খুঁজুন",
    "Type": "ধরন",
    "Progress": "অগ্রগতি",
    "Total (BDT)": "মোট (টাকা)",
    "%(n)s uncleared payments — a person decides": "%(n)sটি অমীমাংসিত পেমেন্ট — একজন ব্যক্তি সিদ্ধান্ত নেবেন",
    "%(n)s payments being enquired": "%(n)sটি পেমেন্টের খোঁজ নেওয়া হচ্ছে",
    "%(n)s results that disagreed": "%(n)sটি অমিল ফলাফল",
    "%(n)s requests paused by the system": "সিস্টেম %(n)sটি অনুরোধ থামিয়েছে",
    "%(n)s requests waiting for approval": "%(n)sটি অনুরোধ অনুমোদনের অপেক্ষায়",
    "search, groups, fetch their pending bills": "খোঁজা, গ্রুপ, বকেয়া বিল আনা",
    "by reference id, consumer id or bill number": "রেফারেন্স আইডি, গ্রাহক আইডি বা বিল নম্বর দিয়ে",
    "who signed in, and every change": "কে সাইন ইন করেছেন, এবং প্রতিটি পরিবর্তন",
    "Bill accounts": "বিল অ্যাকাউন্ট",
    "Billers": "বিলার",
    "Requests": "অনুরোধসমূহ",
    "Users": "ব্যবহারকারী",
    "Audit log": "অডিট লগ",
    "E-mail": "ই-মেইল",
    "Mobile number (optional)": "মোবাইল নম্বর (ঐচ্ছিক)",
    "Role": "ভূমিকা",
    "Language": "ভাষা",
    "Saved.": "সংরক্ষিত হয়েছে।",
    "Login ID": "লগইন আইডি",
    "Password": "পাসওয়ার্ড",
    "One-time password (OTP)": "ওয়ান-টাইম পাসওয়ার্ড (OTP)",
    "The OTP has 6 digits.": "OTP-তে ৬টি অঙ্ক থাকে।",
    "New password": "নতুন পাসওয়ার্ড",
    "Confirm the new password": "নতুন পাসওয়ার্ডটি আবার লিখুন",
    "The two new passwords differ.": "দুটি নতুন পাসওয়ার্ড মেলেনি।",
    "Current password": "বর্তমান পাসওয়ার্ড",
    "You were signed out after a time without activity. Please sign in again.": "কিছুক্ষণ নিষ্ক্রিয় থাকায় আপনাকে সাইন আউট করা হয়েছে। আবার সাইন ইন করুন।",
    "Your session has reached its maximum length. Please sign in again.": "আপনার সেশনের সর্বোচ্চ সময় শেষ হয়েছে। আবার সাইন ইন করুন।",
    "Your access to the portal has been withdrawn.": "পোর্টালে আপনার প্রবেশাধিকার বাতিল করা হয়েছে।",
    "The login ID or password is not correct, or this login ID may not use the portal.": "লগইন আইডি বা পাসওয়ার্ড সঠিক নয়, অথবা এই লগইন আইডি পোর্টাল ব্যবহার করতে পারে না।",
    "Mobiquity could not be reached just now. Please try again in a minute.": "এই মুহূর্তে মোবিকুইটির সাথে যোগাযোগ করা যাচ্ছে না। এক মিনিট পরে আবার চেষ্টা করুন।",
    "Welcome, %(name)s.": "স্বাগতম, %(name)s।",
    "Welcome, %(name)s": "স্বাগতম, %(name)s",
    "That sign-in step has ended. Please start again.": "সাইন-ইনের এই ধাপটি শেষ হয়ে গেছে। আবার শুরু করুন।",
    "The OTP was not accepted.": "OTP গ্রহণ করা হয়নি।",
    "Please start again.": "আবার শুরু করুন।",
    "You have signed out.": "আপনি সাইন আউট করেছেন।",
    "If this login ID may use the portal, an OTP has been sent to its mobile number.": "এই লগইন আইডি পোর্টাল ব্যবহারের অনুমতিপ্রাপ্ত হলে এর মোবাইল নম্বরে একটি OTP পাঠানো হয়েছে।",
    "Your password has been changed. Sign in with the new password.": "আপনার পাসওয়ার্ড পরিবর্তন হয়েছে। নতুন পাসওয়ার্ড দিয়ে সাইন ইন করুন।",
    "Your current password is not correct.": "আপনার বর্তমান পাসওয়ার্ড সঠিক নয়।",
    "Your password has been changed.": "আপনার পাসওয়ার্ড পরিবর্তন হয়েছে।",
    "Bulk Bill Payment": "বাল্ক বিল পেমেন্ট",
    "Skip to content": "মূল অংশে যান",
    "Main": "প্রধান",
    "Menu": "মেনু",
    "Coming soon": "শীঘ্রই আসছে",
    "Change password": "পাসওয়ার্ড পরিবর্তন",
    "Sign out": "সাইন আউট",
    "You are signed in as %(role)s.": "আপনি %(role)s হিসেবে সাইন ইন করেছেন।",
    "Change your password": "আপনার পাসওয়ার্ড পরিবর্তন করুন",
    "5 to 10 characters.": "৫ থেকে ১০টি অক্ষর।",
    "3 to 20 characters.": "৩ থেকে ২০টি অক্ষর।",
    "Cancel": "বাতিল",
    "One-time password": "ওয়ান-টাইম পাসওয়ার্ড",
    "Enter your one-time password": "আপনার ওয়ান-টাইম পাসওয়ার্ড দিন",
    "Continue": "চালিয়ে যান",
    "Forgot password": "পাসওয়ার্ড ভুলে গেছেন",
    "Forgot your password?": "পাসওয়ার্ড ভুলে গেছেন?",
    "Send the OTP": "OTP পাঠান",
    "Back to sign in": "সাইন ইনে ফিরে যান",
    "Choose a new password": "নতুন পাসওয়ার্ড বেছে নিন",
    "Enter the OTP": "OTP দিন",
    "Start again": "আবার শুরু করুন",
    "Sign in": "সাইন ইন",
    "Use your Mobiquity login ID and password.": "আপনার মোবিকুইটি লগইন আইডি ও পাসওয়ার্ড ব্যবহার করুন।",
    "Mobiquity has sent a 6-digit OTP to your registered mobile number.": "মোবিকুইটি আপনার নিবন্ধিত মোবাইল নম্বরে ৬ অঙ্কের একটি OTP পাঠিয়েছে।",
    "Enter your login ID. Mobiquity will send an OTP to your registered mobile number; then "
    "you choose a new password.": "আপনার লগইন আইডি দিন। মোবিকুইটি আপনার নিবন্ধিত মোবাইল নম্বরে একটি OTP পাঠাবে; "
    "তারপর আপনি নতুন পাসওয়ার্ড বেছে নেবেন।",
    "Go to the start page": "শুরুর পাতায় যান",
    "Save": "সংরক্ষণ",
    "Edit": "সম্পাদনা",
    "Enable": "চালু করুন",
    "Disable": "বন্ধ করুন",
    "active": "সক্রিয়",
    "disabled": "নিষ্ক্রিয়",
    "Add a user": "ব্যবহারকারী যোগ করুন",
    "Filter": "ছাঁকুন",
    "Older": "পুরোনো",
    "Newest": "সর্বশেষ",
    "Nothing matches.": "কিছুই মেলেনি।",
}


def main() -> int:
    pot = HERE / "build" / "messages.pot"
    pot.parent.mkdir(exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(HERE / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--no-location",
            "--omit-header",
            "-o",
            str(pot),
            str(HERE),
        ],
        check=True,
        cwd=HERE,
    )
    with pot.open("rb") as f:
        catalog = read_po(f, locale="bn")
    catalog.project, catalog.version = "bbp-portal", "0"
    for message in catalog:
        if message.id and isinstance(message.id, str) and message.id in BANGLA:
            message.string = BANGLA[message.id]
    CATALOGUE.mkdir(parents=True, exist_ok=True)
    with (CATALOGUE / "messages.po").open("wb") as f:
        write_po(f, catalog, omit_header=False, width=100)
    with (CATALOGUE / "messages.mo").open("wb") as f:
        write_mo(f, catalog)
    done = sum(1 for m in catalog if m.id and m.string)
    print(f"bn: {done} of {len(catalog) - 1} texts translated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
