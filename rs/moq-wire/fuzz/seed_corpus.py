#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from the golden vectors in tests/vectors/moq-lite.json.

Each vector's bytes go to the target of its message kind (the leading stream
type stripped, for vectors that carry one); the stream_type target gets every
stream's opening bytes; the group and fetch targets also get a header followed
by every frame of the same version. Files are named by the SHA-1 of their
content, as libFuzzer does. Run from anywhere; then `cargo fuzz cmin <target>`.
"""

import hashlib
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
VECTORS = HERE.parent / "tests" / "vectors" / "moq-lite.json"

TARGETS = {
    "SETUP": "setup",
    "ANNOUNCE_REQUEST": "announce",
    "ANNOUNCE_OK": "announce",
    "ANNOUNCE": "announce",
    "ANNOUNCE_START": "announce",
    "ANNOUNCE_END": "announce",
    "ANNOUNCE_RESTART": "announce",
    "SUBSCRIBE": "subscribe",
    "SUBSCRIBE_UPDATE": "subscribe",
    "SUBSCRIBE_OK": "subscribe",
    "SUBSCRIBE_START": "subscribe",
    "SUBSCRIBE_END": "subscribe",
    "SUBSCRIBE_DROP": "subscribe",
    "TRACK": "track",
    "TRACK_INFO": "track",
    "FETCH": "fetch",
    "GROUP": "group",
    "FRAME": "group",
    "DATAGRAM": "datagram",
    "PROBE": "probe_goaway",
    "GOAWAY": "probe_goaway",
    "STREAM_TYPE": "stream_type",
}


def varint_len(first: int) -> int:
    return 1 << (first >> 6)


def write(target: str, data: bytes) -> None:
    directory = HERE / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main() -> None:
    vectors = json.loads(VECTORS.read_text())["vectors"]
    headers: dict[tuple[str, str], list[bytes]] = {}
    frames: dict[tuple[str, str], list[bytes]] = {}
    for vector in vectors:
        data = bytes.fromhex(vector["hex"])
        message = vector["message"]
        kind = message.split(" ")[0]
        target = "fetch" if message == "FRAME (fetch reply)" else TARGETS[kind]
        if vector.get("stream_type_prefix") and kind != "STREAM_TYPE":
            write("stream_type", data)
            data = data[varint_len(data[0]):]
        write(target, data)
        version = vector["version"]
        if kind in ("GROUP", "FETCH"):
            headers.setdefault((target, version), []).append(data)
        elif kind == "FRAME":
            frames.setdefault((target, version), []).append(data)
    for (target, version), group_headers in headers.items():
        body = b"".join(frames.get((target, version), []))
        for header in group_headers:
            write(target, header + body)


if __name__ == "__main__":
    main()
