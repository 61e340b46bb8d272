"""Provider sandbox: local imitations of Twilio and SendGrid (and later Google, Microsoft)."""
