"""Request targets that may spell a priced path: the default corpus and a seeded fuzzer.

Every target is a string of the bytes to put on the request line (latin-1), never normalised
here: the point is to send spellings as a client could, and to let each server decide.
`python3 corpus.py` prints the default corpus, one target a line (`--fuzz N --seed S` the
fuzzed one).
"""

from __future__ import annotations

import argparse
import itertools
import random

PRICED = ("/paid/report", "/api/v1/items")
FREE_PREFIXES = ("/free", "/free/info", "/index.html", "")

# Spellings of one `/` between two segments.
SEPARATORS = (
    "/", "//", "///", "/./", "/.//", "/%2e/", "/%2E/", "/x/../", "/x/%2e%2e/", "/x/%2E%2E/",
    "/x/.%2e/", "/x/%2e./", "%2f", "%2F", "/%2f", "%2f/", "%252f", "%252F", "/%252e/",
    "\\", "%5c", "%5C", "/\\", "\\/", ";/", "/;/", "/;x=1/", "%c0%af", "%e0%80%af",
    "/%c0%ae/", "/x/%c0%ae%c0%ae/", "%3b/", "/%00/", "/x/..;/", "/x/..%2f", "/x/..%5c",
)
# Spellings of the start of the path.
LEADS = ("/", "//", "/./", "/../", "/%2e/", "/%2e%2e/", "%2f", "\\", "/%2f", "/%5c", "/;/", "/x/../")


def pct(ch: str, upper: bool = True) -> str:
    return "%{:02X}".format(ord(ch)) if upper else "%{:02x}".format(ord(ch))


def segment_spellings(seg: str) -> list[str]:
    """Spellings of one path segment (without slashes)."""
    out = [seg, seg.upper(), seg.capitalize(), seg[:-1] + seg[-1].upper()]
    # One character toggled in case, one percent-encoded (upper/lower hex), one double-encoded.
    for i, ch in enumerate(seg):
        out.append(seg[:i] + ch.swapcase() + seg[i + 1 :])
        out.append(seg[:i] + pct(ch) + seg[i + 1 :])
        out.append(seg[:i] + pct(ch, False) + seg[i + 1 :])
        out.append(seg[:i] + "%25" + pct(ch)[1:] + seg[i + 1 :])
    out.append("".join(pct(c) for c in seg))
    out.append("".join(pct(c, False) for c in seg))
    out.append("".join(pct(c.upper()) for c in seg))
    # Path parameters, trailing junk some servers strip.
    for tail in (";", ";x=1", ";jsessionid=1", "%3bx=1", "%3Bx=1", ".", "%2e", "%20", "%00",
                 "%09", "%0a", "%0d", "~", "%7e", "::$DATA", "%3f", "%23", "?", "#", " "):
        if tail == " ":
            continue  # a raw space ends the request target: not a path spelling
        out.append(seg + tail)
    return out


def _join(lead: str, segs: list[str], seps: list[str]) -> str:
    out = lead + segs[0]
    for sep, seg in zip(seps, segs[1:]):
        out += sep + seg
    return out


def _for_path(path: str) -> list[str]:
    segs = path.strip("/").split("/")
    out: list[str] = [path]

    # Every byte of the path percent-encoded, each position alone (upper and lower hex), and
    # the whole path encoded.
    for i, ch in enumerate(path):
        out.append(path[:i] + pct(ch) + path[i + 1 :])
        out.append(path[:i] + pct(ch, False) + path[i + 1 :])
        out.append(path[:i] + "%25" + pct(ch)[1:] + path[i + 1 :])
    out.append("".join(pct(c) for c in path))
    out.append("".join(pct(c, False) for c in path))
    out.append("/" + "".join(pct(c) for c in path[1:]))

    # Case: each character, the whole path.
    for i, ch in enumerate(path):
        if ch.isalpha():
            out.append(path[:i] + ch.swapcase() + path[i + 1 :])
    out += [path.upper(), path.title(), path.swapcase()]

    # One segment respelled at a time, everything else plain.
    for k, seg in enumerate(segs):
        for spelling in segment_spellings(seg):
            respelled = segs[:k] + [spelling] + segs[k + 1 :]
            out.append("/" + "/".join(respelled))

    # One separator respelled at a time, and each lead.
    for k in range(len(segs) - 1):
        for sep in SEPARATORS:
            seps = ["/"] * (len(segs) - 1)
            seps[k] = sep
            out.append(_join("/", segs, seps))
    for lead in LEADS:
        out.append(_join(lead, segs, ["/"] * (len(segs) - 1)))
    # Every separator respelled the same way.
    for sep in SEPARATORS:
        out.append(_join("/", segs, [sep] * (len(segs) - 1)))

    # Mixed: a case variant of the last segment with each separator spelling of the first.
    for sep, last in itertools.product(SEPARATORS[:20], (segs[-1].upper(), segs[-1] + ";x=1", segs[-1] + ".")):
        out.append(_join("/", segs[:-1] + [last], ["/"] * (len(segs) - 2) + [sep]))

    # Cross product: each separator spelling with case and encoding variants of the segments.
    variants = [segs, [x.upper() for x in segs], [x.title() for x in segs],
                [pct(x[0], False) + x[1:] for x in segs], [x[:-1] + pct(x[-1]) for x in segs],
                [x + ";x=1" for x in segs], [x.upper() + "." for x in segs]]
    for k in range(len(segs) - 1):
        for sep in SEPARATORS:
            for v in variants[1:]:
                seps = ["/"] * (len(segs) - 1)
                seps[k] = sep
                out.append(_join("/", v, seps))
    for lead, v in itertools.product(LEADS, variants[1:]):
        out.append(_join(lead, v, ["/"] * (len(segs) - 1)))

    # Trailing forms after the whole path.
    for tail in ("/", "//", "/.", "/./", "/x/..", "/x/../", "/%2e", "/%2e/", ".", "..", "%20",
                 "%00", "%09", "%0a", "%2f", "%5c", "\\", ";", ";x=1", ";jsessionid=1",
                 "?", "?x=1", "#", "#x", "%3f", "%3fx=1", "%23", "%23x", "?/../x", "#/../x",
                 "%c0%af", "%c0%ae", "/%c0%ae", "~", "*", "%2a", "/*", "/%2e%2e/report"):
        out.append(path + tail)

    # A free prefix hiding the priced path behind a traversal spelling.
    rest = "/".join(segs)
    traversals = (
        "../", "..%2f", "..%2F", "%2e%2e/", "%2E%2E/", "%2e%2e%2f", "%2E%2E%2F", ".%2e/",
        "%2e./", "..;/", "..;x=1/", "..\\", "..%5c", "..%5C", "%2e%2e%5c", "%252e%252e/",
        "..%252f", "%252e%252e%252f", "..%c0%af", "%c0%ae%c0%ae/", "%c0%ae%c0%ae%c0%af",
        "..%e0%80%af", ".%00./", "..%00/", "../../", "..%2f..%2f", "x/../../", "%2e%2e//",
        "..//", "./../", "..%3b/", "..%09/", "..%20/", ".../", "....//",
    )
    rests = (rest, rest.upper(), rest.title(), "%" + "{:02x}".format(ord(rest[0])) + rest[1:],
             rest + ";x=1", rest.replace("/", "%2f"), rest.replace("/", "\\"))
    for prefix in FREE_PREFIXES:
        for trav in traversals:
            for r in rests:
                out.append(prefix + "/" + trav + r)
    for prefix in FREE_PREFIXES:
        for trick in ("?/../", "#/../", "%3f/../", "%23/../", ";/../", "%3b/../"):
            out.append(prefix + trick + rest)
            out.append(prefix + "/" + trick + rest)
    return out


def default_corpus(priced: tuple[str, ...] = PRICED) -> list[str]:
    """The default corpus: deduplicated, in a stable order, every target a valid request-target
    token (no raw space, CR or LF)."""
    seen: dict[str, None] = {}
    for path in priced:
        for target in _for_path(path):
            if target and not any(c in target for c in " \r\n"):
                seen.setdefault(target, None)
    return list(seen)


_MUTATIONS = (
    "encode", "encode_lower", "double", "case", "dot", "dotdot", "slash", "param", "backslash",
    "enc_slash", "overlong", "trailing", "free_prefix", "query", "fragment",
)


def _mutate(rng: random.Random, target: str) -> str:
    op = rng.choice(_MUTATIONS)
    i = rng.randrange(1, len(target)) if len(target) > 1 else 0
    if op in ("encode", "encode_lower", "double"):
        ch = target[i]
        if ch == "%":
            return target
        code = pct(ch, op != "encode_lower")
        if op == "double":
            code = "%25" + code[1:]
        return target[:i] + code + target[i + 1 :]
    if op == "case":
        return target[:i] + target[i].swapcase() + target[i + 1 :]
    slashes = [k for k, c in enumerate(target) if c == "/"] or [0]
    at = rng.choice(slashes)
    if op == "dot":
        return target[:at] + rng.choice(("/.", "/%2e", "/%2E", "/%252e")) + target[at:]
    if op == "dotdot":
        return target[:at] + "/x" + rng.choice(("/..", "/%2e%2e", "/.%2e", "/..;", "/%c0%ae%c0%ae")) + target[at:]
    if op == "slash":
        return target[:at] + "/" + target[at:]
    if op == "param":
        return target[:i] + rng.choice((";", ";x=1", ";jsessionid=1", "%3b")) + target[i:]
    if op == "backslash":
        return target[:at] + rng.choice(("\\", "%5c", "%5C")) + target[at + 1 :]
    if op == "enc_slash":
        return target[:at] + rng.choice(("%2f", "%2F", "%252f")) + target[at + 1 :]
    if op == "overlong":
        return target[:at] + rng.choice(("%c0%af", "%e0%80%af", "%c1%9c")) + target[at + 1 :]
    if op == "trailing":
        return target + rng.choice((".", "%20", "%00", "%09", "/", "/.", ";", "~", "%2e"))
    if op == "free_prefix":
        trav = rng.choice(("..%2f", "%2e%2e/", "..;/", "..\\", "..%5c", "%2e%2e%2f", "%252e%252e/"))
        return rng.choice(FREE_PREFIXES) + "/" + trav + target.lstrip("/")
    if op == "query":
        return target[:i] + rng.choice(("?", "%3f", "%3F")) + target[i:]
    return target[:i] + rng.choice(("#", "%23")) + target[i:]


def fuzz_corpus(n: int, seed: int, priced: tuple[str, ...] = PRICED) -> list[str]:
    """`n` random mutations (1 to 4 each) of the priced paths, reproducible from `seed`."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    tries = 0
    while len(seen) < n and tries < n * 20:
        tries += 1
        target = rng.choice(priced)
        for _ in range(rng.randint(1, 4)):
            target = _mutate(rng, target)
        if target and not any(c in target for c in " \r\n"):
            seen.setdefault(target, None)
    return list(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fuzz", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    targets = fuzz_corpus(args.fuzz, args.seed) if args.fuzz else default_corpus()
    for target in targets:
        print(target)


if __name__ == "__main__":
    main()
