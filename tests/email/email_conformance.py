#!/usr/bin/env python3
"""Attachment names of every .eml in a folder, by CPython's `email` package (standard library
only: nothing to install), for comparison with the gateway's mail-parser based normalizer.

The rule (the same as normalizers/src/email/parts.rs):
- multiparts are descended into;
- a message/rfc822 (or message/global) part is one attachment and is not descended into;
  other message/* parts (delivery-status, external-body) are leaves;
- any other leaf part is an attachment when its disposition is `attachment`, when it has a
  file name (Content-Disposition filename or Content-Type name, RFC 2047/2231 decoded), or
  when it is not text/*.

Usage:
  python3 tools/email_conformance.py names DIR > names.tsv
      one line per file: file name, attachment count, names joined by " | " (tabs, newlines
      and pipes in names escaped as \\t, \\n, \\|)
  python3 tools/email_conformance.py bench DIR ROUNDS
      parses every message ROUNDS times (bytes in memory) and prints
      `messages=N seconds=S per_second=R`
"""
import email
import email.header
import email.policy
import email.utils
import re
import os
import sys
import time

MAX_DEPTH = 16


def part_name(part):
    """File name from Content-Disposition `filename` else Content-Type `name`: RFC 2231
    continuations and charsets, quoted-pairs, then RFC 2047 encoded-words (which many mailers
    put in parameters although RFC 2047 §5 forbids it)."""
    name = None
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        try:
            value = part.get_param(param, header=header)
        except Exception:  # malformed parameters: unnamed, like a lenient reader
            value = None
        if value is None:
            continue
        try:
            name = email.utils.collapse_rfc2231_value(value)
        except Exception:
            name = value if isinstance(value, str) else None
        if name is not None:
            break
    if name is None:
        return None
    name = re.sub(r"\\(.)", r"\1", str(name))
    if any("\udc80" <= c <= "\udcff" for c in name):
        # 8-bit bytes in a header (compat32 keeps them as surrogates): UTF-8, else Latin-1.
        raw = name.encode("utf-8", "surrogateescape")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            name = raw.decode("latin-1")
    if "=?" in name:
        try:
            name = str(email.header.make_header(email.header.decode_header(name)))
        except Exception:
            pass
    name = name.strip()
    return name or None


def content_type(part):
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def disposition(part):
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def walk(part, depth, out):
    if depth > MAX_DEPTH:
        return
    ctype = content_type(part)
    if ctype in ("message/rfc822", "message/global"):
        out.append(part_name(part) or "")
        return
    if ctype.startswith("message/"):
        # message/delivery-status, message/external-body…: CPython exposes their header blocks
        # as sub-messages; for the rule they are leaves like any other non-text part.
        name = part_name(part)
        out.append(name or "")
        return
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for child in payload:
                walk(child, depth + 1, out)
        return
    name = part_name(part)
    if disposition(part) == "attachment" or name is not None or not ctype.startswith("text/"):
        out.append(name or "")


def attachment_names(raw):
    # compat32 reads broken structure and parameters leniently (as mail-parser does); parsing
    # text decoded with surrogateescape keeps raw UTF-8 header bytes (RFC 6532) readable, where
    # message_from_bytes would replace them by U+FFFD.
    text = raw.decode("utf-8", "surrogateescape")
    msg = email.message_from_string(text, policy=email.policy.compat32)
    out = []
    walk(msg, 0, out)
    return out


def escape(name):
    return name.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("|", "\\|")


def eml_files(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".eml"))


def names(folder):
    for f in eml_files(folder):
        with open(os.path.join(folder, f), "rb") as fh:
            raw = fh.read()
        found = attachment_names(raw)
        print(f"{f}\t{len(found)}\t{' | '.join(escape(n) for n in found)}")


def bench(folder, rounds):
    raws = []
    for f in eml_files(folder):
        with open(os.path.join(folder, f), "rb") as fh:
            raws.append(fh.read())
    start = time.perf_counter()
    for _ in range(rounds):
        for raw in raws:
            msg = email.message_from_bytes(raw, policy=email.policy.compat32)
            # Touch the body and the attachments as the gateway does: decode every leaf.
            for part in msg.walk():
                if not part.is_multipart():
                    try:
                        part.get_payload(decode=True)
                    except Exception:
                        pass
            walk(msg, 0, [])
    elapsed = time.perf_counter() - start
    n = len(raws) * rounds
    print(f"messages={n} seconds={elapsed:.4f} per_second={n / elapsed:.1f}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "names":
        names(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "bench":
        bench(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
