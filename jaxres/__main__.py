"""`python -m jaxres <task> ...`: the `jaxres` console command without its script."""

from jaxres.cli.console import main

raise SystemExit(main())
