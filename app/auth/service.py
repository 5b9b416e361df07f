from app.core.config import Settings


async def ensure_bootstrap_admin(*, settings: Settings) -> None:
    return None
