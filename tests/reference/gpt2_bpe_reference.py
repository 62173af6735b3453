#!/usr/bin/env python3
"""An independent GPT-2 BPE reference (standard library only) and the generator of
tests/fixtures/gpt2_bpe_cases.h, the (text, ids) pairs test_tokenizer.c checks.

The algorithm is OpenAI's encoder.py: bytes_to_unicode, the pre-tokenisation regex, and the
"merge the lowest-ranked pair everywhere, repeat" loop. The regex runs on the standard `re` module
with \\p{L}, \\p{N} and \\s spelled out as explicit classes built from `unicodedata` (categories
L*, N*, and the White_Space property), so no third-party module is needed; when the `regex` module
is installed, every case is also checked against it with the original pattern.

Input bytes that are not UTF-8 follow slt's documented rule (data/tokenizer.h): maximal valid
runs go through the regex, each maximal invalid run is one piece.

usage: gpt2_bpe_reference.py GPT2_DIR [OUT.h]      (GPT2_DIR holds encoder.json + vocab.bpe)
"""
import json
import re
import sys
import unicodedata

WHITE_SPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680] + list(
    range(0x2000, 0x200B)) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def char_class(pred):
    """A `re` class body listing every code point where pred holds, as ranges."""
    out, start, prev = [], None, None
    for c in range(0x110000):
        if 0xD800 <= c < 0xE000 or not pred(c):
            continue
        if prev is not None and c == prev + 1:
            prev = c
            continue
        if start is not None:
            out.append((start, prev))
        start = prev = c
    out.append((start, prev))
    esc = lambda c: "\\U%08x" % c
    return "".join(esc(a) if a == b else esc(a) + "-" + esc(b) for a, b in out)


def build_pattern():
    L = char_class(lambda c: unicodedata.category(chr(c)).startswith("L"))
    N = char_class(lambda c: unicodedata.category(chr(c)).startswith("N"))
    S = char_class(lambda c: c in WHITE_SPACE)
    return re.compile(
        r"'s|'t|'re|'ve|'m|'ll|'d| ?[%s]+| ?[%s]+| ?[^%s%s%s]+|[%s]+(?![^%s])|[%s]+" %
        (L, N, S, L, N, S, S, S))


class Encoder:
    def __init__(self, gpt2_dir):
        with open(gpt2_dir + "/encoder.json", encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(gpt2_dir + "/vocab.bpe", encoding="utf-8") as f:
            merges = [tuple(line.split()) for line in f.read().split("\n")[1:-1]]
        self.ranks = dict(zip(merges, range(len(merges))))
        self.byte_encoder = bytes_to_unicode()
        self.pat = build_pattern()

    def bpe(self, token):
        word = tuple(token)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            first, second = best
            new, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    new.append(first + second)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
        return [self.encoder[t] for t in word]

    def piece_ids(self, piece_bytes):
        return self.bpe("".join(self.byte_encoder[b] for b in piece_bytes))

    def pieces(self, data):
        """Split bytes into pieces: regex matches within valid UTF-8 runs, invalid runs whole."""
        text = data.decode("utf-8", errors="surrogateescape")  # invalid byte b -> U+DC00+b
        for run in re.findall("[\udc80-\udcff]+|[^\udc80-\udcff]+", text):
            if "\udc80" <= run[0] <= "\udcff":
                yield run.encode("utf-8", errors="surrogateescape")
            else:
                for p in self.pat.findall(run):
                    yield p.encode("utf-8")

    def encode(self, data):
        return [i for p in self.pieces(data) for i in self.piece_ids(p)]


def check_against_regex_module(enc, cases):
    try:
        import regex
    except ImportError:
        print("regex module not installed: skipping the cross-check", file=sys.stderr)
        return
    pat = regex.compile(
        r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
    for data in cases:
        text = data.decode("utf-8", errors="surrogateescape")
        if any("\udc80" <= c <= "\udcff" for c in text):
            continue
        ours = [p.decode("utf-8") for p in enc.pieces(data)]
        assert ours == pat.findall(text), (data, ours, pat.findall(text))
    print("all valid-UTF-8 cases split as the regex module splits them", file=sys.stderr)


CASES = [
    b"Hello world", b"hello world", b" 's", b"I'm sure they'll say we've done it, don't you?",
    b"'S 'T 'RE", b"it's", b"12345 67890 3.14159 1,000,000", b"2023-10-01", b"x\xc2\xbd \xc2\xb2 \xe2\x85\xab",
    "Hello 👋🌍! 日本語のテキスト, 한국어, Ελληνικά, Кириллица, café naïve".encode(),
    "e\u0301 \u0915\u093f \u0645\u0631\u062d\u0628\u0627".encode(),
    b"\n\n", b"a\n\nb", b"   trailing   ", b"  leading", b"a  b", b"a   b", b"tab\tx\t\ty", b"\r\n\r\n",
    b"line one\n  indented\n", b"end with space ", b" ", b"", b"!!!???... $%^&*() <tag/>",
    "a\u00a0b a\u3000b x\u180ey \u2028 z\u200b".encode(), b"a\x00b\x1c\x1d c",
    "x \u180ey \u180e\u180e z \u180e".encode(),  # U+180E: not \s for Python, \s for PCRE2
    b"<|endoftext|>", b"a<|endoftext|>b", b"    def f(x):\n        return x  # comment\n",
    b"Supercalifragilisticexpialidocious" * 12, b"-=" * 200, b" " * 300 + b"x", b"\n" * 150,
    b"caf\xe9", b"\xff\xfe", b"\xc3", b"ab\xed\xa0\x80cd", b"\xf0\x9f\x98 truncated",
    b"\x80\x80 x", b"\xc0\xaf overlong", b"  \xff  ", b"\xf4\x90\x80\x80",
    b"First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
]


def c_string(data):
    out = []
    for b in data:
        ch = chr(b)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def write_header(enc, path):
    lines = ["/* Generated by tests/reference/gpt2_bpe_reference.py: GPT-2 encodings of hand-picked",
             " * texts (bytes; invalid UTF-8 per data/tokenizer.h). Do not edit. */",
             "#include <stdint.h>", "",
             "typedef struct gpt2_case {", "  const char *text;", "  int len, first, n;",
             "} gpt2_case;", "", "static const gpt2_case gpt2_cases[] = {"]
    ids, first = [], 0
    for data in CASES:
        e = enc.encode(data)
        lines.append("    {%s, %d, %d, %d}," % (c_string(data), len(data), first, len(e)))
        ids += e
        first += len(e)
    lines += ["};", "", "static const uint32_t gpt2_case_ids[] = {"]
    for i in range(0, len(ids), 12):
        lines.append("    " + " ".join("%d," % x for x in ids[i:i + 12]))
    lines += ["};", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    enc = Encoder(sys.argv[1])
    check_against_regex_module(enc, CASES)
    if len(sys.argv) > 2:
        write_header(enc, sys.argv[2])
    else:
        for data in CASES:
            print(repr(data)[:60], enc.encode(data))


if __name__ == "__main__":
    main()
