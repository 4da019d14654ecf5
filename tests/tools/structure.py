#!/usr/bin/env python3
"""The code's structure, checked (run by tests/run.sh):

- layers: a source file includes the header of its own layer or of a
  layer below it, never one above (the order is the Makefile's LAYERS);
- circles: no two files call each other, directly or around a loop
  (from the objects' symbol tables: who defines, who uses);
- headers: every function a header declares is defined somewhere, and
  every function a file defines and no other file (or unit test) uses
  is static.

Prints "ok - ..." / "not ok - ..." lines.
"""
import os, re, subprocess, sys

top = sys.argv[1]
build = sys.argv[2]          # build/<variant>, with its objects
layers = None
for line in open(os.path.join(top, "Makefile")):
    m = re.match(r"LAYERS\s*:=\s*(.*)", line)
    if m:
        layers = m.group(1).split()
rank = {d: i for i, d in enumerate(layers)}
header_layer = {}
for d in layers:
    for f in os.listdir(os.path.join(top, d)):
        if f.endswith(".h"):
            header_layer[f] = d

failed = 0
def report(ok, name, detail=""):
    global failed
    print(("ok - " if ok else "not ok - ") + name)
    if not ok:
        failed += 1
        for l in detail.splitlines():
            print("    " + l)

sources = []
for d in layers:
    for f in sorted(os.listdir(os.path.join(top, d))):
        if f.endswith((".c", ".h")):
            sources.append(os.path.join(d, f))

bad = []
for src in sources:
    d = os.path.dirname(src)
    for n, line in enumerate(open(os.path.join(top, src)), 1):
        m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
        if not m:
            continue
        h = m.group(1)
        if h not in header_layer:
            bad.append(f"{src}:{n}: {h} is no layer's header")
        elif rank[header_layer[h]] > rank[d]:
            bad.append(f"{src}:{n}: includes {h} of {header_layer[h]}/, above {d}/")
report(not bad, "layers: no file includes a header of a layer above it", "\n".join(bad))

# Symbols: which object defines and which uses each global function.
defs, uses = {}, {}
for src in sources:
    if not src.endswith(".c"):
        continue
    obj = os.path.join(top, build, src[:-2] + ".o")
    if not os.path.exists(obj):
        continue
    out = subprocess.run(["nm", obj], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBR" and "." not in parts[2]:
            defs[parts[2]] = src
        elif len(parts) == 2 and parts[0] == "U":
            uses.setdefault(src, set()).add(parts[1])
edges = {}
for src, syms in uses.items():
    for s in syms:
        if s in defs and defs[s] != src:
            edges.setdefault(src, set()).add(defs[s])

# Strongly connected components (Tarjan): any with two files is a circle.
index, low, stack, on, sccs = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in sorted(set(defs.values())):
    if v not in index:
        visit(v)
report(not sccs, "circles: no files that depend on each other",
       "\n".join(" <-> ".join(c) for c in sccs))

used = set()
for syms in uses.values():
    used |= syms
# A unit test is a user too.
unitdir = os.path.join(top, "tests", "unit")
for f in os.listdir(unitdir):
    if f.endswith(".c"):
        used |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", open(os.path.join(unitdir, f)).read()))
unused = sorted(f"{defs[s]}: {s}" for s in defs
                if s not in used and defs[s] not in ("agent/main.c",)
                and s != "main" and not s.startswith("crypto_backend"))
report(not unused, "exports: what no other file uses is static",
       "\n".join(unused))
sys.exit(1 if failed else 0)
