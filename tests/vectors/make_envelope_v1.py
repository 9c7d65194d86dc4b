"""Regenerate tests/vectors/envelope_v1.json (the golden envelope vectors).

    .venv/bin/python -m tests.vectors.make_envelope_v1 [--check]

The payload bytes of every vector are written out literally below, not
produced by common.envelope, so the vectors pin the format independently of
the code under test; signatures come from libsodium (Ed25519 is
deterministic). ``--check`` fails if the committed file differs.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

import nacl.signing

OUT = Path(__file__).with_name("envelope_v1.json")


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"gridtokenx envelope v1 vector " + label.encode()).digest()


SEED_A = _seed("meter A")
SEED_B = _seed("meter B")

# (name, seed, payload bytes exactly as the firmware writes them)
VALID = [
    (
        "reading_exporting_clock_valid",
        SEED_A,
        b'{"kind":"reading","meter":"mtr-0001","seq":42,"ts":1763712000,"clk":1,"int_s":60,'
        b'"imp_wh":1234567,"exp_wh":890123,"v_dv":2305,"i_ma":10870,"p_w":-2480,'
        b'"pf_milli":-990,"f_chz":4998,"fw":"1.0.0"}',
    ),
    (
        "reading_no_clock",
        SEED_A,
        b'{"kind":"reading","meter":"mtr-0001","seq":1,"ts":0,"clk":0,"int_s":60,'
        b'"imp_wh":0,"exp_wh":0,"v_dv":0,"i_ma":0,"p_w":0,"pf_milli":1000,"f_chz":0,'
        b'"fw":"1.0.0"}',
    ),
    (
        "gap_after_ring_overflow",
        SEED_A,
        b'{"kind":"gap","meter":"mtr-0001","seq":1500,"ts":1763800000,"clk":1,'
        b'"from_seq":1001,"to_seq":1500,"fw":"1.0.0"}',
    ),
    (
        "reading_large_counters_other_meter",
        SEED_B,
        b'{"kind":"reading","meter":"SDM630_Roof_B","seq":9007199254740993,"ts":4102444800,'
        b'"clk":1,"int_s":900,"imp_wh":999999999999,"exp_wh":123456789012,"v_dv":2400,'
        b'"i_ma":-250,"p_w":61000,"pf_milli":0,"f_chz":6000,"fw":"1.2.3-rc.1+esp32"}',
    ),
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _wire(meter: str, payload: bytes, sig: bytes, version: object = 1) -> str:
    return json.dumps(
        {"v": version, "meter": meter, "payload": _b64(payload), "sig": _b64(sig)},
        separators=(",", ":"),
    )


def _sign(seed: bytes, payload: bytes) -> bytes:
    return nacl.signing.SigningKey(seed).sign(payload).signature


def _pub(seed: bytes) -> bytes:
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def build() -> dict[str, object]:
    valid = []
    for name, seed, payload in VALID:
        reading = json.loads(payload)
        sig = _sign(seed, payload)
        valid.append(
            {
                "name": name,
                "seed_hex": seed.hex(),
                "public_key_hex": _pub(seed).hex(),
                "reading": reading,
                "payload": payload.decode("ascii"),
                "payload_b64": _b64(payload),
                "signature_hex": sig.hex(),
                "wire": _wire(reading["meter"], payload, sig),
                "topic": f"gtx/v1/meters/{reading['meter']}/readings",
            }
        )

    good = VALID[0][2]
    good_sig = _sign(SEED_A, good)
    pub_a = _pub(SEED_A).hex()
    pub_b = _pub(SEED_B).hex()

    def signed(payload: bytes, meter: str = "mtr-0001") -> str:
        return _wire(meter, payload, _sign(SEED_A, payload))

    def swap(old: bytes, new: bytes) -> bytes:
        assert old in good, old
        return good.replace(old, new, 1)

    flipped = bytearray(good_sig)
    flipped[10] ^= 0x01
    w = json.loads(_wire("mtr-0001", good, good_sig))
    invalid = [
        ("not_json", "hello", "malformed_json"),
        ("json_array", "[1,2,3]", "malformed_json"),
        ("duplicate_wrapper_key", _wire("mtr-0001", good, good_sig)[:-1] + ',"v":1}',
         "malformed_json"),
        ("version_2", _wire("mtr-0001", good, good_sig, version=2), "unsupported_version"),
        ("version_as_string", _wire("mtr-0001", good, good_sig, version="1"), "bad_field_type"),
        ("wrapper_missing_sig", json.dumps({k: w[k] for k in ("v", "meter", "payload")},
                                           separators=(",", ":")), "missing_field"),
        ("wrapper_extra_field", _wire("mtr-0001", good, good_sig)[:-1] + ',"x":1}',
         "unexpected_field"),
        ("meter_id_with_slash", signed(good.replace(b"mtr-0001", b"mtr/0001"), "mtr/0001"),
         "bad_meter_id"),
        ("payload_not_base64", json.dumps({**w, "payload": "!!!!" + w["payload"]},
                                          separators=(",", ":")), "bad_base64"),
        ("sig_non_canonical_base64", json.dumps({**w, "sig": w["sig"].rstrip("=")},
                                                separators=(",", ":")), "bad_base64"),
        ("sig_63_bytes", _wire("mtr-0001", good, good_sig[:63]), "bad_signature_length"),
        ("payload_not_json", signed(b"hello"), "malformed_payload"),
        ("payload_not_utf8", signed(b'{"kind":"\xff"}'), "malformed_payload"),
        ("payload_unknown_kind", signed(swap(b'"kind":"reading"', b'"kind":"tariff"')),
         "unknown_kind"),
        ("payload_missing_imp_wh", signed(swap(b'"imp_wh":1234567,', b"")), "missing_field"),
        ("payload_extra_field", signed(swap(b'"fw":"1.0.0"}', b'"fw":"1.0.0","x":1}')),
         "unexpected_field"),
        ("payload_float_energy", signed(swap(b'"imp_wh":1234567', b'"imp_wh":1234.567')),
         "bad_field_type"),
        ("payload_bool_seq", signed(swap(b'"seq":42', b'"seq":true')), "bad_field_type"),
        ("payload_negative_import", signed(swap(b'"imp_wh":1234567', b'"imp_wh":-1')),
         "bad_field_value"),
        ("payload_pf_out_of_range", signed(swap(b'"pf_milli":-990', b'"pf_milli":-1500')),
         "bad_field_value"),
        ("payload_invented_time", signed(swap(b'"clk":1', b'"clk":0')), "bad_field_value"),
        ("gap_from_after_to", signed(VALID[2][2].replace(b'"from_seq":1001', b'"from_seq":1501')),
         "bad_field_value"),
        ("meter_mismatch", _wire("mtr-0002", good, good_sig), "meter_mismatch"),
        ("too_large", _wire("mtr-0001", good, good_sig)[:-1] + ',"pad":"' + "x" * 2048 + '"}',
         "too_large"),
    ]
    cases = [
        {"name": n, "wire": wire, "public_key_hex": pub_a, "stage": "parse", "reason": r}
        for n, wire, r in invalid
    ]
    verify_failures = [
        ("signature_bit_flipped", _wire("mtr-0001", good, bytes(flipped)), pub_a, "bad_signature"),
        ("payload_tampered_seq", _wire("mtr-0001", swap(b'"seq":42', b'"seq":43'), good_sig),
         pub_a, "bad_signature"),
        ("signed_by_other_meter_key", _wire("mtr-0001", good, _sign(SEED_B, good)), pub_a,
         "bad_signature"),
        ("registered_key_is_other_meter", _wire("mtr-0001", good, good_sig), pub_b,
         "bad_signature"),
        ("public_key_31_bytes", _wire("mtr-0001", good, good_sig), pub_a[:62], "bad_public_key"),
    ]
    cases += [
        {"name": n, "wire": wire, "public_key_hex": pk, "stage": "verify", "reason": r}
        for n, wire, pk, r in verify_failures
    ]
    return {
        "format": "gridtokenx signed meter envelope",
        "version": 1,
        "doc": "docs/envelope.md",
        "valid": valid,
        "invalid": cases,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is stale; regenerate it", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
