"""The money domain, free of I/O: states, transitions and the rules that decide them."""
