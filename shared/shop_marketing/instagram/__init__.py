"""Instagram comments in: Meta's webhook, the Graph API, and the judge queue they feed."""
