# SPDX-License-Identifier: Apache-2.0
"""Build the kelp package's C extension against libkelp.

Where libkelp comes from, first match wins:
  1. KELP_BUILD=<dir>: <dir>/lib/libkelp.a and the header next to it (the in-tree build/);
  2. ../build/lib/libkelp.a relative to this file (`make` then `pip install ./python`);
  3. pkg-config kelp (an installed libkelp).
The in-tree build links libkelp.a statically: the module then needs no LD_LIBRARY_PATH or rpath
into build/, and keeps working when build/ is cleaned or moved.
"""
import os
import shlex
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def libkelp():
    build = os.environ.get("KELP_BUILD") or os.path.join(HERE, "..", "build")
    static = os.path.join(build, "lib", "libkelp.a")
    header = os.path.join(HERE, "..", "shm")
    if os.path.exists(static) and os.path.exists(os.path.join(header, "kelp.h")):
        # libkelp.a's own dependencies, as kelp.pc's Libs.private lists them
        return dict(include_dirs=[header], extra_objects=[os.path.abspath(static)],
                    libraries=["deflate", "inih", "pthread"])
    try:
        cflags = subprocess.check_output(["pkg-config", "--cflags", "kelp"], text=True)
        libs = subprocess.check_output(["pkg-config", "--libs", "kelp"], text=True)
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit("kelp: libkelp not found: run `make` in the kelp tree (build/lib/libkelp.a), "
                         "set KELP_BUILD=<build dir>, or install libkelp so that `pkg-config kelp` works")
    return dict(extra_compile_args=shlex.split(cflags), extra_link_args=shlex.split(libs))


setup(
    name="kelp",
    version="0.1.0",
    description="Python client of kelpd: microsecond reads of SeaweedFS needles over shared memory",
    packages=["kelp"],
    package_data={"kelp": ["py.typed", "__init__.pyi"]},
    ext_modules=[Extension("kelp._kelp", ["kelp/_kelp.c"], extra_compile_args=["-O2", "-std=gnu11"],
                           **libkelp())],
    python_requires=">=3.11",
    zip_safe=False,
)
