"""Provider sandbox: local imitations of Twilio, SendGrid and Google (and later Microsoft)."""
