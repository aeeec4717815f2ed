"""rom-portal: a self-hosted questionnaire and ROM portal for Dutch mental-health practices."""

__version__ = "0.1.0"
