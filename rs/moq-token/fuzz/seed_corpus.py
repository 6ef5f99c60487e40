#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from the token vectors in vectors/token/.

- jwt_decode, jwt_verify: every token of every verify-*.json case (ours, the
  TypeScript library's, the upstream crate's, PyJWT's, and the hostile ones).
- claims: every token's payload (base64url-decoded), every authorize.json
  payload, and the hand-written payloads below (both claim spellings, wrong
  types, duplicates, escapes).
- path: one file per authorize.json case, lines `root`, `connect`, then the
  publish and subscribe prefixes in turn (`..`, never a path, fills a role
  that has no prefix).

Files are named by the SHA-1 of their content, as libFuzzer does. Run from
anywhere; then `cargo fuzz cmin <target>`.
"""

import base64
import hashlib
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
VECTORS = HERE.parent.parent.parent / "vectors" / "token"

PAYLOADS = [
    '{"root":"room/123","pub":"alice","sub":"","cluster":false,"exp":1900000000,"iat":1703977200}',
    '{"root":"demo","put":["alice","bob"],"get":""}',
    '{"put":["a,b"," c"],"get":["", "x"]}',
    '{"sub":"alice,bob","nbf":1700000000,"jti":"id-1"}',
    '{"sub":"a, b"}',
    '{"sub":"a,,b"}',
    '{"sub":"","sub":"a"}',
    '{"p\\u0075b":"alice"}',
    '{"pub":"a","put":["a"]}',
    '{"sub":"","exp":1.5}',
    '{"sub":"","exp":-1}',
    '{"sub":"","cluster":"true"}',
    '{"sub":"a/../b"}',
    '{"root":"r","pub":"/,a"}',
    "[1,2]",
]


def write(target: str, data: bytes) -> None:
    directory = HERE / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def unb64(part: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except ValueError:
        return None


def main() -> None:
    for file in sorted(VECTORS.glob("verify-*.json")):
        for case in json.loads(file.read_text())["cases"]:
            token = case["token"]
            write("jwt_decode", token.encode())
            write("jwt_verify", token.encode())
            parts = token.split(".")
            if len(parts) == 3:
                payload = unb64(parts[1])
                if payload is not None:
                    write("claims", payload)
    for payload in PAYLOADS:
        write("claims", payload.encode())
    for case in json.loads((VECTORS / "authorize.json").read_text())["cases"]:
        write("claims", case["claims"].encode())
        claims = json.loads(case["claims"])
        lines = [claims.get("root", ""), case["connect"]]
        grants = []
        for comma, array in (("pub", "put"), ("sub", "get")):
            if comma in claims:
                grants.append(claims[comma].split(",") if claims[comma] else [""])
            elif array in claims:
                value = claims[array]
                grants.append([value] if isinstance(value, str) else value)
            else:
                grants.append([])
        publish, subscribe = grants
        for i in range(max(len(publish), len(subscribe))):
            lines.append(publish[i] if i < len(publish) else "..")
            lines.append(subscribe[i] if i < len(subscribe) else "..")
        for check in case.get("checks", []):
            # Extra lines: more prefixes, in turn.
            lines.append(check["path"])
        write("path", "\n".join(lines).encode())


if __name__ == "__main__":
    main()
