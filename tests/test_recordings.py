"""record(), recording_url() and download_recording() against the sandbox, on asyncio and trio."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx
import pytest

from laaffic_async import (
    AsyncClient,
    CallRecord,
    DataNotFoundError,
    HttpStatusError,
    RequestValidationError,
    RetryPolicy,
    TransportError,
)
from laaffic_async._recordings import CHUNK_SIZE
from laaffic_async.testing import Faults, Sandbox, SandboxTransport
from laaffic_async.testing._recordings import fake_recording

pytestmark = pytest.mark.anyio

KEY, SECRET, APP = "bDqJFiq9", "7bz1lzh9", "4luaKsL2"
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01)
DOWNLOADS = frozenset({"sandbox/recordings"})


def make_client(sandbox: Sandbox, transport: httpx.AsyncBaseTransport | None = None) -> AsyncClient:
    """The production path to ``sandbox``; a custom ``transport`` is used through httpx."""
    return AsyncClient(
        KEY,
        SECRET,
        app_id=APP,
        base_url="http://sandbox/v3",
        transport=transport or SandboxTransport(sandbox),
        http_backend="pooled" if transport is None else "httpx",
        retry=FAST_RETRY,
    )


async def answered_call(client: AsyncClient) -> CallRecord:
    """A call the sandbox placed and answered, so it has a recording."""
    for i in range(20):
        placed = await client.send_sip(f"9321111111{i:02d}", account=f"a{i}")
        record = await client.record(placed.voice_id)
        if record.recording_file_id:
            return record
    raise AssertionError("no answered call in 20 tries")


def sent(sandbox: Sandbox) -> int:
    return sum(sandbox.state.requests.values())


# -- one record --------------------------------------------------------------------------------


async def test_record_of_a_placed_call(client: AsyncClient, sandbox: Sandbox) -> None:
    placed = await client.send_sip("932111111111", account="a", display_num="1008122211")
    record = await client.record(placed.voice_id)
    row = sandbox.state.records.get(placed.voice_id)
    assert row is not None
    assert (record.voice_id, record.callee, record.display_num) == (
        placed.voice_id,
        "932111111111",
        "1008122211",
    )
    assert record.submit_time == datetime.fromisoformat(row["submitTime"])
    assert record.submit_time.utcoffset() is not None
    assert sandbox.state.requests["voice/recordSip"] == 1


async def test_unknown_record_is_data_not_found(client: AsyncClient) -> None:
    with pytest.raises(DataNotFoundError) as info:
        await client.record("2203031113381000002")
    assert (info.value.status, info.value.endpoint) == (
        "-24",
        "voice/recordSip/2203031113381000002",
    )


@pytest.mark.parametrize("voice_id", ["", "12/34", " 1234"])
async def test_record_id_checked_before_sending(
    client: AsyncClient, sandbox: Sandbox, voice_id: str
) -> None:
    with pytest.raises(RequestValidationError, match="voiceId"):
        await client.record(voice_id)
    assert sent(sandbox) == 0


async def test_record_is_retried_after_a_server_error(sandbox: Sandbox) -> None:
    async with make_client(sandbox) as client:
        placed = await client.send_sip("932111111111", account="a")
        sandbox.faults = Faults(error_rate=1.0, limit=1, endpoints=frozenset({"voice/recordSip"}))
        record = await client.record(placed.voice_id)
    assert record.voice_id == placed.voice_id
    assert sandbox.state.requests["voice/recordSip"] == 2


async def test_record_over_a_real_socket(socket_client: AsyncClient) -> None:
    placed = await socket_client.send_sip("932111111111", account="a")
    assert (await socket_client.record(placed.voice_id)).voice_id == placed.voice_id


# -- recording links ---------------------------------------------------------------------------


async def test_recording_url(client: AsyncClient, sandbox: Sandbox) -> None:
    record = await answered_call(client)
    assert record.recording_file_id is not None
    before = datetime.now(UTC)
    link = await client.recording_url(record.recording_file_id)
    assert link.url.startswith("http://sandbox/sandbox/recordings/")
    assert link.expire_time.utcoffset() == timedelta(0)
    lifetime = timedelta(seconds=sandbox.state.recordings.url_seconds)
    assert before + lifetime - timedelta(minutes=1) < link.expire_time
    assert link.expire_time < before + lifetime + timedelta(minutes=1)
    group = await client.recording_url(record.recording_file_id, source_type="group")
    assert group.url.split("?")[0] == link.url.split("?")[0]


async def test_unknown_recording_is_data_not_found(client: AsyncClient) -> None:
    with pytest.raises(DataNotFoundError) as info:
        await client.recording_url("nope.mp3")
    assert info.value.endpoint == "voice/getRecordingFileUrl"


async def test_source_type_checked_before_sending(client: AsyncClient, sandbox: Sandbox) -> None:
    with pytest.raises(RequestValidationError, match="sourceType"):
        await client.recording_url("x.mp3", source_type="phone")
    assert sent(sandbox) == 0


# -- downloads ---------------------------------------------------------------------------------


async def test_download_into_a_directory(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    record = await answered_call(client)
    file_id = record.recording_file_id
    assert file_id is not None
    written = await client.download_recording(file_id, tmp_path)
    assert written == tmp_path / file_id
    expected = fake_recording(file_id, sandbox.state.recordings.default_size)
    assert written.read_bytes() == expected
    assert os.listdir(tmp_path) == [file_id]  # no temporary file left behind
    assert sandbox.state.recordings.downloads == {file_id: 1}


async def test_a_trailing_slash_means_a_directory_created_if_missing(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.state.recordings.files["r1.mp3"] = b"recording"
    destination = f"{tmp_path / 'recordings' / 'today'}/"
    written = await client.download_recording("r1.mp3", destination)
    assert written == tmp_path / "recordings" / "today" / "r1.mp3"
    assert written.read_bytes() == b"recording"


async def test_a_downloaded_file_gets_normal_permissions(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.state.recordings.files["r1.mp3"] = b"recording"
    previous = os.umask(0o027)
    try:
        written = await client.download_recording("r1.mp3", tmp_path)
    finally:
        os.umask(previous)
    assert written.stat().st_mode & 0o777 == 0o640
    written = await client.download_recording("r1.mp3", tmp_path / "again.mp3")
    assert written.stat().st_mode & 0o777 == 0o666 & ~previous


async def test_download_replaces_a_file_whole(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.state.recordings.files["r1.mp3"] = b"new recording " * 1000
    target = tmp_path / "call.mp3"
    target.write_bytes(b"old")
    assert await client.download_recording("r1.mp3", target) == target
    assert target.read_bytes() == b"new recording " * 1000
    assert sorted(os.listdir(tmp_path)) == ["call.mp3"]


async def test_download_over_a_real_socket(
    socket_client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    sandbox.state.recordings.files["big.mp3"] = data
    written = await socket_client.download_recording("big.mp3", tmp_path / "big.mp3")
    assert written.read_bytes() == data


async def test_expired_link_is_http_500_and_leaves_nothing(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.state.recordings.files["r1.mp3"] = b"x" * 100_000
    sandbox.state.recordings.url_seconds = -60  # every link is born expired
    target = tmp_path / "call.mp3"
    target.write_bytes(b"old")
    with pytest.raises(HttpStatusError) as info:
        await client.download_recording("r1.mp3", target)
    assert info.value.status_code == 500
    assert info.value.body == "link expired"
    assert "sign=" not in str(info.value)  # the link's signature never reaches messages
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["call.mp3"]
    assert sandbox.state.requests["sandbox/recordings"] == 1  # a 500 answer is not retried


async def test_server_error_on_download_is_not_retried(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.state.recordings.files["r1.mp3"] = b"x" * 1000
    sandbox.faults = Faults(error_rate=1.0, endpoints=DOWNLOADS)
    with pytest.raises(HttpStatusError, match="HTTP 500"):
        await client.download_recording("r1.mp3", tmp_path)
    assert os.listdir(tmp_path) == []
    assert sandbox.state.requests["sandbox/recordings"] == 1


async def test_dropped_download_starts_again(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.state.recordings.files["r1.mp3"] = b"y" * 200_000
    sandbox.faults = Faults(drop_rate=1.0, limit=1, endpoints=DOWNLOADS)
    async with make_client(sandbox) as client:
        written = await client.download_recording("r1.mp3", tmp_path)
    assert written.read_bytes() == b"y" * 200_000
    assert sandbox.state.requests["sandbox/recordings"] == 2
    assert os.listdir(tmp_path) == ["r1.mp3"]


async def test_download_that_keeps_dropping_gives_up_cleanly(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.state.recordings.files["r1.mp3"] = b"y" * 1000
    sandbox.faults = Faults(drop_rate=1.0, endpoints=DOWNLOADS)
    async with make_client(sandbox) as client:
        with pytest.raises(TransportError, match="recording download"):
            await client.download_recording("r1.mp3", tmp_path)
    assert os.listdir(tmp_path) == []
    assert sandbox.state.requests["sandbox/recordings"] == FAST_RETRY.attempts


async def test_bad_destination_refused_before_any_request(
    client: AsyncClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        await client.download_recording("r1.mp3", tmp_path / "missing" / "r1.mp3")
    with pytest.raises(RequestValidationError, match="recordingFileId"):
        await client.download_recording("..", tmp_path)
    assert sent(sandbox) == 0


class SlowStream(httpx.AsyncByteStream):
    """A large recording produced piece by piece, watching the temporary file grow."""

    def __init__(self, pieces: int, piece: bytes, watch: Callable[[int], None]) -> None:
        self.pieces, self.piece, self.watch = pieces, piece, watch

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index in range(self.pieces):
            self.watch(index)
            yield self.piece
            await anyio.lowlevel.checkpoint()


class StreamingTransport(SandboxTransport):
    """The sandbox, except that downloads come from ``stream`` (and their headers are kept)."""

    def __init__(self, sandbox: Sandbox, stream: Callable[[], httpx.AsyncByteStream]) -> None:
        super().__init__(sandbox)
        self.stream = stream
        self.download_headers: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/sandbox/recordings/"):
            self.download_headers.append(request.headers)
            return httpx.Response(200, stream=self.stream())
        return await super().handle_async_request(request)


def part_size(directory: Path) -> int:
    parts = [p for p in directory.iterdir() if p.name.endswith(".part")]
    return sum(p.stat().st_size for p in parts)


async def test_download_streams_to_disk_in_chunks(sandbox: Sandbox, tmp_path: Path) -> None:
    piece = os.urandom(256 * 1024)
    pieces = 96  # 24 MiB
    on_disk: list[int] = []
    transport = StreamingTransport(
        sandbox, lambda: SlowStream(pieces, piece, lambda _: on_disk.append(part_size(tmp_path)))
    )
    sandbox.state.recordings.files["big.mp3"] = b"-"
    async with make_client(sandbox, transport) as client:
        tracemalloc.start()
        try:
            written = await client.download_recording("big.mp3", tmp_path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert written.stat().st_size == pieces * len(piece)
    with written.open("rb") as handle:
        assert handle.read(len(piece)) == piece
    # When piece k is produced, the k pieces before it are already on disk.
    for index, size in enumerate(on_disk):
        assert size >= index * len(piece) - CHUNK_SIZE, (index, size)
    assert peak < 4 * 1024 * 1024, peak  # a fraction of the 24 MiB recording
    # The link is pre-signed: no API credentials travel to the host serving it.
    headers = transport.download_headers[0]
    assert "api-key" not in headers
    assert "sign" not in headers


async def test_cancelled_download_leaves_no_file(sandbox: Sandbox, tmp_path: Path) -> None:
    started = anyio.Event()

    class Stalls(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"z" * (2 * CHUNK_SIZE)
            started.set()
            await anyio.sleep_forever()
            yield b""  # pragma: no cover

    sandbox.state.recordings.files["r1.mp3"] = b"-"
    parts_seen: list[int] = []
    async with (
        make_client(sandbox, StreamingTransport(sandbox, Stalls)) as client,
        anyio.create_task_group() as group,
    ):

        async def download() -> None:
            await client.download_recording("r1.mp3", tmp_path)

        group.start_soon(download)
        await started.wait()
        parts_seen.append(part_size(tmp_path))
        group.cancel_scope.cancel()
    assert parts_seen == [2 * CHUNK_SIZE]  # the partial file existed while downloading ...
    assert os.listdir(tmp_path) == []  # ... and is gone after the cancellation
