"""Communications: SMS and email to clients, templates, campaigns, the BAA guard and dispatch."""
