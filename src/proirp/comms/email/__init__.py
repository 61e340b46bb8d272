"""Email through SendGrid: sending, batched dispatch, the Event Webhook, the suppression list and
one-click unsubscribe."""
