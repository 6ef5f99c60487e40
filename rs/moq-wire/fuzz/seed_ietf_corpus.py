#!/usr/bin/env python3
"""Seeds fuzz/corpus/ietf_*/ from the golden vectors of every draft in tests/vectors/
(ietf-draft14.json to -20, and -22) and the bytes captured from the published client
(ietf-draftNN-captured.json). Each target reads every input in every draft.

ietf_setup gets each SETUP alone and followed by every control message; ietf_control
every control message (from draft-18 on, every request message) and all of them in a row; ietf_data every stream header followed
by the objects of its kind, every object alone, and every datagram. Files are named by
the SHA-1 of their content, as libFuzzer does. Then `cargo fuzz cmin <target>`.
"""

import hashlib
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
VECTORS = HERE.parent / "tests" / "vectors"
# The drafts with vectors; draft-21 is byte-identical to draft-20.
DRAFTS = ["14", "15", "16", "17", "18", "19", "20", "22"]


def write(target: str, data: bytes) -> None:
    directory = HERE / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main() -> None:
    for draft in DRAFTS:
        vectors = json.loads((VECTORS / f"ietf-draft{draft}.json").read_text())["vectors"]
        captured = VECTORS / f"ietf-draft{draft}-captured.json"
        if captured.exists():
            vectors += json.loads(captured.read_text())["captured"]
        seed(vectors)


def seed(vectors: list) -> None:
    by_kind: dict[str, list[bytes]] = {}
    for vector in vectors:
        by_kind.setdefault(vector["kind"], []).append(bytes.fromhex(vector["hex"]))
    # Draft-18 on: SETUP has a stream of its own and each request one of its own.
    control = by_kind.get("control", []) + by_kind.get("request", [])
    for setup in by_kind.get("client_setup", []) + by_kind.get("server_setup", []) + by_kind.get("setup", []):
        write("ietf_setup", setup)
        write("ietf_setup", setup + b"".join(control))
    for message in control:
        write("ietf_control", message)
    write("ietf_control", b"".join(control))
    plain = by_kind.get("subgroup_object", [])
    extended = by_kind.get("subgroup_object_with_extensions", [])
    fetched = by_kind.get("fetch_object", [])
    for header in by_kind.get("data_stream_header", []):
        ty = header[0]
        if ty == 0x05:
            write("ietf_data", header + b"".join(fetched))
        elif ty & 0x01:
            write("ietf_data", header + b"".join(extended))
        else:
            write("ietf_data", header + b"".join(plain))
    for data in plain + extended + fetched + by_kind.get("object_datagram", []):
        write("ietf_data", data)


if __name__ == "__main__":
    main()
