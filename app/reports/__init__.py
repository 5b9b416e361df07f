"""Figures and lists that span domains: /stats, the admin's email lists."""
