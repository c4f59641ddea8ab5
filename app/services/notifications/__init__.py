"""Notifications to agencies and the webhooks that deliver them."""
