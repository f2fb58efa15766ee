"""Operations: signed webhooks to other systems and their delivery log."""
