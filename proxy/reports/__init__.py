"""`leeway report`: the queries, the privacy folding and the output formats."""
