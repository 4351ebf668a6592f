"""The DLR sender: turns accepted destinations into delivery reports after a delay,
POSTs them in batches to each message's notifyUrl (2018 or newer format, JSON or
XML, Basic auth) and queues them once for GET /sms/1/reports.

Scheduling is per request chunk (one heap entry per request, not per destination);
a background task wakes every `tick_ms` and sends what is due.  Shares of delayed,
duplicated and reordered reports and intermediate PENDING reports come from the
seeded generator; an intermediate PENDING report goes only to a message that asked for it
(`intermediateReport: true`, as the 2018 document says), halfway to its final one.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import defaultdict
from itertools import accumulate

import aiohttp
import orjson

from sandbox.reports import Record, Report, body_2018, body_new
from sandbox.settings import SandboxSettings
from sandbox.state import SandboxState

# heap entry: (due monotonic, seq, final?, sent wall time, records)
Entry = tuple[float, int, bool, float, list[Record]]
GroupKey = tuple[str, str, str]  # url, content type, bulkId ("" for the 2018 format)


class DlrDispatcher:
    def __init__(self, settings: SandboxSettings, state: SandboxState) -> None:
        self.settings, self.state = settings, state
        self._heap: list[Entry] = []
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._sem = asyncio.Semaphore(max(1, settings.dlr.concurrency))
        self.configure()

    def configure(self) -> None:
        """Re-read the outcome mix (after a runtime settings change)."""
        mix = self.settings.dlr.outcomes
        self._names = list(mix)
        self._cumulative = list(accumulate(mix[n] for n in self._names))

    def outcome_table(self) -> tuple[list[str], list[float], float]:
        """Names, cumulative weights and total, for picking outcomes in the hot loop."""
        return self._names, self._cumulative[:-1], self._cumulative[-1]

    def clear(self) -> None:
        self._heap.clear()

    # -- scheduling ---------------------------------------------------------------------

    def schedule(self, records: list[Record], now: float, wall: float) -> None:
        d = self.settings.dlr
        if not d.enabled:
            return
        if not d.pull_reports:  # only what is POSTed or waits for its final log entry
            logs = self.state.logs
            records = [r for r in records if r[0].notify_url or logs.get(r[1]) is r]
        if not records:
            return
        rng = self.state.rng_dlr
        due = now + (d.delay_ms + (rng.uniform(0, d.jitter_ms) if d.jitter_ms > 0 else 0)) / 1000
        self._intermediates(records, now, wall, due)
        if d.delayed_share > 0:
            late = [r for r in records if rng.random() < d.delayed_share]
            if late:
                ids = {id(r) for r in late}
                records = [r for r in records if id(r) not in ids]
                self._push(due + d.delayed_extra_ms / 1000, True, wall, late)
                self.state.dlr["delayed"] += len(late)
        self._push(due, True, wall, records)

    def _intermediates(self, records: list[Record], now: float, wall: float, due: float) -> None:
        """A PENDING report halfway for each message that asked for one (opt-in per message:
        never to one that did not ask)."""
        first = [r for r in records if r[0].notify_url and r[0].intermediate]
        if first:
            self._push(now + (due - now) / 2, False, wall, first)

    def _push(self, due: float, final: bool, wall: float, records: list[Record]) -> None:
        if records:
            heapq.heappush(self._heap, (due, next(self._seq), final, wall, records))

    # -- running ------------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.dlr.tick_ms / 1000)
            self.release(time.monotonic())

    async def flush(self) -> None:
        """Send everything scheduled now, and wait for the POSTs (tests)."""
        self.release(float("inf"))
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    def release(self, now: float) -> None:
        """Turn every due entry into reports and start their POSTs.  A final report is
        queued once for GET /sms/1/reports (a messageId accepted again queues its further
        reports behind the first) and replaces its acceptance in the message logs, unless
        the messageId was accepted again since: the log shows the latest acceptance."""
        groups: dict[GroupKey, list[Report]] = defaultdict(list)
        done = time.time()
        d, state, heap = self.settings.dlr, self.state, self._heap
        pull, pull_max, logs_max = d.pull_reports, d.pull_max, d.logs_max
        by_bulk = d.format == "new"
        queue, logs = state.reports, state.logs
        while heap and heap[0][0] <= now:
            _, _, final, wall, records = heapq.heappop(heap)
            for record in records:
                report = Report.of(record, wall, done, final)
                if final:
                    mid = record[1]
                    if pull:
                        if mid in queue:
                            state.queue_again(report, pull_max)
                        elif len(queue) < pull_max:
                            queue[mid] = report
                    entry = logs.get(mid)
                    if entry is record or (entry is None and len(logs) < logs_max):
                        logs[mid] = report
                message = record[0]
                if message.notify_url:
                    bulk = message.bulk_id if by_bulk else ""
                    groups[(message.notify_url, message.content_type, bulk)].append(report)
        for key, reports in groups.items():
            self._post_group(key, reports)

    def _post_group(self, key: GroupKey, reports: list[Report]) -> None:
        d, rng = self.settings.dlr, self.state.rng_dlr
        if d.reorder_share > 0:
            for i in range(len(reports)):
                if rng.random() < d.reorder_share:
                    j = rng.randrange(len(reports))
                    reports[i], reports[j] = reports[j], reports[i]
                    self.state.dlr["reordered"] += 1
        if d.duplicate_share > 0:
            again = [r for r in reports if rng.random() < d.duplicate_share]
            reports = reports + again  # the copies travel in a later POST of the batch
            self.state.dlr["duplicates"] += len(again)
        for i in range(0, len(reports), max(1, d.batch_size)):
            task = asyncio.create_task(self._post(key, reports[i : i + d.batch_size]))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _post(self, key: GroupKey, reports: list[Report]) -> None:
        url, ctype, bulk = key
        xml = ctype == "application/xml"
        if self.settings.dlr.format == "new":
            body = body_new(bulk, reports, xml)
        else:
            body = body_2018(reports, xml)
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        async with self._sem:
            ok = await self._send(url, data, ctype)
        self.state.dlr["posts" if ok else "failedPosts"] += 1
        self.state.dlr["reports" if ok else "failedReports"] += len(reports)

    async def _send(self, url: str, data: bytes, ctype: str) -> bool:
        assert self._session is not None
        d = self.settings.dlr
        headers = {"Content-Type": ctype}
        if d.auth:
            user = d.username if d.username is not None else self.settings.username
            password = d.password if d.password is not None else self.settings.password
            headers["Authorization"] = aiohttp.encode_basic_auth(user, password)
        for attempt in range(d.retries + 1):
            if attempt:
                self.state.dlr["retries"] += 1
                await asyncio.sleep(0.1 * attempt)
            try:
                async with self._session.post(url, data=data, headers=headers) as resp:
                    if resp.status < 300:
                        return True
            except (aiohttp.ClientError, TimeoutError):
                pass
        return False
