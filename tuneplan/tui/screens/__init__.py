"""One module per screen (Plan, Options, Rent vs buy, Runs, Report, Help) and per modal dialog."""
