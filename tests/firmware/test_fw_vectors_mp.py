"""Golden vectors on the capped MicroPython interpreter: Modbus RTU frames,
float32 scaling, SHA-512, Ed25519 (against libsodium) and envelope v1 bytes."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import nacl.signing

from tests.support.micropython import run_cases

VECTORS = Path(__file__).parents[1] / "vectors"
MP_DIR = Path(__file__).parent / "mp"


def _run(module: str, cases: list[dict], fw_build: Path, tmp_path: Path) -> list[object]:
    return run_cases(module, cases, build_dir=fw_build, script_dir=MP_DIR, tmp_dir=tmp_path)


def test_modbus_frames_match_pymodbus_vectors(fw_build: Path, tmp_path: Path) -> None:
    v = json.loads((VECTORS / "modbus_rtu_v1.json").read_text())
    cases = [{"kind": "request", **r} for r in v["requests"]]
    cases += [{"kind": "response", **r} for r in v["responses"]]
    cases += [{"kind": "response", **r} for r in v["invalid"]]
    cases += [{"kind": "float32", **f} for f in v["float32"]]
    bad = [(0, 4, 0, 1), (248, 4, 0, 1), (1, 6, 0, 1), (1, 4, 0, 0), (1, 4, 0, 126), (1, 4, 0xFFFF, 2)]
    cases += [{"kind": "bad_request", "unit": u, "function": f, "start": s, "count": n}
              for u, f, s, n in bad]
    out = iter(_run("modbus_frames", cases, fw_build, tmp_path))
    for r in v["requests"]:
        assert next(out) == r["frame"], r
    for r in v["responses"]:
        assert next(out) == {"data": r["data"]}, r
    for r in v["invalid"]:
        assert next(out) == {"reason": r["reason"], "code": r["code"]}, r["name"]
    for f in v["float32"]:
        assert next(out) == f["value"], f
    assert [next(out) for _ in bad] == ["bad_request"] * len(bad)


def test_sha512_matches_hashlib(fw_build: Path, tmp_path: Path) -> None:
    rnd = random.Random(512)
    lengths = [0, 1, 3, 111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 257, 600]
    datas = [bytes(rnd.getrandbits(8) for _ in range(n)) for n in lengths]
    out = _run("crypto", [{"kind": "sha512", "data": d.hex()} for d in datas], fw_build, tmp_path)
    for d, (digest, incremental_same) in zip(datas, out, strict=True):
        assert digest == hashlib.sha512(d).hexdigest()
        assert incremental_same is True


def test_ed25519_matches_libsodium(fw_build: Path, tmp_path: Path) -> None:
    rnd = random.Random(25519)
    cases = [{"kind": "ed25519", "seed": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
              "msg": ""}]  # RFC 8032 test 1
    for n in (1, 64, 250, 431):
        seed = bytes(rnd.getrandbits(8) for _ in range(32))
        msg = bytes(rnd.getrandbits(8) for _ in range(n))
        cases.append({"kind": "ed25519", "seed": seed.hex(), "msg": msg.hex()})
    out = _run("crypto", cases, fw_build, tmp_path)
    assert out[0][0] == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert out[0][1] == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    for c, (pub, sig) in zip(cases, out, strict=True):
        key = nacl.signing.SigningKey(bytes.fromhex(c["seed"]))
        assert pub == bytes(key.verify_key).hex()
        assert sig == key.sign(bytes.fromhex(c["msg"])).signature.hex()


def test_envelope_vectors_byte_exact(fw_build: Path, tmp_path: Path) -> None:
    v = json.loads((VECTORS / "envelope_v1.json").read_text())["valid"]
    cases = [{"kind": "envelope", "seed": c["seed_hex"], "reading": c["reading"]} for c in v]
    out = _run("crypto", cases, fw_build, tmp_path)
    assert out == [c["wire"] for c in v]
