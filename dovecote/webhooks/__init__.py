"""Inbound provider callbacks: delivery status reports and inbound STOPs."""
