#!/usr/bin/env python3
"""Writes the tiny IU-Xray-style fixture used by trrg-data's tests (standard library only).

tests/fixtures/iu_tiny/
  annotation.json       2 train studies (two views each), 1 val study with a corrupt image
  labels.json           CheXpert-style labels for the train studies
  images/CXR1/0.png     8-bit gray 40x48, images/CXR1/1.png 8-bit gray 48x40
  images/CXR2/0.png     16-bit gray 44x44, images/CXR2/1.png 16-bit gray 36x52
  images/CXR3/0.png     not a PNG (corrupt), images/CXR3/1.png valid
Usage: python3 make_fixture.py   (Python 3.11; writes relative to this script)
"""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "iu_tiny")


def png(path, width, height, bits, value):
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter: none
        for x in range(width):
            v = value(x, y)
            raw += struct.pack(">H", v) if bits == 16 else bytes([v])
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def main():
    img = os.path.join(OUT, "images")
    png(f"{img}/CXR1/0.png", 40, 48, 8, lambda x, y: (x * 6 + y) % 256)
    png(f"{img}/CXR1/1.png", 48, 40, 8, lambda x, y: 255 - (x * 5) % 256)
    png(f"{img}/CXR2/0.png", 44, 44, 16, lambda x, y: (x * 1400 + y * 90) % 65536)
    png(f"{img}/CXR2/1.png", 36, 52, 16, lambda x, y: 65535 - y * 1200)
    png(f"{img}/CXR3/1.png", 32, 32, 8, lambda x, y: 128)
    with open(f"{img}/CXR3/0.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nthis is not a png body")
    annotation = {
        "train": [
            {"id": "CXR1", "report": "The heart is normal in size. No pleural effusion. 1. Lungs are clear.",
             "image_path": ["CXR1/0.png", "CXR1/1.png"], "split": "train"},
            {"id": "CXR2", "report": "Mild cardiomegaly.. Small left pleural effusion.",
             "image_path": ["CXR2/0.png", "CXR2/1.png"], "split": "train"},
        ],
        "val": [
            {"id": "CXR3", "report": "Lungs are clear.", "image_path": ["CXR3/0.png", "CXR3/1.png"], "split": "val"},
        ],
        "test": [],
    }
    labels = {
        "CXR1": {"Cardiomegaly": 0, "Pleural Effusion": 0, "No Finding": 1},
        "CXR2": {"Cardiomegaly": 1, "Pleural Effusion": 1},
        "CXR3": {"No Finding": 1},
    }
    with open(os.path.join(OUT, "annotation.json"), "w") as f:
        json.dump(annotation, f, indent=1)
    with open(os.path.join(OUT, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1)


if __name__ == "__main__":
    main()
