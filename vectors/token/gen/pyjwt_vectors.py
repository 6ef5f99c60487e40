#!/usr/bin/env python3
"""Signs corpus tokens with PyJWT, an independent JOSE implementation, using the keys in keys.json.

    pip install "pyjwt[crypto]==2.10.1"
    python3 vectors/token/gen/pyjwt_vectors.py vectors/token

Writes verify-pyjwt.json. Run it after gen_vectors (which makes fresh keys).
"""
import json
import sys
from pathlib import Path

import jwt

NOW = 1_800_000_000
EXP = NOW + 3600
PRODUCER = f"PyJWT {jwt.__version__}"


def signing_key(jwk):
    # PyJWT reads standard JWK fields; drop our extras.
    clean = {k: v for k, v in jwk.items() if k not in ("key_ops", "scope")}
    return jwt.PyJWK(clean).key


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "vectors/token")
    keys = json.loads((out / "keys.json").read_text())["keys"]
    cases = []

    def case(name, key, token, expect):
        cases.append({"name": name, "key": key, "token": token, "now": NOW, "expect": expect, "producer": PRODUCER})

    claims = {"root": "room/123", "pub": "alice", "sub": "", "exp": EXP, "iat": NOW - 60}
    expected = {"claims": {"root": "room/123", "publish": ["alice/**"], "subscribe": ["**"], "cluster": False,
                           "exp": EXP, "iat": NOW - 60, "nbf": None, "jti": None}}
    algs = ["hs256", "hs384", "hs512", "rs256", "rs384", "rs512", "ps256", "ps384", "ps512",
            "es256", "es384", "es512", "eddsa"]
    for name in algs:
        jwk = keys[name]
        key = signing_key(jwk)
        headers = {"kid": jwk["kid"]}
        alg = jwk["alg"]
        token = jwt.encode(claims, key, algorithm=alg, headers=headers)
        case(f"pyjwt-{name}", name, token, expected)
        verify_with = name if name.startswith("hs") else f"{name}-public"
        put_get = {"root": "demo", "put": ["a", "b"], "get": ["c"], "exp": EXP}
        case(f"pyjwt-{name}-put-get", verify_with, jwt.encode(put_get, key, algorithm=alg, headers=headers),
             {"claims": {"root": "demo", "publish": ["a/**", "b/**"], "subscribe": ["c/**"], "cluster": False,
                         "exp": EXP, "iat": None, "nbf": None, "jti": None}})
        expired = dict(claims, exp=NOW)
        case(f"pyjwt-{name}-expired", name, jwt.encode(expired, key, algorithm=alg, headers=headers),
             {"error": "expired"})
    # Claims PyJWT happily signs but a MoQ verifier must refuse.
    hs = signing_key(keys["hs256"])
    hdr = {"kid": keys["hs256"]["kid"]}
    for name, payload, code in [
        ("pyjwt-nbf-future", dict(claims, nbf=NOW + 10), "not_yet_valid"),
        ("pyjwt-sub-user-id", {"sub": 12345, "exp": EXP}, "invalid_claim"),
        ("pyjwt-login-jwt-sub-array", {"sub": ["user"], "exp": EXP}, "invalid_claim"),
        ("pyjwt-ambiguous", {"pub": "a", "put": ["a"], "exp": EXP}, "ambiguous_claims"),
        ("pyjwt-useless", {"root": "room", "exp": EXP}, "useless_token"),
        ("pyjwt-path-escape", {"root": "room", "sub": "../other", "exp": EXP}, "invalid_path"),
        ("pyjwt-cluster-not-bool", {"sub": "", "cluster": 1, "exp": EXP}, "invalid_claim"),
        ("pyjwt-crit", None, "unknown_crit"),
    ]:
        if payload is None:
            token = jwt.encode(claims, hs, algorithm="HS256", headers=dict(hdr, crit=["exp"]))
        else:
            token = jwt.encode(payload, hs, algorithm="HS256", headers=hdr)
        case(name, "hs256", token, {"error": code})
    # HS256 signed by PyJWT with the wrong secret.
    wrong = jwt.encode(claims, b"x" * 32, algorithm="HS256", headers=hdr)
    case("pyjwt-wrong-secret", "hs256", wrong, {"error": "bad_signature"})

    doc = {"producer": PRODUCER, "cases": cases}
    (out / "verify-pyjwt.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out / 'verify-pyjwt.json'} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
