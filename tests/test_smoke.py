import httpx


async def test_health(client: httpx.AsyncClient, world) -> None:
    response = await client.get("http://test/health")
    assert response.status_code == 200
    ready = await client.get("http://test/ready")
    assert ready.status_code == 200
