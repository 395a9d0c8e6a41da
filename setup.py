"""Where the package's modules come from; everything else is in pyproject.toml.

The repository keeps `tasks/` and `configs/` at the top (`python -m tasks.face` from a checkout);
installed, they become `jaxres.tasks` and `jaxres.configs`, so site-packages gets no generic top-level
`tasks` or `configs` package to collide with a user's own (pyproject.toml alone cannot map a folder
into a package that `find` also lists).
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["jaxres", "jaxres.*"]) + ["jaxres.tasks", "jaxres.tasks.synthetic", "jaxres.configs"],
    package_dir={"jaxres.tasks": "tasks", "jaxres.configs": "configs"},
)
