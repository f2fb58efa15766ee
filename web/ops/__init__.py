"""Operations in the app: /metrics, /healthz, /readyz and the webhooks' wiring."""
