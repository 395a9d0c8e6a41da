"""The command line every task shares: parsing, dispatch, help text and the commands."""
