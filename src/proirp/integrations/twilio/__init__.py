"""Twilio: the SMS adapter (official SDK), its error reasons, and webhook signatures."""
