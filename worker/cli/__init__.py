"""The `confrec` command: parsing, printing, exit codes; one module per group of commands."""
