"""hookd's log handler writes the lines a loop iteration logs together, once the iteration
is over, and every line in the order it was logged, whatever the thread or loop."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

from hookd.deliverylog import TickHandler


class CountingStream(io.StringIO):
    """A stream that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def logger_to(stream: CountingStream, name: str) -> logging.Logger:
    handler = TickHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def test_one_iterations_lines_are_one_write_after_it() -> None:
    stream = CountingStream()
    log = logger_to(stream, "test.tick.batch")

    async def main() -> None:
        for number in range(50):
            log.info("delivery %d", number)
        assert stream.getvalue() == ""  # held until the loop's next iteration
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert stream.getvalue() == "".join(f"delivery {n}\n" for n in range(50))
        assert stream.writes == 1

    asyncio.run(main())


def test_lines_outside_a_loop_come_after_the_held_ones() -> None:
    stream = CountingStream()
    log = logger_to(stream, "test.tick.order")

    async def main() -> None:
        log.info("first, on the loop")
        other = threading.Thread(target=log.info, args=("second, on a thread",))
        other.start()
        other.join()
        assert stream.getvalue() == "first, on the loop\nsecond, on a thread\n"

    asyncio.run(main())
    log.info("third, no loop")
    assert stream.getvalue().splitlines() == [
        "first, on the loop",
        "second, on a thread",
        "third, no loop",
    ]


def test_a_line_logged_as_its_loop_stops_is_written_and_so_are_the_next_loops() -> None:
    stream = CountingStream()
    log = logger_to(stream, "test.tick.stopped")
    first = asyncio.new_event_loop()
    first.run_until_complete(asyncio.sleep(0))

    async def log_and_stop() -> None:
        log.info("logged as the loop stops")
        first.stop()

    stopping = first.create_task(log_and_stop())
    first.run_forever()
    assert stopping.done()
    first.close()

    async def later() -> None:
        log.info("logged on another loop")
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(later())
    assert stream.getvalue().splitlines() == ["logged as the loop stops", "logged on another loop"]


def test_flush_writes_what_is_held() -> None:
    stream = CountingStream()
    log = logger_to(stream, "test.tick.flush")

    async def main() -> None:
        log.info("held")
        log.handlers[0].flush()
        assert stream.getvalue() == "held\n"

    asyncio.run(main())
