"""Provider sandbox: local imitations of Twilio (and later SendGrid, Google, Microsoft)."""
