"""The command line every task shares; the command words live here, free of numpy and JAX, because the
process start policy needs the command before either starts."""

COMMANDS = ("train", "eval", "predict", "export", "cache", "config")


def command_of(argv: list[str]) -> str | None:
    """The command these arguments run: the first word when it is one, else `train`; None for --help."""
    if argv and argv[0] in ("-h", "--help", "--version"):
        return None
    return argv[0] if argv and argv[0] in COMMANDS else "train"
