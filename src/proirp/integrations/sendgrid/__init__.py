"""SendGrid: the email adapter, its error mapping, and Event Webhook verification."""
