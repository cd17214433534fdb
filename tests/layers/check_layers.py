#!/usr/bin/env python3
"""The source folders are layers: core < http < policy < proxy < app.

A file may include headers of its own layer and of the layers below it, never above; and no
two modules (a header and its source file) may depend on each other, directly or around a
loop. The build already fails on an upward include (each layer's library sees only the
folders below it); this says which include it was and also catches cycles inside a layer.

Usage: check_layers.py SRC_DIR   (exit 1 and one line per problem when the rule is broken)
"""
import pathlib
import re
import sys

LAYERS = ["core", "http", "policy", "proxy", "app"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def modules(src: pathlib.Path):
    """{module name: (layer, [files])}: foo.hpp and foo.cpp are one module."""
    found = {}
    for layer in LAYERS:
        for path in sorted((src / layer).glob("*.[ch]pp")):
            name = path.stem
            if name in found and found[name][0] != layer:
                raise SystemExit(f"{path}: the name {name} is also in src/{found[name][0]}")
            found.setdefault(name, (layer, []))[1].append(path)
    stray = [p for p in src.glob("*.[ch]pp")]
    if stray:
        raise SystemExit(f"{stray[0]}: every source file belongs in a layer folder")
    return found


def problems(src: pathlib.Path):
    found = modules(src)
    edges = {name: set() for name in found}
    for name, (layer, files) in found.items():
        for path in files:
            for header in INCLUDE.findall(path.read_text()):
                target = pathlib.PurePath(header).stem
                if target not in found:
                    yield f"{path}: includes {header}, which is not in any layer folder"
                    continue
                target_layer = found[target][0]
                if LAYERS.index(target_layer) > LAYERS.index(layer):
                    yield (f"{path}: includes {header} from src/{target_layer}, above "
                           f"src/{layer}; move the shared part down or pass it in")
                if target != name:
                    edges[name].add(target)
    yield from cycles(edges)


def cycles(edges):
    """One line per module loop, found by depth-first search."""
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                loop = stack[stack.index(nxt):] + [nxt]
                yield "include cycle: " + " -> ".join(loop)
            elif nxt not in state:
                yield from visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            yield from visit(node)


def main():
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    found = list(problems(src))
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
