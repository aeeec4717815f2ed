"""Research exports: aggregates of the scores of clients who consented to research, small cells suppressed.

- ``request``: what a researcher asks for (questionnaires, occasions, strata), checked once for web and CLI.
- ``series``: one streaming pass over the scores of consenting clients, one series per client and respondent.
- ``statistics``: n, mean, sd, median and quartiles from a histogram of scores (pure).
- ``suppression``: primary and secondary small-cell suppression of a table with margins (pure).
- ``export``: puts these together into the published figures, and records every preview and download.
- ``files``: the figures as CSV (in a zip with the codebook) and as JSON.
"""
