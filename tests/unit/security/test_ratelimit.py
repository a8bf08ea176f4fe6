import asyncio

from gateway.security.ratelimit import MemoryBuckets


async def test_bucket_allows_a_burst_then_limits_and_refills() -> None:
    buckets = MemoryBuckets(per_minute=600, burst=3)  # 10 tokens/s
    assert [await buckets.hit("k") for _ in range(3)] == [None, None, None]
    wait = await buckets.hit("k")
    assert wait is not None and 0 < wait <= 0.1
    await asyncio.sleep(wait + 0.01)
    assert await buckets.hit("k") is None
    assert await buckets.hit("other") is None  # keys are independent


async def test_bucket_memory_is_bounded() -> None:
    buckets = MemoryBuckets(per_minute=60, burst=1, max_keys=10)
    for i in range(100):
        await buckets.hit(f"k{i}")
    assert len(buckets._buckets) == 10
