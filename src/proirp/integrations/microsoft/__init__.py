"""Microsoft Outlook calendars: msal for sign-in, Microsoft Graph for events."""
