"""`python -m bench [--quick]`: run every benchmark, print the table, write the plot."""

from bench.run import main

main()
