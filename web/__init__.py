"""The composition root: app factory, REST routes, static pages and the CLI."""
