"""Device WebSockets (/ws/v1/device): content-free pokes and alerts. Data only travels through pull."""
