"""smspay: SMS payment links."""
