#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from the RFC vectors in tests/vectors/.

- token: the five RFC 9578 A.2 tokens, each also in the 357-byte wrapped form
  of the original MoQ Privacy Pass client, a token of another type, and the
  RFC's TokenRequests and TokenResponses.
- challenge: the five RFC 9578 A.2 challenges and the RFC 9577 A.1 ones
  (rebuilt from their fields).
- authorization: `Authorization: PrivateToken token=...` values for the five
  tokens, in the spellings clients use, and other schemes.
- www_authenticate: the three RFC 9577 A.2 header values, and ones written
  the way the relay writes them.

Files are named by the SHA-1 of their content, as libFuzzer does. Run from
anywhere; then `cargo fuzz cmin <target>`.
"""

import base64
import hashlib
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
VECTORS = HERE.parent / "tests" / "vectors"


def write(target: str, data: bytes) -> None:
    directory = HERE / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def b64url(data: bytes, pad: bool = True) -> str:
    text = base64.urlsafe_b64encode(data).decode()
    return text if pad else text.rstrip("=")


def main() -> None:
    type2 = json.loads((VECTORS / "rfc9578-type2.json").read_text())["vectors"]
    for v in type2:
        token = bytes.fromhex(v["token"])
        challenge = bytes.fromhex(v["token_challenge"])
        key = bytes.fromhex(v["pkS"])
        write("token", token)
        write("token", bytes([0x01, 0x01, 0x62]) + token)
        write("token", bytes.fromhex(v["token_request"]))
        write("token", bytes.fromhex(v["token_response"]))
        write("challenge", challenge)
        for value in (
            f'PrivateToken token="{b64url(token)}"',
            f"privatetoken TOKEN={b64url(token, pad=False)}",
            f'  PrivateToken   token = "{base64.standard_b64encode(token).decode()}"',
            f'PrivateToken token="{b64url(bytes([0x01, 0x01, 0x62]) + token)}"',
        ):
            write("authorization", value.encode())
        write(
            "www_authenticate",
            f'PrivateToken challenge="{b64url(challenge)}", token-key="{b64url(key)}", max-age=300'.encode(),
        )
    write("token", b"\x00\x01" + bytes(352))
    write("authorization", b"Bearer abc==")
    write("authorization", b'PrivateToken other=1, token="AAAA"')
    write("www_authenticate", b'Bearer abc==, basic realm="x, y", privatetoken foo=bar')
    structure = json.loads((VECTORS / "rfc9577-token-structure.json").read_text())["vectors"]
    for v in structure:
        if "issuer_name" not in v:
            continue  # the grease vector gives no challenge
        ty = bytes.fromhex(v["token_type"])
        issuer = bytes.fromhex(v["issuer_name"])
        context = bytes.fromhex(v["redemption_context"])
        origin = bytes.fromhex(v["origin_info"])
        challenge = (
            ty
            + len(issuer).to_bytes(2, "big")
            + issuer
            + len(context).to_bytes(1, "big")
            + context
            + len(origin).to_bytes(2, "big")
            + origin
        )
        write("challenge", challenge)
    headers = json.loads((VECTORS / "rfc9577-header-parsing.json").read_text())["vectors"]
    for v in headers:
        write("www_authenticate", v["www_authenticate"].encode())


if __name__ == "__main__":
    main()
