"""Research exports: aggregates of the scores of clients who consented to research, small cells suppressed.

- ``request``: what a researcher asks for (questionnaires, occasions, strata), checked once for web and CLI.
- ``counts``: one query per questionnaire in which the database counts clients per occasion, stratum and score.
- ``statistics``: n, mean, sd, median and quartiles from a histogram of scores (pure).
- ``suppression``: primary and secondary small-cell suppression of a table with margins (pure).
- ``export``: puts these together into the published figures, and records every preview and download.
- ``files``: the figures as CSV (in a zip with the codebook) and as JSON.
"""
