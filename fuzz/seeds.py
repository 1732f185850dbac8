#!/usr/bin/env python3
"""Writes seed inputs for one fuzz target, generated from apdu-fixtures (see fuzz/run)."""
import glob
import hashlib
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "apdu-fixtures")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def transcripts():
    """[(commands, responses)] of every golden transcript."""
    out = []
    for path in sorted(glob.glob(os.path.join(FIX, "transcripts", "*.txt"))):
        cmds, resps = [], []
        for line in open(path, encoding="utf-8"):
            line = line.strip()
            if line.startswith("> "):
                cmds.append(bytes.fromhex(line[2:]))
            elif line.startswith("< "):
                resps.append(bytes.fromhex(line[2:]))
        out.append((cmds, resps))
    return out


def framed(chunks):
    return b"".join(struct.pack(">H", len(c)) + c for c in chunks)


def card_files(pattern):
    return sorted(glob.glob(os.path.join(FIX, "cards", "*", pattern)))


def seeds(target):
    ts = transcripts()
    if target == "apdu":
        for cmds, resps in ts:
            for c in cmds:
                yield c
            for r in resps:
                yield r
            for sel in range(4):
                yield bytes([sel | 4, 0]) + framed(resps[2:])
        yield bytes([4, 0]) + framed([b"\x61\x10", b"A" * 16 + b"\x90\x00"])
        yield bytes([0, 0x10]) + framed([b"\x6c\x08", b"B" * 8 + b"\x90\x00"])
    elif target == "bertlv":
        for p in card_files("text/*.bin") + card_files("visual/*.bin") + card_files("jpki/*.der")[:4]:
            yield read(p)
    elif target == "identity":
        for sel, pattern in [(0, "text/0002.bin"), (1, "visual/0002.bin"), (2, "text/0001.bin"),
                             (3, "text/0003.bin"), (4, "text/0004.bin"), (4, "visual/0004.bin"),
                             (5, "common/record1.bin")]:
            for p in card_files(pattern):
                yield bytes([sel]) + read(p)
        yield bytes([7]) + b"19850101"
        yield bytes([6]) + bytes([0x90, 3, 1, 0, 1, 0x91, 4, 0xC0, 1, 2, 3])
    elif target == "certificate":
        for p in card_files("jpki/*.der") + sorted(glob.glob(os.path.join(FIX, "pki", "*.der"))) \
                + sorted(glob.glob(os.path.join(FIX, "pki", "extra", "*.der"))):
            yield b"\x00" + read(p)
        for p in sorted(glob.glob(os.path.join(FIX, "pki", "*root.pem"))):
            yield b"\x01" + read(p)
    elif target == "verify":
        for card in sorted(glob.glob(os.path.join(FIX, "cards", "*"))):
            t = lambda f: read(os.path.join(card, f))
            yield bytes([0]) + framed([t("text/0001.bin"), t("text/0002.bin"), t("text/0003.bin"), t("text/0004.bin")])
            yield bytes([0x80]) + framed([b"", t("text/0002.bin"), t("text/0003.bin"), t("text/0004.bin")])
            yield bytes([1]) + framed([t("visual/0002.bin"), t("visual/0004.bin")])
            yield bytes([2]) + framed([t("jpki/000A.der"), bytes(256)])
            yield bytes([2]) + framed([t("jpki/000A.der"), bytes.fromhex("3008020200ff020201ff")])
    elif target == "vpcd":
        for cmds, _ in ts:
            yield bytes([7]) + framed([b"\x01", b"\x04"] + cmds + [b"\x02", b"\x00"])
        yield bytes([1]) + framed([b"\x04"] * 3)
    elif target == "card":
        for op in range(11):
            yield bytes([op])
            yield bytes([op, 2, 0, 3, 0x41, 3, 4, 0, 0x61])
        for i, (cmds, resps) in enumerate(ts):
            for op in range(11):
                yield bytes([0x80 | 0x40 | op]) + framed(resps)
    elif target == "daemon-request":
        yield b"/v1/sessions/00112233445566778899aabbccddeeff/authenticate\n" \
              b'{"pin":"1234","challenge":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","allowLastTry":false}'
        yield b"/v1/sessions/0011/identity?x=1&y=%41\n{\"pin\":\"1234\",\"myNumber\":true}"
        yield b"/v1/readers?a=b&c\n"
        yield b"/v1//health/\n{}"
    elif target == "oqs-answer":
        sample = read(os.path.join(FIX, "oqs", "answer-sample.xml"))
        yield b"\x00" + sample
        yield b"\x02" + sample
        yield b"\x00" + sample.replace(b'encoding="UTF-8"', b'encoding="Shift_JIS"')
        yield (b"\x01<?xml version=\"1.0\" encoding=\"UTF-8\"?><XmlMsg><MessageHeader>"
               b"<QualificationConfirmationDate>20261130</QualificationConfirmationDate>"
               b"<MedicalInstitutionCode>1311111111</MedicalInstitutionCode>"
               b"<ArbitraryFileIdentifier>JPKID00ABCDEF0123456</ArbitraryFileIdentifier></MessageHeader>"
               b"<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>  138057</InsurerNumber>"
               b"<InsuredCardSymbol>A</InsuredCardSymbol><InsuredIdentificationNumber>1</InsuredIdentificationNumber>"
               b"<InsuredBranchNumber>00</InsuredBranchNumber><Birthdate>19800217</Birthdate>"
               b"</QualificationConfirmSearchInfo></MessageBody></XmlMsg>")


def main():
    target, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for s in seeds(target):
        name = "seed-" + hashlib.sha1(s).hexdigest()[:16]
        path = os.path.join(out, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(s)


if __name__ == "__main__":
    main()
