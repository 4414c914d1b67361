#!/usr/bin/env python3
"""Generate the layered DAG of command phases the command-DAG benchmark runs.

gendag.py OUT_DIR LAYERS WIDTH [SEED]

Writes into OUT_DIR, for the same graph (LAYERS layers of WIDTH nodes, each
node after the first layer depending on two distinct random nodes of the
layer before it, every node running /bin/true):
  k0rdent.yaml   command phases (the built-in phases are left out with --skip)
  Taskfile.yml   go-task tasks (run: once, so a shared dependency runs once)
  xargs.txt      one node name per line, for `xargs -P4 -n1 /bin/true` (the
                 floor: the same processes, no graph, no journal)
"""
import os
import random
import sys


def main():
    out, layers, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    os.makedirs(out, exist_ok=True)
    name = lambda l, i: "n%04d-%02d" % (l, i)
    deps = {}
    for l in range(layers):
        for i in range(width):
            deps[name(l, i)] = [] if l == 0 else sorted(name(l - 1, j) for j in rng.sample(range(width), 2))
    with open(os.path.join(out, "k0rdent.yaml"), "w") as f:
        f.write("azure:\n  location: westus2\nphases:\n")
        for n, d in deps.items():
            f.write("  - name: %s\n    command: [/bin/true]\n" % n)
            if d:
                f.write("    depends_on: [%s]\n" % ", ".join(d))
    with open(os.path.join(out, "Taskfile.yml"), "w") as f:
        f.write("version: '3'\nrun: once\ntasks:\n")
        for n, d in deps.items():
            f.write("  %s:\n" % n)
            if d:
                f.write("    deps: [%s]\n" % ", ".join(d))
            f.write("    cmds: [/bin/true]\n")
        last = [name(layers - 1, i) for i in range(width)]
        # every node is reached: the last layer plus anything nothing depends on
        needed = set(deps)
        for d in deps.values():
            needed -= set(d)
        f.write("  default:\n    deps: [%s]\n" % ", ".join(sorted(needed | set(last))))
    with open(os.path.join(out, "xargs.txt"), "w") as f:
        for n in deps:
            f.write(n + "\n")


main()
