"""`python -m jaxres <task> ...`: the `jaxres` console command without its script."""

from jaxres.console import main

raise SystemExit(main())
