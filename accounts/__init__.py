"""User accounts: people who sign in, their roles and site, sign-in sessions, the events log."""
