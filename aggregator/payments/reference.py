"""Per-wallet payment references: ISO 11649 structured creditor references ("RF" + two
check digits + up to 21 characters), which Thai and European banks carry through a
transfer's remittance information unchanged. The check digits catch a mistyped reference
before it could credit somebody else: a mistyped one matches no wallet and is held."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: read aloud, typed by hand


def _numeric(text: str) -> int:
    return int("".join(str(int(c, 36)) for c in text))


def rf_reference(body: str) -> str:
    check = 98 - _numeric(body + "RF00") % 97
    return f"RF{check:02d}{body}"


def is_valid(reference: str) -> bool:
    ref = reference.replace(" ", "").upper()
    if len(ref) < 5 or len(ref) > 25 or not ref.startswith("RF") or not ref[2:4].isdigit() or not ref.isalnum():
        return False
    return _numeric(ref[4:] + ref[:4]) % 97 == 1


def new_reference() -> str:
    return rf_reference("GTX" + "".join(secrets.choice(_ALPHABET) for _ in range(12)))
