#!/usr/bin/env python3
"""Lists the modules a test guest must load, in load order.

Usage: modules.py MODDIR NAME...

MODDIR is an unpacked kernel's lib/modules/<release>, after 'depmod -b'
has written its modules.dep. For each NAME, the dependencies that
modules.dep gives come first; modules built into the kernel
(modules.builtin) are left out. Prints one 'name path' line per module,
path relative to MODDIR. A NAME that is neither a module nor built in is
an error: the kernel lacks something a test needs.
"""

import os
import sys


def module_name(path):
    base = os.path.basename(path)
    return base.split(".ko", 1)[0].replace("-", "_")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    moddir, wanted = sys.argv[1], sys.argv[2:]
    deps, paths = {}, {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            name = module_name(mod)
            paths[name] = mod
            deps[name] = [module_name(d) for d in rest.split()]
    builtin = set()
    with open(os.path.join(moddir, "modules.builtin")) as f:
        builtin = {module_name(line.strip()) for line in f if line.strip()}

    order, seen = [], set()

    def visit(name, chain):
        if name in seen or name in builtin:
            return
        if name in chain:
            sys.exit(f"modules.py: dependency loop through {name}")
        if name not in paths:
            sys.exit(f"modules.py: {name} is neither a module nor built into "
                     f"the kernel in {moddir}")
        # modprobe loads a module's dependencies from the end of the list
        for dep in reversed(deps[name]):
            visit(dep, chain | {name})
        seen.add(name)
        order.append(name)

    for name in wanted:
        visit(name.replace("-", "_"), frozenset())
    for name in order:
        print(name, paths[name])


if __name__ == "__main__":
    main()
