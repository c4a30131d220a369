#!/usr/bin/env bash
# Recall and precision of `docker repro check` against the hand labels in bench/lint-labels.tsv
# (every hazard of each sampled file of the real-world corpus, as file, line, rule). A finding counts when
# its (file, line, rule) is labelled; copy-all-without-dockerignore is left out (it depends on the
# repository's .dockerignore, not on the file). Prints each miss and each false alarm.
#
#   bench/lint-accuracy.sh        (REPRO_BIN: the binary, default target/release/docker-repro)
#
# REPRO_LABELS names another labels file in the same form, for a held-out set kept outside the
# repository with its files (REPRO_CORPUS then names their directory).
#
# The Dockerfiles are other people's files and are not in this repository: they are read from
# ../shared/dockerfile-corpus/real-world (REPRO_CORPUS to name another directory).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=${REPRO_CORPUS:-${REPRO_SHARED:-$here/../shared}/dockerfile-corpus/real-world}
if [ ! -d "$corpus" ]; then
    echo "lint-accuracy: no corpus at $corpus: put the real-world Dockerfiles there or set REPRO_CORPUS" >&2
    exit 1
fi
bin=${REPRO_BIN:-$here/target/release/docker-repro}
[ -x "$bin" ] || (cd "$here" && cargo build --release --quiet)
labels=${REPRO_LABELS:-$here/bench/lint-labels.tsv}
python3 - "$bin" "$labels" "$corpus" <<'PY'
import json, subprocess, sys, collections
bin, labels_file, corpus = sys.argv[1], sys.argv[2], sys.argv[3]
labels, sample, subset = set(), [], {}
for row in open(labels_file):
    if row.startswith("#") or not row.strip():
        continue
    cols = row.rstrip("\n").split("\t")
    if cols[1] == "sample":
        sample.append(cols[0])
        subset[cols[0]] = cols[2]
    else:
        labels.add((cols[0], int(cols[1]), cols[2]))
out = subprocess.run([bin, "check", "--format", "json"] + [f"{corpus}/{f}" for f in sample],
                     capture_output=True, text=True)
found = set()
for report in json.loads(out.stdout):
    name = report["file"].rsplit("/", 1)[-1]
    for f in report["findings"]:
        if f["rule"] not in ("copy-all-without-dockerignore", "dockerfile-invalid"):
            found.add((name, f["line"], f["rule"]))
tp = labels & found
per_rule = collections.defaultdict(lambda: [0, 0, 0])
for x in tp: per_rule[x[2]][0] += 1
for x in labels - found: per_rule[x[2]][1] += 1
for x in found - labels: per_rule[x[2]][2] += 1
for x in sorted(labels - found): print("MISS  ", *x)
for x in sorted(found - labels): print("FALSE ", *x)
print(f"{'rule':28} {'tp':>4} {'miss':>5} {'false':>6}")
for rule, (a, b, c) in sorted(per_rule.items()):
    print(f"{rule:28} {a:4} {b:5} {c:6}")
def score(name, keep):
    l = {x for x in labels if keep(x[0])}
    f = {x for x in found if keep(x[0])}
    t = l & f
    files = sum(1 for s in sample if keep(s))
    print(f"{name}: {files} files, {len(l)} labelled hazards: recall {100*len(t)/max(len(l),1):.1f} % "
          f"({len(t)}/{len(l)}), precision {100*len(t)/max(len(f),1):.1f} % ({len(t)}/{len(f)})")
for s in sorted(set(subset.values())):
    score(s, lambda name, s=s: subset[name] == s)
score("all", lambda name: True)
PY
