"""HTTP routes of the reception book, the watch list and the reports."""
