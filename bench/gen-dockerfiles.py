#!/usr/bin/env python3
"""Writes generated Dockerfiles made of the parts BuildKit's rules are about, for
bench/dockerfile-generated.sh to compare with BuildKit's own answer.

    bench/gen-dockerfiles.py DIR SEED COUNT

Each file has global ARGs (every ${V…} form, nested, quoted), stages named and not (FROM of an
image, of an ARG-built name, of an earlier stage in any case), COPY --from an image, a stage, an
index, a later stage or a variable, RUN --mount=…,from=, heredocs of every form (and a `<<` in
quotes), continuations with comments, an escaped backslash at a line's end, ONBUILD, JSON forms,
a BOM, `# escape=`, CRLF and a last line without newline or ending in a backslash. Many are
files BuildKit refuses; those count too (both must refuse them).
"""
import os
import random
import sys

R = random.Random(int(sys.argv[2]))
IMAGES = ["alpine", "alpine:3.19", "ubuntu:22.04", "nvidia/cuda:12.1.0-devel-ubuntu22.04", "python:3.11-slim",
          "ghcr.io/astral-sh/uv:0.4", "localhost:5000/a/b:1", "busybox@sha256:" + "a"*64, "scratch", "Ubuntu", "UPPER:tag",
          "a/b:c@sha256:" + "b"*64, "docker.io/library/ubuntu", "x:", ":tag", "a//b", "127.0.0.1:5000/x", "img:1.0-rc1"]
VARS = ["A", "B", "BASE", "TAG", "V", "TARGETARCH", "TARGETPLATFORM", "BUILDOS", "TARGETOS", "BUILDPLATFORM", "TARGETVARIANT", "UNSET"]
OPS = [":-", "-", ":+", "+", "#", "##", "%", "%%", "/", "//", ":?"]
def word(depth=0):
    r = R.random()
    if r < 0.3 or depth > 2:
        return R.choice(["a", "b", "x", "1", "ubuntu", "cuda", "12.1", "-", ".", "/", ":", "devel", "*", "?", "[", "]", "@", "sha256"])
    if r < 0.55:
        return "$" + R.choice(VARS)
    if r < 0.9:
        v = R.choice(VARS); op = R.choice(OPS)
        inner = "".join(word(depth + 1) for _ in range(R.randint(0, 3)))
        if op in ("/", "//"):
            inner = inner + "/" + "".join(word(depth + 1) for _ in range(R.randint(0, 2)))
        return "${" + v + op + inner + "}"
    q = R.choice(["'", '"'])
    return q + "".join(word(depth + 1) for _ in range(R.randint(0, 3))) + q
TEMPL = ["nvidia/cuda:${TAG:-12.1}-devel", "${BASE:-ubuntu}:${V:-22.04}", "${BASE}", "$BASE", "ubuntu:${TAG}", "${A:+nvidia/cuda:${B}-devel}", "${A:-${B:-alpine}}", "python:${V%-*}", "python:${V#*-}", "${BASE/ubuntu/debian}:12", "img-${TARGETARCH}:1", "${TARGETOS}/x", "a/${TARGETARCH}:${V:-1}", "ubuntu:${TAG:-latest}", "${BASE:?no base}", "'ubuntu':\"22.04\"", "ubuntu:\\${TAG}", "${V//./-}", "${V/#p/q}", "${V/%p/q}"]
def expr():
    r = R.random()
    if r < 0.4:
        return R.choice(IMAGES)
    if r < 0.85:
        return R.choice(TEMPL)
    return "".join(word() for _ in range(R.randint(1, 4)))
def argline():
    n = R.choice(VARS[:5] + ["TARGETARCH", "TAG"])
    r = R.random()
    if r < 0.2: return f"ARG {n}"
    if r < 0.3: return f"ARG {n}={expr()} {R.choice(VARS[:5])}={expr()}"
    if r < 0.4: return f"ARG {n}=\"{expr()}\""
    return f"ARG {n}={expr()}"
def stage_line(i, names):
    base = expr() if R.random() < 0.7 or not names else R.choice(names + [n.upper() for n in names])
    plat = R.choice(["", "", "--platform=$BUILDPLATFORM ", "--platform=linux/arm64 "])
    kw = R.choice(["FROM", "FROM", "from", "From"])
    if R.random() < 0.6:
        name = R.choice(["s%d" % i, "build", "Base", "b-%d" % i, "x.y", "final", "b_%d" % i] + (["0", "1a"] if R.random() < 0.05 else []))
        return f"{kw} {plat}{base} {R.choice(['AS', 'as', 'As'])} {name}", name.lower()
    return f"{kw} {plat}{base}", None
def body(names, i):
    lines = []
    for _ in range(R.randint(0, 4)):
        r = R.random()
        if r < 0.2:
            src = R.choice([R.choice(IMAGES), "$" + R.choice(VARS), str(R.randint(0, 4))] + names + [n.upper() for n in names] + ["later", "s%d" % (i + 1)])
            lines.append(f"COPY --from={src} /a /b")
        elif r < 0.35:
            src = R.choice([R.choice(IMAGES)] + names + ["later", "$A"])
            t = R.choice(["bind", "cache", "secret"])
            lines.append(f"RUN --mount=type={t},from={src},target=/x echo hi")
        elif r < 0.45:
            lines.append(argline())
        elif r < 0.55:
            d = R.choice(["EOF", "'EOF'", '"EOF"', "-EOF"])
            dd = d.strip("'\"-")
            sp = R.choice(["", " "]) if not d.startswith("-") else ""
            lines.append(f"RUN <<{sp}{d}\nFROM alpine\necho \"$A\"\n{'	' if d.startswith('-') else ''}{dd}")
        elif r < 0.62:
            lines.append("RUN echo 'sed s/<<x>>/y/' && cat <<'E1' <<E2\nbody\nE1\nmore\nE2")
        elif r < 0.7:
            lines.append("RUN echo a \\\n  # comment inside\n\n  && echo b")
        elif r < 0.75:
            lines.append("RUN echo a \\\\")
        elif r < 0.8:
            lines.append(f"ONBUILD COPY --from={R.choice(IMAGES)} / /")
        elif r < 0.85:
            lines.append("ENV A=" + expr())
        elif r < 0.9:
            lines.append("COPY --from=" + R.choice(names + ["x"]) + " --chown=1 /a /b")
        elif r < 0.93:
            lines.append(R.choice(["COPY [\"--from=x\", \"/a\", \"/b\"]", "RUN [\"sh\", \"-c\", \"echo <<EOF\"]", "ADD --checksum=sha256:" + "a"*64 + " https://x/y /z", "COPY --link --from=" + R.choice(IMAGES) + " / /", "RUN --network=none --mount=type=cache,target=/c,from=" + R.choice(IMAGES) + " true", "HEALTHCHECK NONE", "MAINTAINER x", "STOPSIGNAL 9", "VOLUME /x"]))
        else:
            lines.append(R.choice(["RUN true", "WORKDIR /x", "LABEL a=b", "CMD [\"x\"]", "USER 1", "EXPOSE 80", "SHELL [\"/bin/bash\", \"-c\"]"]))
    return lines
def gen():
    pre = []
    if R.random() < 0.05: pre.append("\ufeff")
    if R.random() < 0.1: pre.append("# escape=`\n")
    if R.random() < 0.1: pre.append("# syntax=docker/dockerfile:1\n")
    lines = []
    for _ in range(R.randint(0, 4)):
        lines.append(argline())
    names = []
    for i in range(R.randint(1, 5)):
        l, n = stage_line(i, names)
        lines.append(l)
        lines += body(names, i)
        if n: names.append(n)
    txt = "".join(pre) + "\n".join(lines) + R.choice(["\n", "\n", "", "\\\n", " \\"])
    if R.random() < 0.1:
        txt = txt.replace("\n", "\r\n")
    if "# escape=`" in txt:
        txt = txt.replace("\\\n", "`\n")
    return txt
if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for k in range(int(sys.argv[3])):
        with open(os.path.join(out, "f%05d" % k), "w", newline="") as f:
            f.write(gen())
