"""Register the sandbox's demo users in the portal (for `make run`); safe to run again.

`superadmin` (password Super@123, asks for an OTP) and `admin01` (Admin@123, no OTP) exist
in the sandbox's Mobiquity; this puts them in our registry so they may sign in.
"""

from __future__ import annotations

import sys

from bbp_portal.app import create_app
from bbp_portal.registry import ensure_user

DEMO = [
    ("superadmin", "superadmin@bbp.example", "superadmin", "01710000001"),
    ("admin01", "admin01@bbp.example", "admin", "01710000002"),
]


def main() -> int:
    app = create_app()
    with app.app_context():
        for login_id, email, role, mobile in DEMO:
            user, added = ensure_user("seed_demo", login_id, email, role, mobile=mobile)
            print(f"{'added' if added else 'ready'}: {user.login_id} ({user.role})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
