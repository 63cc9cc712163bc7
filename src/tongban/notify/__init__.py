"""Notifications: people are told when something needs them (tongban.notify.service)."""
